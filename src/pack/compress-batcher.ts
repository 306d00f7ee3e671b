import type { CodecId } from '../format/constants.js';
import type { CompressResult } from '../workers/block-task.js';

/** Input bytes per compress task (about one input read): one message per megabyte, not per block. */
export const BATCH_BYTES = 1 << 20;

/** What the batcher sends its batches to: `WorkerPool.compress`. */
export interface BatchCompressor {
  compress(blocks: Uint8Array[], codec: CodecId, level: number, options: { transfer: boolean }): Promise<CompressResult[]>;
}

interface Waiter {
  resolve(r: CompressResult): void;
  reject(err: unknown): void;
}

/**
 * Groups the packer's data blocks into compress tasks of about {@link BATCH_BYTES}, each block's
 * result a promise of its own (so the packer drains results in input order as before). Blocks
 * may be views of a buffer shared with their neighbours (one input read): a batch is sent, with
 * its buffers transferred, only once a block of another buffer arrives or the input says the
 * buffer is done ({@link bufferDone}), so no buffer is transferred while the input still has
 * blocks in it. {@link flushCopy} sends what is waiting without transferring (copied), for a
 * consumer that must have a result of the batch not sent yet ({@link batch}) before its buffer
 * is complete.
 */
export class CompressBatcher {
  private blocks: Uint8Array[] = [];
  private waiters: Waiter[] = [];
  private bytes = 0;
  private sent = 0;

  constructor(private readonly pool: BatchCompressor, private readonly codec: CodecId, private readonly level: number) {}

  /** The result of `block` once its batch has been compressed. */
  add(block: Uint8Array): Promise<CompressResult> {
    const last = this.blocks[this.blocks.length - 1];
    if (last && last.buffer !== block.buffer && this.bytes >= BATCH_BYTES) this.send(true);
    const result = new Promise<CompressResult>((resolve, reject) => this.waiters.push({ resolve, reject }));
    result.catch(() => {}); // surfaced where it is awaited, in order
    this.blocks.push(block);
    this.bytes += block.length;
    return result;
  }

  /** Sequence number of the batch the next {@link add} joins (0, 1, …). */
  get batch(): number {
    return this.sent;
  }

  /** The input moved past every buffer seen so far (a zero run, the end): send with transfer. */
  bufferDone(): void {
    if (this.blocks.length) this.send(true);
  }

  /** Sends what is waiting now, copying the bytes (the last buffer may still have blocks to come). */
  flushCopy(): void {
    if (this.blocks.length) this.send(false);
  }

  private send(transfer: boolean): void {
    const blocks = this.blocks;
    const waiters = this.waiters;
    this.blocks = [];
    this.waiters = [];
    this.bytes = 0;
    this.sent++;
    this.pool.compress(blocks, this.codec, this.level, { transfer }).then(
      (rs) => waiters.forEach((w, i) => w.resolve(rs[i])),
      (err) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
