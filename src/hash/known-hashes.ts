/**
 * A read-only set of 32-byte content hashes in a SharedArrayBuffer, built once on the main
 * thread and handed to every pack worker: a worker that finds a block's hash in it skips
 * compressing the block, because the main thread will store it as a reference (a thin pack's
 * blocks that are already in the parent chain, which are most of them). It lives in hash/, below
 * both pack/ (which builds it) and workers/ (which reads it), so imports point down only.
 */
export class KnownHashes {
  private readonly hashes: Uint8Array;
  private readonly used: Uint8Array;
  private readonly mask: number;

  /** Wraps a buffer made by {@link KnownHashes.build} (in a worker, from workerData). */
  constructor(readonly buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength / 33;
    this.hashes = new Uint8Array(buffer, 0, capacity * 32);
    this.used = new Uint8Array(buffer, capacity * 32, capacity);
    this.mask = capacity - 1;
  }

  /** A set holding `hashes` (each 32 bytes); open addressing at most half full. */
  static build(hashes: Iterable<Uint8Array>, count: number): KnownHashes {
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    const set = new KnownHashes(new SharedArrayBuffer(capacity * 33));
    for (const h of hashes) set.insert(h);
    return set;
  }

  /** True when `hash` is in the set. */
  has(hash: Uint8Array): boolean {
    for (let s = slotOf(hash) & this.mask; this.used[s]; s = (s + 1) & this.mask) {
      if (this.equalAt(s, hash)) return true;
    }
    return false;
  }

  private insert(hash: Uint8Array): void {
    let s = slotOf(hash) & this.mask;
    for (; this.used[s]; s = (s + 1) & this.mask) if (this.equalAt(s, hash)) return;
    this.hashes.set(hash.subarray(0, 32), s * 32);
    this.used[s] = 1;
  }

  private equalAt(s: number, hash: Uint8Array): boolean {
    const base = s * 32;
    for (let k = 0; k < 32; k++) if (this.hashes[base + k] !== hash[k]) return false;
    return true;
  }
}

/** Hashes are uniformly random, so their first 4 bytes make a good slot index. */
function slotOf(hash: Uint8Array): number {
  return (hash[0] | (hash[1] << 8) | (hash[2] << 16) | (hash[3] << 24)) >>> 0;
}
