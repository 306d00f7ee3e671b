import type { CodecId } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import type { ArchiveWriter, StoredRef } from '../pack/archive-writer.js';
import type { DedupTable } from '../pack/dedup-table.js';
import type { RunRequest } from '../archive/decode-run.js';
import type { WorkerPool } from '../workers/worker-pool.js';

/** What a commit wrote so far, in logical bytes unless named otherwise. */
export interface CommitCounters {
  /** Logical bytes of the child's entries so far (all streams). */
  bytesDone: number;
  /** Clean non-zero bytes referred to in the base's chain without being read. */
  referencedBytes: number;
  /** Clean zero bytes (ZERO entries of the base, kept as ZERO entries). */
  cleanZeroBytes: number;
  /** Bytes re-cut from the merged stream (the windows around the written ranges). */
  rewrittenBytes: number;
  /** Of those: bytes found stored already (in the chain or earlier in this archive). */
  dedupBytes: number;
  /** Of those: bytes that turned out all zero. */
  zeroBytes: number;
  /** Bytes of new stored (compressed) blocks written to the child. */
  storedBytes: number;
  /** New blocks stored in the child. */
  storedBlocks: number;
}

/** A fresh set of counters. */
export function newCommitCounters(): CommitCounters {
  return { bytesDone: 0, referencedBytes: 0, cleanZeroBytes: 0, rewrittenBytes: 0, dedupBytes: 0, zeroBytes: 0, storedBytes: 0, storedBlocks: 0 };
}

/** A re-cut block hashed and compressed (or found known) by a worker. */
interface Compressed {
  length: number;
  hash: Uint8Array;
  stored: Uint8Array;
  encoding: CodecId;
  known: boolean;
}

/** Clean entries of the base between the windows of one batch: a zero run, or blocks referred to as they are. */
export type CleanItem = { zero: number } | { refs: readonly IndexEntry[] };

/** What a worker makes a batch of blocks from (WorkerPool.compressBatch's arguments). */
export interface BatchInput {
  request: RunRequest;
  patches: Float64Array;
  patchBytes: Uint8Array;
  lengths: Uint32Array;
  /**
   * The batch's entries in order, when clean items lie between its blocks: a number takes that
   * many of the worker's blocks, a clean item is written as itself. Without, just the blocks.
   */
  layout?: (number | CleanItem)[];
  /** What a failure (a RunBlockError of a base block) is reported as. */
  located?: (err: unknown) => unknown;
}

type Entry = { zero: number; clean: boolean } | { ref: StoredRef; hash: Uint8Array; length: number } | { refs: readonly IndexEntry[] } | Compressed;

/** A queued entry, or a batch of re-cut blocks still on the workers. */
type Queued = Entry | Promise<Entry[]>;

/** Most logical bytes in one batch of re-cut blocks sent to a worker. */
const BATCH_BYTES = 1 << 20;

/**
 * The ordered sink of a commit's entries for one archive writer: clean references and zero runs
 * go in as they are; re-cut blocks are gathered into batches (one worker message each, not one
 * per block: the main thread is what limits a commit), hashed and compressed on the worker pool,
 * and then stored, or referred to when the dedup table (seeded with the parent chain) already
 * has their content. Entries reach the writer in the order they were given, whatever order the
 * workers finish in; at most about `limit` blocks are queued.
 */
export class CommitOutput {
  private readonly queue: Queued[] = [];
  /** Blocks queued (a batch counts its blocks), against `limit`. */
  private queuedBlocks = 0;
  private readonly weights: number[] = [];
  private readonly zeros: Buffer;
  /** Re-cut blocks gathered for the next batch (views: copied into one buffer when it is sent). */
  private open: Uint8Array[] = [];
  private openBytes = 0;
  private readonly batchBlocks: number;

  constructor(private readonly parts: {
    writer: ArchiveWriter; pool: WorkerPool; table: DedupTable; codec: CodecId; level: number;
    /** Blocks queued before the oldest is written (bounds memory: about 16 MiB of blocks). */
    limit: number; counters: CommitCounters; onWrite?: () => void; blockSize: number;
    /**
     * Settles when `table` holds the chain (seeded meanwhile): nothing is written before, as a
     * re-cut block is looked up in it; a rejection fails the first write.
     */
    ready?: Promise<unknown>;
  }) {
    this.zeros = Buffer.alloc(parts.blockSize);
    // A few batches per worker in flight at the limit.
    this.batchBlocks = Math.max(1, Math.min(Math.floor(parts.limit / (parts.pool.size * 4)), Math.floor(BATCH_BYTES / parts.blockSize)));
  }

  /** Clean zero bytes of the base (`clean`), or zero bytes of a window. */
  zero(length: number, clean: boolean): Promise<void> {
    return this.push({ zero: length, clean });
  }

  /** A clean block of the base, referred to where its bytes are (`ref.slot` in the child's numbering). */
  ref(length: number, hash: Uint8Array, ref: StoredRef): Promise<void> {
    return this.push({ ref, hash, length });
  }

  /**
   * Clean blocks of the base, referred to where the chain stores them: each entry's slot is the
   * base's numbering (0 = the base), the child's is one more (ArchiveWriter.addParentRefs).
   */
  refs(entries: readonly IndexEntry[]): Promise<void> {
    return this.push({ refs: entries });
  }

  /**
   * A re-cut block. `bytes` is only read (copied into a batch later): its memory must not
   * change afterwards.
   */
  block(bytes: Uint8Array): Promise<void> {
    const length = bytes.length;
    if (length <= this.zeros.length && Buffer.from(bytes.buffer, bytes.byteOffset, length).equals(this.zeros.subarray(0, length))) return this.push({ zero: length, clean: false });
    this.open.push(bytes);
    this.openBytes += length;
    if (this.open.length >= this.batchBlocks || this.openBytes >= BATCH_BYTES) return this.push(undefined);
    return Promise.resolve();
  }

  /** Writes everything queued. */
  async drain(): Promise<void> {
    this.close();
    while (this.queue.length) await this.drainOne();
  }

  /** Forgets what is queued (after a failure; pending compressions are the pool's to end). */
  discard(): void {
    this.queue.length = 0;
    this.weights.length = 0;
    this.queuedBlocks = 0;
    this.open = [];
    this.openBytes = 0;
  }

  /** Sends the gathered blocks to a worker as one batch, queued in their place. */
  private close(): void {
    const blocks = this.open;
    if (!blocks.length) return;
    this.open = [];
    const bytes = new Uint8Array(this.openBytes);
    this.openBytes = 0;
    const lengths = new Uint32Array(blocks.length);
    let at = 0;
    blocks.forEach((b, i) => {
      bytes.set(b, at);
      at += (lengths[i] = b.length);
    });
    this.enqueueBatch(Promise.resolve({ request: { stored: new Uint8Array(0), blocks: [], length: at }, patches: new Float64Array([0, at, 0]), patchBytes: bytes, lengths }), blocks.length);
  }

  /**
   * Queues blocks a worker makes from base blocks and patches (see WorkerPool.compressBatch),
   * once `batch` resolves (their inputs being read meanwhile), after everything queued so far.
   * Waits while the queue is full.
   */
  async batch(batch: Promise<BatchInput>, blocks: number): Promise<void> {
    this.close();
    this.enqueueBatch(batch, blocks);
    while (this.queuedBlocks >= this.parts.limit) await this.drainOne();
  }

  private enqueueBatch(input: Promise<BatchInput>, weight?: number): void {
    const { pool, codec, level } = this.parts;
    const p = input.then(async ({ request, patches, patchBytes, lengths: sent, layout, located }) => {
      const lengths = Array.from(sent); // `sent` goes to the worker (transferred)
      const rs = await pool.compressBatch(request, patches, patchBytes, sent, codec, level).catch((err) => {
        throw located ? located(err) : err;
      });
      const blocks = rs.map((r, i): Entry => (r.zero ? { zero: lengths[i], clean: false } : { hash: r.hash, stored: r.stored, encoding: r.encoding, known: r.known, length: lengths[i] }));
      return layout ? laidOut(layout, blocks) : blocks;
    });
    p.catch(() => {}); // surfaced when drained, in order
    this.enqueue(p, weight ?? 1);
  }

  private enqueue(item: Queued, weight: number): void {
    this.queue.push(item);
    this.weights.push(weight);
    this.queuedBlocks += weight;
  }

  /** Queues `item` (after the gathered blocks), or with none just the gathered blocks; waits while the queue is full. */
  private async push(item: Entry | undefined): Promise<void> {
    this.close();
    if (item) this.enqueue(item, 1);
    while (this.queuedBlocks >= this.parts.limit) await this.drainOne();
  }

  private async drainOne(): Promise<void> {
    if (this.parts.ready) await this.parts.ready;
    const item = await this.queue.shift()!;
    this.queuedBlocks -= this.weights.shift()!;
    if (Array.isArray(item)) for (const e of item) await this.write(e);
    else await this.write(item);
    this.parts.onWrite?.();
  }

  private async write(item: Entry): Promise<void> {
    const { writer: w, table, counters: c } = this.parts;
    if ('refs' in item) {
      await w.addParentRefs(item.refs, 1);
      let bytes = 0;
      for (const e of item.refs) bytes += e.length;
      c.referencedBytes += bytes;
      c.bytesDone += bytes;
    } else if ('zero' in item) {
      await w.addZero(item.zero);
      if (item.clean) c.cleanZeroBytes += item.zero;
      else {
        c.zeroBytes += item.zero;
        c.rewrittenBytes += item.zero;
      }
      c.bytesDone += item.zero;
    } else if ('ref' in item) {
      await w.addDedup(item.length, item.hash, item.ref);
      c.referencedBytes += item.length;
      c.bytesDone += item.length;
    } else {
      const hash = item.hash;
      const known = table.get(hash);
      if (item.known && !known) throw new Error('internal: a block the workers skipped as known is not in the dedup table');
      if (known) {
        await w.addDedup(item.length, hash, known);
        c.dedupBytes += item.length;
      } else {
        const ref = await w.addData(item.length, hash, item.encoding, item.stored);
        table.set(hash, ref);
        c.storedBytes += ref.storedLength;
        c.storedBlocks++;
      }
      c.rewrittenBytes += item.length;
      c.bytesDone += item.length;
    }
  }
}

/** A batch's entries in `layout` order: its blocks as the layout takes them, clean items between. */
function laidOut(layout: readonly (number | CleanItem)[], blocks: Entry[]): Entry[] {
  const out: Entry[] = [];
  let k = 0;
  for (const x of layout) {
    if (typeof x === 'number') for (let end = k + x; k < end; k++) out.push(blocks[k]);
    else out.push('zero' in x ? { zero: x.zero, clean: true } : x);
  }
  if (k !== blocks.length) throw new Error(`internal: a batch's layout takes ${k} blocks of ${blocks.length}`);
  return out;
}
