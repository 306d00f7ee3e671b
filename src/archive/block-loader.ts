import { keepCacheSegments, takeCacheSegment } from './cache-segments.js';
import { EntryKind } from '../format/constants.js';
import { bytesEqual, type Digest32 } from '../format/digest.js';
import type { Extent } from '../format/header.js';
import type { IndexEntry } from '../format/entry.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError } from '../errors.js';
import { LruCache } from '../util/lru.js';
import { BlockDecodeError, type BlockDecoder } from './block-decoder.js';
import type { ArchiveOpener, BlockCodecs } from './reader-platform.js';
import { SealError } from '../crypto/seal-error.js';
import { blockAad } from '../format/seal-aad.js';
import { raceAbort } from '../util/race-abort.js';

/** A decoded block held in the cache, with the hash it was verified against. */
export interface CachedBlock {
  data: Uint8Array;
  hash: Uint8Array;
}

/** What a {@link BlockLoader} reads from and how it decodes and checks what it reads. */
export interface BlockLoaderOptions {
  /** The storage the archive is read from. */
  source: ByteSource;
  /** The archive's data region: every stored extent must lie inside it. */
  region: Extent;
  /** Most bytes of decoded blocks kept (an LRU cache keyed by stored offset); 0 keeps none. */
  cacheBytes: number;
  /**
   * The archive's block size: blocks of exactly this length decoded in the calling thread reuse
   * the buffers of blocks the cache has let go (omitted: every block gets a new buffer).
   */
  blockSize?: number;
  /** Allocate all the cache's block buffers at the first decode rather than an eighth at a time (OpenOptions.reserveCache). */
  reserveCache?: boolean;
  /** The content hash: BLAKE3-256, keyed in encrypted archives. */
  digest: Digest32;
  /** Check every block's content hash against its entry. */
  verify: boolean;
  /** When given, blocks are decoded and verified off the calling thread (the worker pool, in Node). */
  decoder?: BlockDecoder;
  /** In-thread decompressors, the archive's zstd dictionary bound in. */
  codecs: BlockCodecs;
  /** Opens sealed blocks of an encrypted archive (the decoder holds the same key). */
  cipher?: ArchiveOpener;
}

/** What a block whose seal does not open is reported as. */
const AUTH_FAILED = 'block fails authentication (AES-GCM tag mismatch: altered, moved or from another archive)';

/** Most spare block buffers kept for reuse beyond the slab's slots. */
const MAX_SPARE = 64;
/** Stored reads up to this many bytes go into reused buffers, when the source can read into one. */
const SCRATCH_BYTES = 256 << 10;
/** Most such buffers kept. */
const MAX_SCRATCH = 8;

/** Most bytes one coalesced read may span, and the largest gap between blocks it may bridge. */
const MAX_COALESCED = 8 * 1024 * 1024;
const MAX_GAP = 64 * 1024;

/**
 * Fetches, decodes and verifies stored blocks. Plans first: the blocks a read needs that are
 * neither cached nor in flight are grouped into few large source reads (adjacent or nearly
 * adjacent stored extents are fetched together), which matters for remote sources.
 */
export class BlockLoader {
  private readonly codecs: BlockCodecs;
  private readonly inflight = new Map<number, Promise<CachedBlock>>();
  private readonly source: ByteSource;
  private readonly dataRegion: Extent;
  private readonly cache: LruCache<number, CachedBlock>;
  /** The content hash: BLAKE3-256, keyed in encrypted archives. */
  private readonly digest: Digest32;
  private readonly verify: boolean;
  /** When given, blocks are decoded and verified off the calling thread. */
  private readonly decoder: BlockDecoder | undefined;
  /** Opens sealed blocks of an encrypted archive (the decoder holds the same key). */
  private readonly cipher: ArchiveOpener | undefined;
  /** Length of the blocks whose buffers are reused (0: none). */
  private readonly poolLength: number;
  /** Buffers nobody holds, to decode the next blocks into. */
  private readonly spare: Uint8Array[] = [];
  /**
   * Block buffers, as many as the cache can keep, cut from a few large allocations (slab
   * segments, an eighth of the cache each, or all of it at once with `reserveCache`) made as
   * the cache fills; once it is full they are reused, and nothing more is allocated: a stream
   * of new 64 KiB buffers made V8 collect after every 64 MiB of them, stalling reads for
   * milliseconds. A segment's pages become resident only as blocks are decoded into them.
   */
  private readonly slabBuffers = new Set<ArrayBufferLike>();
  /** The segments themselves (whole), handed on to the next archive's cache at {@link release}. */
  private readonly segments: Uint8Array[] = [];
  private segment: Uint8Array | undefined;
  private segmentUsed = 0;
  private readonly slots: number;
  private readonly segmentSlots: number;
  private nextSlot = 0;
  /**
   * Buffers the cache let go while loads were running (which may still be using them), oldest
   * first, each with the generation it was let go in: spare once every load that started in or
   * before that generation has ended (a load that starts later cannot get an evicted block).
   */
  private released: { data: Uint8Array; gen: number }[] = [];
  /** Generation: one more after each buffer let go while loads run. */
  private gen = 0;
  /** Running loads by the generation they started in (keys in increasing order: Map keeps insertion order). */
  private readonly runningByGen = new Map<number, number>();
  /** Pool buffers holding a decoded block that no caller was given to keep: reusable once the cache lets go. */
  private readonly reusable = new WeakSet<Uint8Array>();
  /** Buffers for stored bytes, reused once every block read into one is decoded. */
  private readonly scratch: Uint8Array[] = [];

  constructor(options: BlockLoaderOptions) {
    this.source = options.source;
    this.dataRegion = options.region;
    // Reusing a block's buffer spares the allocation and, more, the garbage collections that a
    // stream of new 64 KiB buffers sets off (V8 collects after every 64 MiB of new buffers): they
    // stalled random reads served by mount and serve for milliseconds.
    this.cache = new LruCache(options.cacheBytes, (b) => this.letGo(b.data));
    this.poolLength = options.blockSize ?? 0;
    this.slots = this.poolLength > 0 ? Math.floor(options.cacheBytes / this.poolLength) : 0;
    this.segmentSlots = options.reserveCache ? this.slots : Math.max(1, Math.ceil(this.slots / 8));
    this.digest = options.digest;
    this.verify = options.verify;
    this.decoder = options.decoder;
    this.cipher = options.cipher;
    this.codecs = options.codecs;
  }

  /**
   * Returns the decoded bytes of every entry (ZERO entries must not be passed), in order; they
   * are the caller's to keep.
   */
  load(entries: IndexEntry[], stream: string, signal?: AbortSignal): Promise<Uint8Array[]> {
    return this.use(entries, stream, signal, (datas) => {
      // A slot of the slab is copied out (a kept view would pin the whole slab); other buffers are given away.
      return datas.map((d) => {
        if (this.slabBuffers.has(d.buffer)) return d.slice();
        this.reusable.delete(d);
        return d;
      });
    });
  }

  /**
   * Loads every entry (ZERO entries must not be passed) and calls `consume` with their decoded
   * bytes, in order, synchronously: the bytes are valid only during that call (their buffers
   * are reused later), so `consume` copies what it needs.
   * @returns what `consume` returns.
   */
  async use<T>(entries: IndexEntry[], stream: string, signal: AbortSignal | undefined, consume: (datas: Uint8Array[]) => T): Promise<T> {
    const gen = this.startLoad();
    try {
      return consume(await this.gather(entries, stream, signal));
    } finally {
      this.endLoad(gen);
    }
  }

  /** Counts a load as running from now, in the current generation (returned). */
  private startLoad(): number {
    const gen = this.gen;
    this.runningByGen.set(gen, (this.runningByGen.get(gen) ?? 0) + 1);
    return gen;
  }

  /** A load started in generation `gen` ended: the buffers nobody can hold any more become spare. */
  private endLoad(gen: number): void {
    const left = this.runningByGen.get(gen)! - 1;
    if (left > 0) this.runningByGen.set(gen, left);
    else {
      this.runningByGen.delete(gen);
      this.settleReleased();
    }
  }

  /** The decoded bytes of `block` for `e`, once they are the entry's (a duplicate shares stored bytes with its first copy, and must share the hash). */
  private checked(block: CachedBlock, e: IndexEntry, stream: string): Uint8Array {
    if (this.verify && !bytesEqual(block.hash, e.hash)) throw this.corrupt('content hash mismatch', e, stream);
    if (block.data.length !== e.blockLength) throw this.corrupt('stored block has the wrong length', e, stream);
    return block.data;
  }

  /**
   * {@link use} without waiting, when nothing needs waiting for: every block is cached, or read
   * now from a source that reads synchronously (a local file, SCRATCH_BYTES at most) and decoded
   * in this thread. A warm reader then answers a small read in one turn, without the promises a
   * load takes. Undefined (nothing done) when a block is in flight, the archive is encrypted,
   * blocks decode on a pool, or the source cannot read synchronously: call {@link use}.
   * @returns what `consume` returns, wrapped.
   * @throws CorruptArchiveError as use.
   */
  useNow<T>(entries: IndexEntry[], stream: string, consume: (datas: Uint8Array[]) => T): { value: T } | undefined {
    if (this.decoder || this.cipher || !this.source.readIntoSync) return undefined;
    for (const e of entries) if (this.inflight.has(e.storedOffset) || (e.storedLength > SCRATCH_BYTES && !this.cache.has(e.storedOffset))) return undefined;
    // Counted as a running load: a block decoded below may push out one decoded above, whose
    // buffer must not be reused before `consume` has read it.
    const gen = this.startLoad();
    try {
      return { value: consume(entries.map((e) => this.checked(this.cache.get(e.storedOffset) ?? this.loadNow(e, stream), e, stream))) };
    } finally {
      this.endLoad(gen);
    }
  }

  /**
   * Reads (synchronously: into a reused buffer, or a new one for a block stored larger than
   * SCRATCH_BYTES), decodes and caches the block of `e`. A large block gets here only when the
   * cache let it go during this same read (useNow starts only when every large one is cached).
   */
  private loadNow(e: IndexEntry, stream: string): CachedBlock {
    this.checkExtent(e.storedOffset, e.storedLength, e, stream);
    const small = e.storedLength <= SCRATCH_BYTES;
    const buffer = small ? this.scratch.pop() ?? new Uint8Array(SCRATCH_BYTES) : new Uint8Array(e.storedLength);
    try {
      const stored = buffer.subarray(0, e.storedLength);
      if (this.source.readIntoSync!(e.storedOffset, stored) !== stored.length) throw this.corrupt('archive is truncated: stored block lies beyond the end of the file', e, stream);
      const block = this.decodeHere(stored, e, stream, small);
      this.cache.set(e.storedOffset, block, block.data.length);
      return block;
    } finally {
      if (small && this.scratch.length < MAX_SCRATCH) this.scratch.push(buffer);
    }
  }

  private async gather(entries: IndexEntry[], stream: string, signal?: AbortSignal): Promise<Uint8Array[]> {
    const promises: (Promise<CachedBlock> | CachedBlock)[] = new Array(entries.length);
    const missing: IndexEntry[] = [];
    entries.forEach((e, i) => {
      const hit = this.cache.get(e.storedOffset) ?? this.inflight.get(e.storedOffset);
      if (hit) promises[i] = hit;
      else missing.push(e);
    });
    // The fetch is shared with every other reader of these blocks, so it gets no caller's
    // signal: an abort only stops this caller waiting (raceAbort), never another's read.
    if (missing.length) this.fetch(missing, stream);
    return raceAbort(Promise.all(entries.map(async (e, i) => {
      return this.checked(await (promises[i] ?? this.inflight.get(e.storedOffset) ?? this.cache.get(e.storedOffset)!), e, stream);
    })), signal);
  }

  /** Whether blocks are hash-checked and with which hash: for readers that decode blocks themselves (readSequential). */
  get checks(): { verify: boolean; digest: Digest32 } {
    return { verify: this.verify, digest: this.digest };
  }

  /** Starts loading `entries` in the background (read-ahead); errors surface on a real read. */
  prefetch(entries: IndexEntry[], stream: string): void {
    const missing = entries.filter((e) => e.kind !== EntryKind.ZERO && !this.cache.has(e.storedOffset) && !this.inflight.has(e.storedOffset));
    if (missing.length) this.fetch(missing, stream, true);
  }

  private fetch(missing: IndexEntry[], stream: string, background = false): void {
    // The first entry per stored extent, so damage is reported at the first copy's offset.
    const first = new Map<number, IndexEntry>();
    for (const e of missing) if (!first.has(e.storedOffset)) first.set(e.storedOffset, e);
    const unique = [...first.values()].sort((a, b) => a.storedOffset - b.storedOffset);
    for (const group of coalesce(unique)) {
      const start = group[0].storedOffset;
      const last = group[group.length - 1];
      const length = last.storedOffset + last.storedLength - start;
      // Decoded in this thread, the stored bytes are garbage once the group is decoded: a
      // reused buffer then spares an allocation per read (and the collections they add up to).
      const scratch = !this.decoder && this.source.readInto && length <= SCRATCH_BYTES ? this.scratch.pop() ?? new Uint8Array(SCRATCH_BYTES) : undefined;
      const bytes = this.readRange(start, length, group[0], stream, scratch);
      const decodes: Promise<CachedBlock>[] = [];
      for (const e of group) {
        const p = bytes.then((buf) => this.decode(buf.subarray(e.storedOffset - start, e.storedOffset - start + e.storedLength), e, stream, scratch !== undefined));
        decodes.push(p);
        if (background) p.catch(() => {});
        this.inflight.set(e.storedOffset, p);
        // Out of `inflight` in the same turn it enters the cache: a block the cache has let go
        // (its buffer about to be reused) is then reachable from neither.
        p.then((b) => {
          this.inflight.delete(e.storedOffset);
          this.cache.set(e.storedOffset, b, b.data.length);
        }, () => this.inflight.delete(e.storedOffset));
      }
      if (scratch) void Promise.allSettled(decodes).then(() => this.scratch.length < MAX_SCRATCH && this.scratch.push(scratch));
    }
  }

  /** The stored bytes [offset, offset + length), read into `scratch` when given (then a view of it). */
  private async readRange(offset: number, length: number, first: IndexEntry, stream: string, scratch?: Uint8Array): Promise<Uint8Array> {
    this.checkExtent(offset, length, first, stream);
    const buf = scratch ? scratch.subarray(0, length) : await this.source.read(offset, length);
    const got = scratch ? await this.source.readInto!(offset, buf) : buf.length;
    if (got !== length) throw this.corrupt('archive is truncated: stored block lies beyond the end of the file', first, stream);
    return buf;
  }

  /** Refuses a stored extent outside the data region before it is read. */
  private checkExtent(offset: number, length: number, first: IndexEntry, stream: string): void {
    const end = this.dataRegion.offset + this.dataRegion.length;
    if (offset < this.dataRegion.offset || offset + length > end) {
      throw this.corrupt(`stored extent [${offset}, ${offset + length}) lies outside the data region`, first, stream);
    }
  }

  /** @param reused `stored` is in a buffer that is reused once the block is decoded: the result must not share it. */
  private async decode(stored: Uint8Array, e: IndexEntry, stream: string, reused = false): Promise<CachedBlock> {
    if (this.decoder) {
      const aad = this.cipher ? blockAad(this.cipher.archiveId, e.storedOffset, e.blockLength, e.encoding, e.hash) : undefined;
      try {
        return { data: await this.decoder.decode({ stored, encoding: e.encoding, length: e.blockLength, hash: this.verify ? e.hash : undefined, aad }), hash: e.hash };
      } catch (err) {
        if (!(err instanceof BlockDecodeError)) throw err;
        const what = err.kind === 'hash' ? 'content hash mismatch' : err.kind === 'auth' ? AUTH_FAILED : `block does not decode: ${err.message}`;
        throw this.corrupt(what, e, stream, err);
      }
    }
    let encoded = stored;
    if (this.cipher) {
      try {
        encoded = await this.cipher.openBlock(stored, e.storedOffset, e.blockLength, e.encoding, e.hash);
      } catch (err) {
        if (err instanceof SealError) throw this.corrupt(AUTH_FAILED, e, stream, err);
        throw err;
      }
    }
    return this.decodeHere(encoded, e, stream, reused && encoded === stored);
  }

  /** Decodes (unsealed) `encoded` in this thread, into a reused buffer when it has the block size, and checks its hash. */
  private decodeHere(encoded: Uint8Array, e: IndexEntry, stream: string, reused: boolean): CachedBlock {
    let data: Uint8Array;
    const codec = this.codecs.get(e.encoding);
    const target = e.blockLength === this.poolLength && codec.decompressInto ? this.takeBuffer() : undefined;
    try {
      if (target) codec.decompressInto!(encoded, target);
      data = target ?? codec.decompress(encoded, e.blockLength);
      // A raw block "decodes" to a view of its stored bytes (the none codec does not copy).
      if (reused && data.buffer === encoded.buffer) data = data.slice();
    } catch (err) {
      if (target) this.spare.push(target);
      throw this.corrupt(`block does not decode: ${(err as Error).message}`, e, stream, err);
    }
    if (this.verify && !bytesEqual(this.digest(data), e.hash)) {
      if (target) this.spare.push(target);
      throw this.corrupt('content hash mismatch', e, stream);
    }
    if (target) this.reusable.add(target);
    return { data, hash: e.hash };
  }

  /** A buffer of `poolLength` bytes nobody holds: a spare one, the slab's next slot, or a new one. */
  private takeBuffer(): Uint8Array {
    const spare = this.spare.pop();
    if (spare) return spare;
    if (this.nextSlot < this.slots) {
      if (!this.segment || this.segmentUsed * this.poolLength === this.segment.length) {
        this.segment = takeCacheSegment(Math.min(this.segmentSlots, this.slots - this.nextSlot) * this.poolLength);
        this.slabBuffers.add(this.segment.buffer);
        this.segments.push(this.segment);
        this.segmentUsed = 0;
      }
      this.nextSlot++;
      const at = this.segmentUsed++ * this.poolLength;
      return this.segment.subarray(at, at + this.poolLength);
    }
    return new Uint8Array(this.poolLength);
  }

  /**
   * Empties the cache and, when no load is running (none can still be writing or reading a
   * slot), hands the cache's memory on to the next archive that opens (cache-segments.ts). The
   * loader stays usable: a later load starts a cache of its own.
   */
  release(): void {
    this.cache.clear();
    this.spare.length = 0;
    this.released = [];
    this.segment = undefined;
    this.segmentUsed = 0;
    this.nextSlot = 0;
    this.slabBuffers.clear();
    const segments = this.segments.splice(0);
    if (this.runningByGen.size === 0) keepCacheSegments(segments);
  }

  /** The cache let go of a block: its buffer is reused when nobody can be holding it. */
  private letGo(data: Uint8Array): void {
    if (!this.reusable.has(data)) return;
    this.reusable.delete(data);
    // A running load may have been handed this block before the cache let go of it.
    if (this.runningByGen.size === 0) return this.keepSpare(data);
    this.released.push({ data, gen: this.gen++ });
    // Bounded while some load runs for long: the oldest become garbage instead.
    if (this.released.length > this.slots + MAX_SPARE) this.released.shift();
  }

  /** Keeps a free buffer: always a slot of the slab, others while there are few. */
  private keepSpare(b: Uint8Array): void {
    if (this.slabBuffers.has(b.buffer) || this.spare.length < MAX_SPARE) this.spare.push(b);
  }

  /** A load ended: what the cache let go before the oldest running load started is nobody's any more. */
  private settleReleased(): void {
    let oldest = Infinity;
    for (const g of this.runningByGen.keys()) {
      oldest = g;
      break;
    }
    let n = 0;
    while (n < this.released.length && this.released[n].gen < oldest) this.keepSpare(this.released[n++].data);
    if (n > 0) this.released = this.released.slice(n);
  }

  private corrupt(message: string, e: IndexEntry, stream: string, cause?: unknown): CorruptArchiveError {
    return new CorruptArchiveError(
      `${stream} block at offset ${e.offset} (file offset ${e.storedOffset}): ${message}`,
      { archive: this.source.name, stream, offset: e.offset, fileOffset: e.storedOffset, stage: 'block' },
      { cause },
    );
  }
}

/** Groups extents (sorted by stored offset) into runs readable with one request each. */
function coalesce(sorted: IndexEntry[]): IndexEntry[][] {
  const groups: IndexEntry[][] = [];
  let cur: IndexEntry[] = [];
  let curStart = 0;
  let curEnd = 0;
  for (const e of sorted) {
    const end = e.storedOffset + e.storedLength;
    if (cur.length && e.storedOffset >= curEnd && e.storedOffset - curEnd <= MAX_GAP && end - curStart <= MAX_COALESCED) {
      cur.push(e);
      curEnd = end;
      continue;
    }
    if (cur.length) groups.push(cur);
    cur = [e];
    curStart = e.storedOffset;
    curEnd = end;
  }
  if (cur.length) groups.push(cur);
  return groups;
}
