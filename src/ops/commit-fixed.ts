/**
 * Re-cutting the windows of a commit of a fixed-block base (commit-plan.ts) on the worker pool.
 * With fixed blocks a window's cuts are known without its bytes: every multiple of the block
 * size from stream offset 0, which is where the base's blocks are too. So the main thread only
 * reads what a window is made of — the stored bytes of its base blocks that the writes do not
 * cover wholly, and the overlay's written pages — and a worker decodes and checks the base
 * blocks, lays the pages over them, and hashes and compresses the blocks; the window's bytes
 * never cross between threads. Several windows, and the clean items between them, go in one
 * task (one message each way).
 */
import type { RunBlock } from '../archive/decode-run.js';
import { RunBlockError } from '../archive/decode-run.js';
import type { BlockStore } from '../archive/run-decoder.js';
import type { StreamExtent } from '../archive/stream-view.js';
import { EntryKind, type StreamName } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { CorruptArchiveError, MissingParentError } from '../errors.js';
import type { Overlay } from '../overlay/overlay.js';
import type { BatchInput, CleanItem, CommitOutput } from './commit-output.js';
import type { WindowItem } from './commit-plan.js';
import { overlapping } from './commit-source.js';

/** Logical bytes of windows gathered into one worker task (about 16 blocks of 64 KiB). */
const BATCH_BYTES = 1 << 20;

/** A window gathered for the next task. */
interface Gathered {
  window: WindowItem;
  /** Where its bytes start in the task's layout. */
  at: number;
}

/** What {@link FixedRecut} reads from and writes to. */
export interface FixedRecutOptions {
  overlay: Overlay;
  stream: StreamName;
  /** The base's block stores by slot (Archive.blockStores()). */
  stores: (BlockStore | undefined)[];
  out: CommitOutput;
  blockSize: number;
  /** The overlay's written ranges of the stream, in order (a snapshot: Overlay.writtenExtents). */
  written: readonly StreamExtent[];
  signal?: AbortSignal;
}

/** Most clean items between the windows of one task (they cost nothing there but a place in order). */
const BATCH_CLEAN = 256;

/**
 * Gathers windows of a fixed-block commit into worker tasks, queued on the output in order,
 * with the clean items of the plan between them (so windows a few clean blocks apart still
 * share a task: one message each way for many small windows).
 */
export class FixedRecut {
  private gathered: Gathered[] = [];
  /** The gathered windows (by index into `gathered`) and the clean items between them, in order. */
  private layout: (number | CleanItem)[] = [];
  private cleanItems = 0;
  private bytes = 0;
  private blocks = 0;

  constructor(private readonly o: FixedRecutOptions) {}

  /** Adds a window; sends the gathered ones when they make a task. */
  async add(window: WindowItem): Promise<void> {
    this.layout.push(this.gathered.length);
    this.gathered.push({ window, at: this.bytes });
    this.bytes += window.end - window.offset;
    this.blocks += Math.ceil(window.end / this.o.blockSize) - Math.floor(window.offset / this.o.blockSize);
    if (this.bytes >= BATCH_BYTES) await this.flush();
  }

  /**
   * Adds clean items of the plan: straight to the output when no window is gathered, else in
   * their place after the gathered windows.
   */
  async clean(item: CleanItem): Promise<void> {
    if (!this.gathered.length) {
      await ('zero' in item ? this.o.out.zero(item.zero, true) : this.o.out.refs(item.refs));
      return;
    }
    this.layout.push(item);
    if (++this.cleanItems >= BATCH_CLEAN) await this.flush();
  }

  /** Queues the gathered windows (and clean items after them) as one task; their inputs are read meanwhile. */
  async flush(): Promise<void> {
    if (!this.gathered.length) return;
    const gathered = this.gathered;
    const length = this.bytes;
    const blocks = this.blocks;
    const layout = this.layout;
    this.gathered = [];
    this.layout = [];
    this.cleanItems = 0;
    this.bytes = 0;
    this.blocks = 0;
    const input = this.read(gathered, length).then(({ windowBlocks, ...batch }): BatchInput => ({
      ...batch, layout: layout.map((x) => (typeof x === 'number' ? windowBlocks[x] : x)),
    }));
    input.catch(() => {}); // surfaced when drained, in order
    await this.o.out.batch(input, blocks);
  }

  /** Reads the stored base blocks and written pages of `gathered` and describes the task. */
  private async read(gathered: Gathered[], length: number): Promise<BatchInput & { windowBlocks: number[] }> {
    const { overlay, stream, stores, blockSize, written, signal } = this.o;
    const stored: IndexEntry[] = [];
    const places: number[] = [];
    const pages: { to: number; from: number; length: number; zero: boolean }[] = [];
    const lengths: number[] = [];
    /** Blocks of each window, in order. */
    const windowBlocks: number[] = [];
    for (const { window: w, at } of gathered) {
      for (const e of w.entries) {
        if (e.kind === EntryKind.ZERO) continue;
        // Fixed windows hold their data blocks whole (commit-plan.ts widens them so).
        if (e.offset < w.offset || e.offset + e.length > w.end) throw new Error(`internal: commit window ${w.offset}..${w.end} splits the base block at ${e.offset}`);
        // A block the writes cover wholly is not read: none of its bytes survive.
        if (covers(written, e.offset, e.offset + e.length)) continue;
        stored.push(e);
        places.push(at + e.offset - w.offset);
      }
      for (const x of overlapping(written, w.offset, w.end)) {
        const from = Math.max(w.offset, x.offset);
        pages.push({ to: at + from - w.offset, from, length: Math.min(w.end, x.offset + x.length) - from, zero: x.zero });
      }
      const before = lengths.length;
      for (let p = w.offset; p < w.end;) {
        const next = Math.min(w.end, (Math.floor(p / blockSize) + 1) * blockSize);
        lengths.push(next - p);
        p = next;
      }
      windowBlocks.push(lengths.length - before);
    }
    // The written pages straight into the task's patch buffer, one after the other.
    const patchBytes = new Uint8Array(pages.reduce((n, p) => n + (p.zero ? 0 : p.length), 0));
    const patches = new Float64Array(pages.length * 3);
    const reads: Promise<void>[] = [];
    let at = 0;
    pages.forEach((p, i) => {
      if (p.zero) patches.set([p.to, p.length, -1], i * 3);
      else {
        reads.push(overlay.readInto(stream, p.from, patchBytes.subarray(at, at + p.length), { signal }));
        patches.set([p.to, p.length, at], i * 3);
        at += p.length;
      }
    });
    const [storedBytes] = await Promise.all([readStored(stored, stores, stream, signal), Promise.all(reads)]);
    const blocks: RunBlock[] = stored.map((e, i) => ({
      slot: e.slot, at: storedBytes.at[i], storedLength: e.storedLength, storedOffset: e.storedOffset, encoding: e.encoding, length: e.blockLength, hash: e.hash,
      skip: e.skip, take: e.length, to: places[i],
    }));
    const located = (err: unknown) => {
      if (!(err instanceof RunBlockError)) return err;
      const e = stored[err.block];
      if (!e) return err;
      const what = err.kind === 'hash' ? 'content hash mismatch' : err.kind === 'auth' ? 'block fails authentication (AES-GCM tag mismatch: altered, moved or from another archive)' : `block does not decode: ${err.message}`;
      return corrupt(what, e, stores[e.slot]?.name, stream, err);
    };
    return { request: { stored: storedBytes.bytes, blocks, length }, patches, patchBytes, lengths: Uint32Array.from(lengths), located, windowBlocks };
  }
}

/** True when the extents of `sorted` (in order, disjoint) cover every byte of [from, to). */
export function covers(sorted: readonly StreamExtent[], from: number, to: number): boolean {
  let at = from;
  for (const x of overlapping(sorted, from, to)) {
    if (x.offset > at) return false;
    at = Math.max(at, x.offset + x.length);
    if (at >= to) return true;
  }
  return at >= to;
}

/** Most bytes between two stored extents one read spans (page-cache reads: a copy is cheaper than a call). */
const MAX_GAP = 256 << 10;

/**
 * Reads the stored bytes of `entries` (in logical order; each read once per extent, nearby ones
 * of a slot in one read), back to back in one buffer, and where each entry's are.
 * @throws CorruptArchiveError when an extent lies outside its archive's data region or beyond its end.
 */
async function readStored(entries: IndexEntry[], stores: (BlockStore | undefined)[], stream: string, signal?: AbortSignal): Promise<{ bytes: Uint8Array; at: number[] }> {
  const order = entries.map((_, i) => i).sort((a, b) => entries[a].slot - entries[b].slot || entries[a].storedOffset - entries[b].storedOffset);
  const groups: number[][] = [];
  for (const i of order) {
    const g = groups[groups.length - 1];
    const prev = g && entries[g[g.length - 1]];
    const e = entries[i];
    if (prev && prev.slot === e.slot && e.storedOffset >= prev.storedOffset && e.storedOffset - (prev.storedOffset + prev.storedLength) <= MAX_GAP) g.push(i);
    else groups.push([i]);
  }
  const reads = await Promise.all(groups.map(async (g) => {
    const first = entries[g[0]];
    const store = stores[first.slot];
    if (!store) throw new MissingParentError(`parent ${first.slot} was not opened`, { archive: stores[0]?.name, stream, offset: first.offset, stage: 'parents' });
    const start = first.storedOffset;
    const end = Math.max(...g.map((i) => entries[i].storedOffset + entries[i].storedLength));
    if (start < store.region.offset || end > store.region.offset + store.region.length) {
      throw corrupt(`stored extent [${start}, ${end}) lies outside the data region`, first, store.name, stream);
    }
    const bytes = await store.source.read(start, end - start, { signal });
    if (bytes.length !== end - start) throw corrupt('archive is truncated: stored block lies beyond the end of the file', first, store.name, stream);
    return bytes;
  }));
  const at: number[] = new Array(entries.length);
  const total = entries.reduce((n, e) => n + e.storedLength, 0);
  const bytes = new Uint8Array(total);
  let n = 0;
  groups.forEach((g, k) => {
    const base = entries[g[0]].storedOffset;
    for (const i of g) {
      const e = entries[i];
      bytes.set(reads[k].subarray(e.storedOffset - base, e.storedOffset - base + e.storedLength), n);
      at[i] = n;
      n += e.storedLength;
    }
  });
  return { bytes, at };
}

function corrupt(message: string, e: IndexEntry, archive: string | undefined, stream: string, cause?: unknown): CorruptArchiveError {
  return new CorruptArchiveError(
    `${stream} block at offset ${e.offset} (file offset ${e.storedOffset}): ${message}`,
    { archive, stream, offset: e.offset, fileOffset: e.storedOffset, stage: 'block' },
    { cause },
  );
}
