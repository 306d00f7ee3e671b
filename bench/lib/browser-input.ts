/**
 * Where the browser bench reads, from the packed archive's own index: 4 KiB offsets each in a
 * different stored block (so no reader can serve one read from what it fetched for another),
 * and the window of the disk stream with the most non-zero data for the sequential read.
 */
import { EntryKind } from '../../src/format/constants.js';
import { Archive } from '../../src/node/archive.js';

const MiB = 1 << 20;
const READ = 4096;

/** A DATA extent of the disk stream and where its stored (compressed) bytes are in the archive. */
export interface DataBlock { offset: number; length: number; storedOffset: number; storedLength: number }

/** The DATA extents of the disk stream (each a stored block of its own) and its non-zero bytes per MiB. */
export interface DiskLayout {
  size: number;
  /** In stream order. */
  blocks: DataBlock[];
  /** Non-zero (DATA or DEDUP) bytes in each MiB of the stream. */
  dataPerMiB: Float64Array;
}

export async function readLayout(archive: string): Promise<DiskLayout> {
  const a = await Archive.open(archive);
  try {
    const size = a.size('disk');
    const blocks: DiskLayout['blocks'] = [];
    const dataPerMiB = new Float64Array(Math.ceil(size / MiB));
    for await (const e of a.entries('disk')) {
      if (e.kind === EntryKind.DATA && e.length >= READ) blocks.push({ offset: e.offset, length: e.length, storedOffset: e.storedOffset, storedLength: e.storedLength });
      if (e.kind === EntryKind.ZERO) continue;
      for (let at = e.offset; at < e.offset + e.length;) {
        const m = Math.floor(at / MiB);
        const upto = Math.min(e.offset + e.length, (m + 1) * MiB);
        dataPerMiB[m] += upto - at;
        at = upto;
      }
    }
    blocks.sort((x, y) => x.offset - y.offset);
    return { size, blocks, dataPerMiB };
  } finally {
    await a.close();
  }
}

/**
 * A picker of 4 KiB-aligned offsets, each inside a DATA block not picked before (xorshift32, as
 * bench/remote.ts picks them; fixed seed, so runs repeat).
 * @throws Error when every block was used.
 */
export function blockPicker(layout: DiskLayout, seed = 7): () => number {
  let x = seed;
  const used = new Set<number>();
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  return () => {
    if (used.size >= layout.blocks.length) throw new Error(`all ${layout.blocks.length} data blocks were read already`);
    for (;;) {
      const i = next() % layout.blocks.length;
      if (used.has(i)) continue;
      used.add(i);
      const b = layout.blocks[i];
      return b.offset + (next() % Math.floor(b.length / READ)) * READ;
    }
  };
}

/** The DATA block holding stream byte `offset` (one of {@link blockPicker}'s picks). @throws Error when none does. */
export function blockAt(layout: DiskLayout, offset: number): DataBlock {
  let lo = 0;
  let hi = layout.blocks.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = layout.blocks[mid];
    if (offset < b.offset) hi = mid - 1;
    else if (offset >= b.offset + b.length) lo = mid + 1;
    else return b;
  }
  throw new Error(`no DATA block holds offset ${offset}`);
}

/** The MiB-aligned window of `length` bytes with the most non-zero data (the earliest of equals), and that share. */
export function densestWindow(layout: DiskLayout, length: number): { start: number; dataShare: number } {
  const w = Math.min(Math.ceil(length / MiB), layout.dataPerMiB.length);
  let sum = 0;
  for (let i = 0; i < w; i++) sum += layout.dataPerMiB[i];
  let best = { at: 0, sum };
  for (let i = w; i < layout.dataPerMiB.length; i++) {
    sum += layout.dataPerMiB[i] - layout.dataPerMiB[i - w];
    if (sum > best.sum) best = { at: i - w + 1, sum };
  }
  const start = Math.min(best.at * MiB, Math.max(0, layout.size - length));
  return { start, dataShare: best.sum / length };
}

/** The archive bytes holding the DATA blocks of stream bytes [start, start + length): [first, end). */
export function storedSpan(layout: DiskLayout, start: number, length: number): { from: number; to: number } {
  let from = Infinity;
  let to = 0;
  for (const b of layout.blocks) {
    if (b.offset + b.length <= start || b.offset >= start + length) continue;
    from = Math.min(from, b.storedOffset);
    to = Math.max(to, b.storedOffset + b.storedLength);
  }
  return from < to ? { from, to } : { from: 0, to: 0 };
}
