/**
 * Reads filesystem metadata blocks (group descriptors, inode tables, directories, extent and
 * indirect blocks) through a small byte-bounded LRU. On the production device every read
 * decodes an archive block, so the same metadata block must not be fetched twice while it is
 * hot, concurrent requests for one block share a fetch, and a run of directory blocks is
 * fetched with one device read.
 */
import { CorruptImageError } from '../../errors.js';
import { LruCache } from '../../util/lru.js';
import type { BlockDevice } from '../types.js';

/** Most blocks fetched by one {@link BlockCache.readRun} device read (bounds the buffer). */
export const MAX_RUN_BYTES = 1 << 20;

/** Options of a metadata read. */
export interface MetaReadOptions {
  signal?: AbortSignal;
  /**
   * Called once on bytes fresh from the device (not on cache hits): throws to refuse them
   * (a checksum mismatch), and then they are not cached.
   */
  verify?: (bytes: Uint8Array) => void;
}

/** A byte-bounded cache of whole filesystem blocks over a {@link BlockDevice}. */
export class BlockCache {
  private readonly lru: LruCache<number, Uint8Array>;
  private readonly inFlight = new Map<number, Promise<Uint8Array>>();

  /**
   * @param dev the device holding the filesystem.
   * @param blockSize bytes per block.
   * @param blocksCount blocks in the filesystem: no block at or past it is read.
   * @param budget bytes of blocks kept (0 disables caching).
   */
  constructor(
    private readonly dev: BlockDevice,
    readonly blockSize: number,
    private readonly blocksCount: number,
    budget: number,
  ) {
    this.lru = new LruCache(budget);
  }

  /**
   * Throws unless `count` blocks from `block` lie inside the filesystem.
   * @param what names the structure for the message ("extent tree block of inode 12").
   * @throws CorruptImageError naming `what` and the block.
   */
  checkRange(block: number, count: number, what: string): void {
    if (!Number.isSafeInteger(block) || block < 1 || count < 1 || block + count > this.blocksCount) {
      throw new CorruptImageError(
        `ext4: ${what}: block ${block}${count > 1 ? ` (+${count})` : ''} lies outside the filesystem (blocks 1..${this.blocksCount - 1})`,
        { stage: 'ext4 metadata', offset: Number.isSafeInteger(block) ? block * this.blockSize : undefined });
    }
  }

  /** A cached block without touching the device (and without a promise), or undefined. */
  peek(block: number): Uint8Array | undefined {
    return this.lru.get(block);
  }

  /**
   * One metadata block, from the cache or the device.
   * @throws CorruptImageError when the block lies outside the filesystem or `verify` refuses
   *   it; whatever the device throws.
   */
  async readBlock(block: number, what: string, options: MetaReadOptions = {}): Promise<Uint8Array> {
    const hit = this.lru.get(block);
    if (hit) return hit;
    this.checkRange(block, 1, what);
    const pending = this.inFlight.get(block);
    if (pending) return pending;
    const fetch = (async () => {
      const bytes = await this.dev.read(block * this.blockSize, this.blockSize, { signal: options.signal });
      options.verify?.(bytes);
      this.lru.set(block, bytes, this.blockSize);
      return bytes;
    })();
    this.inFlight.set(block, fetch);
    try {
      return await fetch;
    } finally {
      this.inFlight.delete(block);
    }
  }

  /**
   * `count` consecutive metadata blocks: cached ones as they are, the rest with one device read
   * per gap (at most {@link MAX_RUN_BYTES} each). `verify(bytes, index)` runs on each fresh block.
   * @throws as {@link readBlock}.
   */
  async readRun(
    first: number, count: number, what: string,
    options: { signal?: AbortSignal; verify?: (bytes: Uint8Array, index: number) => void } = {},
  ): Promise<Uint8Array[]> {
    this.checkRange(first, count, what);
    const out: (Uint8Array | undefined)[] = new Array(count);
    const maxBlocks = Math.max(1, Math.floor(MAX_RUN_BYTES / this.blockSize));
    let i = 0;
    while (i < count) {
      const hit = this.lru.get(first + i);
      if (hit || this.inFlight.has(first + i)) {
        out[i] = hit ?? await this.readBlock(first + i, what, { signal: options.signal, verify: (b) => options.verify?.(b, i) });
        i++;
        continue;
      }
      let n = 1;
      while (i + n < count && n < maxBlocks && !this.lru.has(first + i + n) && !this.inFlight.has(first + i + n)) n++;
      if (n === 1) {
        const index = i;
        out[i] = await this.readBlock(first + i, what, { signal: options.signal, verify: (b) => options.verify?.(b, index) });
        i++;
        continue;
      }
      const bytes = await this.dev.read((first + i) * this.blockSize, n * this.blockSize, { signal: options.signal });
      for (let k = 0; k < n; k++) {
        // A copy per block, so the cache's byte budget counts what it really holds.
        const block = bytes.slice(k * this.blockSize, (k + 1) * this.blockSize);
        options.verify?.(block, i + k);
        this.lru.set(first + i + k, block, this.blockSize);
        out[i + k] = block;
      }
      i += n;
    }
    return out as Uint8Array[];
  }
}
