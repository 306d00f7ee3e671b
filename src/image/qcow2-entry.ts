/**
 * Pure decoding of qcow2 L1 and L2 table entries (qemu docs/interop/qcow2.txt, "Cluster
 * mapping"). Entries are big-endian u64; they are read as two u32 halves so no BigInt is needed
 * on the hot path.
 */

/** What an L2 entry says about one guest cluster. Host offsets and sizes in bytes. */
export type L2Mapping =
  /** Not allocated here: read the backing file, or zeros without one. */
  | { kind: 'unallocated' }
  /** Reads as zeros (v3 zero flag, allocated or not). */
  | { kind: 'zero' }
  /** Stored uncompressed at `hostOffset`, one whole cluster. */
  | { kind: 'data'; hostOffset: number }
  /** Compressed; at most `maxLength` bytes from `hostOffset` hold the stream and its padding. */
  | { kind: 'compressed'; hostOffset: number; maxLength: number };

const TWO32 = 2 ** 32;
/** Bits 9-55 of an L1/standard L2 entry: the host offset (cluster aligned). */
const OFFSET_HI_MASK = 0x00ffffff;
const OFFSET_LO_MASK = 0xfffffe00;

/**
 * Decodes an L1 entry: the L2 table's host offset, or 0 when unallocated.
 * Returns -1 when reserved bits (1-8, 56-62) are set.
 */
export function decodeL1Entry(hi: number, lo: number): number {
  if ((hi & 0x7f000000) !== 0 || (lo & 0x1ff) !== 0) return -1;
  return (hi & OFFSET_HI_MASK) * TWO32 + ((lo & OFFSET_LO_MASK) >>> 0);
}

/**
 * Decodes an L2 entry for an image with `clusterBits`.
 * Returns null when reserved bits are set (a corrupt entry).
 */
export function decodeL2Entry(hi: number, lo: number, clusterBits: number): L2Mapping | null {
  if (hi & 0x40000000) {
    // Compressed (spec: "Compressed Clusters Descriptor"): x = 62 - (cluster_bits - 8);
    // bits 0..x-1 host offset, bits x..61 additional 512-byte sectors.
    const x = 62 - (clusterBits - 8);
    const hiOffsetBits = x - 32; // 17..29 for cluster_bits 21..9
    const hostOffset = (hi & ((1 << hiOffsetBits) - 1)) * TWO32 + (lo >>> 0);
    const sectors = ((hi & 0x3fffffff) >>> hiOffsetBits) + 1;
    // The payload runs from hostOffset to the end of its last 512-byte sector.
    const maxLength = sectors * 512 - (hostOffset % 512);
    return { kind: 'compressed', hostOffset, maxLength };
  }
  if ((hi & 0x3f000000) !== 0 || (lo & 0x1fe) !== 0) return null; // reserved bits 1-8, 56-61
  const hostOffset = (hi & OFFSET_HI_MASK) * TWO32 + ((lo & OFFSET_LO_MASK) >>> 0);
  if (lo & 1) return { kind: 'zero' };
  return hostOffset === 0 ? { kind: 'unallocated' } : { kind: 'data', hostOffset };
}
