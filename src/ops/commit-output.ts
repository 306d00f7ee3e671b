import type { CodecId } from '../format/constants.js';
import type { ArchiveWriter, StoredRef } from '../pack/archive-writer.js';
import type { DedupTable } from '../pack/dedup-table.js';
import type { WorkerPool } from '../workers/worker-pool.js';
import type { CompressResult } from '../workers/block-task.js';

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

type Queued =
  | { zero: number; clean: boolean }
  | { ref: StoredRef; hash: Uint8Array; length: number }
  | Promise<CompressResult & { length: number }>;

/**
 * The ordered sink of a commit's entries for one archive writer: clean references and zero runs
 * go in as they are; re-cut blocks are hashed and compressed on the worker pool (many in flight,
 * at most `limit` queued) and then stored, or referred to when the dedup table (seeded with the
 * parent chain) already has their content. Entries reach the writer in the order they were
 * given, whatever order the workers finish in.
 */
export class CommitOutput {
  private readonly queue: Queued[] = [];
  private readonly zeros: Buffer;

  constructor(private readonly parts: {
    writer: ArchiveWriter; pool: WorkerPool; table: DedupTable; codec: CodecId; level: number;
    /** Items queued before the oldest is written (bounds memory: about 16 MiB of blocks). */
    limit: number; counters: CommitCounters; onWrite?: () => void; blockSize: number;
  }) {
    this.zeros = Buffer.alloc(parts.blockSize);
  }

  /** Clean zero bytes of the base (`clean`), or zero bytes of a window. */
  zero(length: number, clean: boolean): Promise<void> {
    return this.push({ zero: length, clean });
  }

  /** A clean block of the base, referred to where its bytes are (`ref.slot` in the child's numbering). */
  ref(length: number, hash: Uint8Array, ref: StoredRef): Promise<void> {
    return this.push({ ref, hash, length });
  }

  /** A re-cut block (`bytes` must own its ArrayBuffer, which goes to a worker). */
  block(bytes: Uint8Array): Promise<void> {
    const length = bytes.length;
    if (length <= this.zeros.length && Buffer.from(bytes.buffer, bytes.byteOffset, length).equals(this.zeros.subarray(0, length))) return this.push({ zero: length, clean: false });
    const p = this.parts.pool.compress(bytes, this.parts.codec, this.parts.level).then((r) => ({ ...r, length }));
    p.catch(() => {}); // surfaced when drained, in order
    return this.push(p);
  }

  /** Writes everything queued. */
  async drain(): Promise<void> {
    while (this.queue.length) await this.drainOne();
  }

  /** Forgets what is queued (after a failure; pending compressions are the pool's to end). */
  discard(): void {
    this.queue.length = 0;
  }

  private async push(item: Queued): Promise<void> {
    this.queue.push(item);
    while (this.queue.length >= this.parts.limit) await this.drainOne();
  }

  private async drainOne(): Promise<void> {
    const { writer: w, table, counters: c } = this.parts;
    const item = await this.queue.shift()!;
    if ('zero' in item) {
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
      const hash = new Uint8Array(item.hash);
      const known = table.get(hash);
      if (item.known && !known) throw new Error('internal: a block the workers skipped as known is not in the dedup table');
      if (known) {
        await w.addDedup(item.length, hash, known);
        c.dedupBytes += item.length;
      } else {
        const ref = await w.addData(item.length, hash, item.encoding, new Uint8Array(item.stored, 0, item.storedLength));
        table.set(hash, ref);
        c.storedBytes += ref.storedLength;
        c.storedBlocks++;
      }
      c.rewrittenBytes += item.length;
      c.bytesDone += item.length;
    }
    this.parts.onWrite?.();
  }
}
