import { CODEC_NAMES, EntryKind, HEADER_SIZE, RequiredFeature, STREAM_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import type { IndexEntry } from '../format/entry.js';
import type { Header } from '../format/header.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, HexzError, MissingParentError, UsageError, WrongKeyError } from '../errors.js';
import type { ParentRecord } from '../format/parents.js';
import { LruCache } from '../util/lru.js';
import { BlockLoader } from './block-loader.js';
import { ArchiveHandle } from './archive-handle.js';
import { appendExtents, StreamView, type StreamExtent } from './stream-view.js';
import { IndexTree, type CachedNode, type NodeCacheKey } from './index-tree.js';
import type { BlockDecoder } from './block-decoder.js';
import type { OpenOptions, PlatformOpenOptions } from './open-options.js';
import type { ArchiveOpener, ReaderPlatform } from './reader-platform.js';
import { preloadIndex, readArchiveHeader, unlockArchive } from './open-archive-parts.js';
import { loadParentsTable, openParentArchives } from './parent-archives.js';
import { loadDictionary } from './load-dictionary.js';
import { loadMetadata } from './load-metadata.js';

export type { OpenOptions, PasswordOption, PlatformOpenOptions } from './open-options.js';

/** Summary of an archive's header, in friendly units. */
export interface ArchiveInfo {
  version: number;
  /** Hex archive id. */
  id: string;
  created: Date;
  blockSize: number;
  compression: 'none' | 'lz4' | 'zstd';
  level: number;
  requiredFeatures: number;
  optionalFeatures: number;
  /** True when the archive is encrypted (whether or not it was opened with its password). */
  encrypted: boolean;
  /** Streams present, with logical sizes in bytes. */
  streams: { name: StreamName; size: number }[];
}

/** What an {@link Archive} is made of once its header is read and unlocked (see `Archive.open`). */
export interface ArchiveParts {
  /** The storage the archive is read from (index preload included). */
  source: ByteSource;
  /** The decoded, checksum-verified header. */
  header: Header;
  /** The header exactly as stored (first 4096 bytes). */
  headerBytes: Uint8Array;
  /** Size of the archive in bytes. */
  fileSize: number;
  /** True when the archive opened the source itself and closes it. */
  ownsSource: boolean;
  /** The verified zstd dictionary, when the archive has one. */
  dictionary: Uint8Array | undefined;
  /** Opens sealed objects of an encrypted archive opened with its key; undefined otherwise. */
  cipher: ArchiveOpener | undefined;
  /** The platform: hashes, codecs, crypto, decoders, sources, parent lookup. */
  platform: ReaderPlatform;
  /** The caller's options. */
  options: OpenOptions;
}

/**
 * A readable .hxz archive: the portable reader core. Opening reads only the header (and, when
 * small, the index, in one request); index nodes and blocks are loaded on demand, verified by
 * hash and cached. Everything platform-specific comes in through a {@link ReaderPlatform}:
 * Node code uses `Archive` from `node/archive.ts`, which supplies Node's.
 *
 * @example
 * const a = await Archive.open('disk.hxz', { platform });
 * const bytes = await a.readAt('disk', 1 << 20, 4096);
 * await a.close();
 */
export class Archive {
  private readonly trees: (IndexTree | null)[];
  private readonly blocks: BlockLoader;
  private readonly cursors = [{ lastEnd: -1 }, { lastEnd: -1 }];
  private readonly readAhead: number;
  private readonly decoder: BlockDecoder | undefined;
  /** The storage the archive is read from. */
  readonly source: ByteSource;
  /** The decoded, checksum-verified header. */
  readonly header: Header;
  /** Size of the archive in bytes. */
  readonly fileSize: number;
  /** The verified zstd dictionary (feature DICTIONARY), loaded once at open; undefined when absent. */
  readonly dictionary: Uint8Array | undefined;
  /** The header exactly as stored (first 4096 bytes): its identity (§15.2) is computed from it. */
  readonly headerBytes: Uint8Array;
  /** The platform this archive reads with. */
  readonly platform: ReaderPlatform;
  private readonly ownsSource: boolean;
  /** Opens sealed objects of an encrypted archive opened with its password; undefined otherwise. */
  private readonly cipher: ArchiveOpener | undefined;

  protected constructor(parts: ArchiveParts) {
    const { source, header, fileSize, options, dictionary, cipher, platform } = parts;
    this.source = source;
    this.header = header;
    this.fileSize = fileSize;
    this.dictionary = dictionary;
    this.headerBytes = parts.headerBytes;
    this.platform = platform;
    this.ownsSource = parts.ownsSource;
    this.cipher = cipher;
    const nodeCache = new LruCache<NodeCacheKey, CachedNode>(options.indexCacheBytes ?? 16 << 20);
    this.trees = header.streams.map((s, i) => (s.present && s.entryCount > 0
      ? new IndexTree({ source, streamIndex: i, record: s, fileSize, cache: nodeCache, cipher, parentCount: header.parents.count, slices: (header.requiredFeatures & RequiredFeature.SLICES) !== 0, blake3: platform.blake3 })
      : null));
    const keys = cipher?.keys;
    this.decoder = options.decodeWorkers && !this.locked && platform.decoder ? platform.decoder({ workers: options.decodeWorkers, dictionary, keys }) : undefined;
    this.blocks = new BlockLoader({
      source, region: header.data, cacheBytes: options.cacheBytes ?? 64 << 20, blockSize: header.blockSize, reserveCache: options.reserveCache,
      digest: keys ? cipher!.contentHash ?? platform.crypto!.keyedHash!(keys.hashKey) : platform.blake3,
      verify: options.verify ?? true, decoder: this.decoder, codecs: platform.codecs(dictionary), cipher,
    });
    this.readAhead = options.readAheadBytes ?? 1 << 20;
  }

  /**
   * Opens an archive from a location (a path or URL, opened with `options.platform`) or any
   * {@link ByteSource}. Called on a subclass, it makes an instance of that subclass.
   * @throws NotAnArchiveError when the bytes are not a hexz archive.
   * @throws UnsupportedError for a newer version or unknown required features.
   * @throws CorruptArchiveError when the header is damaged or the file is truncated.
   * @throws StoreError when the file cannot be read.
   * @throws WrongKeyError when `password` is not the encrypted archive's.
   */
  static async open(from: string | ByteSource, options: PlatformOpenOptions): Promise<Archive> {
    const { platform } = options;
    const source = typeof from === 'string' ? await platform.openSource(from, options.source) : from;
    let archive: Archive | undefined;
    try {
      const { size, head, header } = await readArchiveHeader(source, platform.blake3);
      await platform.prepare?.(header);
      // The password is checked before anything but the header is read (§12.2).
      const cipher = await unlockArchive(header, head, options, platform.crypto);
      const reader = await preloadIndex(source, header, size, cipher, options.preloadIndexBytes);
      const dictionary = header.encryption && !cipher ? undefined : await loadDictionary(source, header, cipher, platform.blake3);
      archive = new this({
        source: reader, header, headerBytes: head.slice(0, HEADER_SIZE), fileSize: size, ownsSource: typeof from === 'string',
        dictionary, cipher, platform, options,
      });
      if (header.parents.count > 0) {
        archive.parentRecords = await loadParentsTable(reader, header, platform.blake3);
        if (options.openParents ?? true) {
          // Recorded parent paths are relative to the archive's directory or URL.
          const location = typeof from === 'string' ? from : from.location;
          const baseDir = options.baseDir ?? (location === undefined ? undefined : platform.parentOf(location));
          archive.parents = await openParentArchives(archive, archive.parentRecords, baseDir, options, platform, (path, o) => this.open(path, { ...o, platform }));
        }
      }
      // Loading the roots now makes the first random read cost one leaf and one block. A damaged
      // root is not an open error: it surfaces on the reads of that stream (and in verify).
      if (!archive.locked) await Promise.all(archive.trees.map((t) => t?.loadRoot().catch(() => {})));
      return archive;
    } catch (err) {
      if (archive) await archive.close().catch(() => {});
      else if (typeof from === 'string') await source.close?.();
      if (err instanceof HexzError) err.location.archive ??= source.name;
      throw err;
    }
  }

  /** A thin snapshot's parents table (§15.2), slot 1 first; empty when the archive is not thin. */
  parentRecords: ParentRecord[] = [];
  /** The opened, identity-checked archive of each slot (index = slot − 1), when parents were opened. */
  parents: Archive[] = [];

  /** True when the archive is encrypted (§12). */
  get encrypted(): boolean {
    return this.header.encryption !== null;
  }

  /** The 16-byte archive id (header bytes 16..32). */
  get archiveId(): Uint8Array {
    return this.header.archiveId;
  }

  /** The data key of an unlocked encrypted archive (shared by its thin lineage, §15.3); undefined otherwise. */
  get dataKey(): Uint8Array | undefined {
    return this.cipher?.keys.dataKey;
  }

  /** True when the archive is encrypted and was opened without its password: only the header is readable. */
  get locked(): boolean {
    return this.header.encryption !== null && this.cipher === undefined;
  }

  /**
   * The archive's metadata object (§13: tool, input names and sizes), or null when it has none
   * (versions 1–3 never do).
   * @throws WrongKeyError when the archive is encrypted and was opened without its password.
   * @throws CorruptArchiveError when the metadata fails its hash, its seal, or is not a JSON object.
   */
  async metadata(): Promise<Record<string, unknown> | null> {
    const { length } = this.header.metadata;
    if (length === 0) return null;
    this.requireKey();
    return loadMetadata(this.source, this.header, this.cipher, this.name, this.platform.blake3);
  }

  /** Human-readable name of the source (its path). */
  get name(): string {
    return this.source.name;
  }

  /** Header fields in friendly units. */
  get info(): ArchiveInfo {
    const h = this.header;
    return {
      version: h.version, id: toHex(h.archiveId), created: new Date(h.createdMs), blockSize: h.blockSize,
      compression: CODEC_NAMES[h.codec], level: h.level, requiredFeatures: h.requiredFeatures, optionalFeatures: h.optionalFeatures, encrypted: this.encrypted,
      streams: this.streams.map((name) => ({ name, size: this.size(name) })),
    };
  }

  /** Names of the streams this archive holds. */
  get streams(): StreamName[] {
    return STREAM_NAMES.filter((_, i) => this.header.streams[i].present);
  }

  /** True when the archive holds `stream`. */
  hasStream(stream: StreamName): boolean {
    return this.header.streams[streamIndex(stream)].present;
  }

  /**
   * Logical size of `stream` in bytes.
   * @throws UsageError when the archive has no such stream.
   */
  size(stream: StreamName): number {
    return this.record(stream).logicalSize;
  }

  /**
   * Reads `length` bytes of `stream` starting at logical `offset`.
   * @throws UsageError when the range is not inside the stream.
   * @throws CorruptArchiveError when an index node or block fails its checks.
   */
  readAt(stream: StreamName, offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return this.readWithCursor(stream, offset, length, this.cursors[streamIndex(stream)] ?? { lastEnd: -1 }, options.signal);
  }

  /**
   * {@link readAt} with the caller's own sequential-read detection: a read starting where the
   * cursor's last one ended starts read-ahead. For {@link StreamView}; with `extents`, the
   * range's zero and data runs are appended to it (from the entries the read walked).
   * @internal
   */
  async readWithCursor(stream: StreamName, offset: number, length: number, cursor: { lastEnd: number }, signal?: AbortSignal, extents?: StreamExtent[]): Promise<Uint8Array> {
    const size = this.size(stream);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new UsageError(`read of ${length} bytes at offset ${offset} is outside stream ${stream} (${size} bytes)`, { archive: this.name, stream, offset });
    }
    this.requireKey();
    const out = new Uint8Array(length);
    if (length === 0) return out;
    // A warm local reader finds the entries and blocks without waiting (IndexTree.findNow,
    // BlockLoader.useNow): no promise per index level and block, most of what a small read costs then.
    const entries = await this.collect(stream, offset, offset + length, signal);
    if (extents) appendExtents(entries, offset, offset + length, extents);
    const stored = entries.filter((e) => e.kind !== EntryKind.ZERO);
    if (stored.length) {
      const place = (k: number, data: Uint8Array) => {
        const e = stored[k];
        const from = Math.max(offset, e.offset);
        const to = Math.min(offset + length, e.offset + e.length);
        // A SLICE's bytes start `skip` bytes into its decoded block (§5).
        out.set(data.subarray(from - e.offset + e.skip, to - e.offset + e.skip), from - offset);
      };
      // Checked after collect's wait: an abort meanwhile must still end this read.
      const done = !signal?.aborted && stored.every((e) => e.slot === 0) && this.blocks.useNow(stored, stream, (datas) => datas.forEach((d, k) => place(k, d)));
      if (!done) await this.useBlocks(stored, stream, signal, place);
    }
    const end = offset + length;
    if (this.readAhead > 0 && offset === cursor.lastEnd && end < size) this.prefetch(stream, end);
    cursor.lastEnd = end;
    return out;
  }

  /**
   * `stream` as a block device: size, reads with their own read-ahead detection, and its zero
   * and data extents (for NBD block status, SEEK_HOLE, sparse copies).
   * @throws UsageError when the archive has no such stream.
   */
  stream(stream: StreamName): StreamView {
    this.record(stream);
    return new StreamView(this, stream);
  }

  /** A file-like handle over `stream` with read, seek and tell. */
  openHandle(stream: StreamName): ArchiveHandle {
    return new ArchiveHandle(this, stream);
  }

  /**
   * Every index entry of `stream` in logical order (walks the index page by page).
   * @throws CorruptArchiveError when the index is damaged.
   */
  entries(stream: StreamName, signal?: AbortSignal): AsyncGenerator<IndexEntry> {
    this.record(stream);
    this.requireKey();
    const tree = this.trees[streamIndex(stream)];
    return tree ? tree.entries(signal) : (async function* () {})();
  }

  /**
   * Decoded (and, unless disabled, verified) bytes of the given non-zero entries, in order (of a
   * SLICE entry, its `length` bytes: a view of its whole decoded block).
   * @throws CorruptArchiveError when a block fails to decode or verify.
   */
  readEntries(stream: StreamName, entries: IndexEntry[], signal?: AbortSignal): Promise<Uint8Array[]> {
    this.requireKey();
    return this.loadBlocks(entries, stream, signal);
  }

  /**
   * The index entries of `stream` overlapping [from, to), in order, a leaf at a time (the next
   * leaf loads while the caller works on this one), checked to tile the range. For readers that
   * plan their own block reads (readSequential).
   * @throws CorruptArchiveError when the index is damaged.
   */
  async *entryLeaves(stream: StreamName, from: number, to: number, signal?: AbortSignal): AsyncGenerator<IndexEntry[]> {
    this.record(stream);
    this.requireKey();
    const tree = this.trees[streamIndex(stream)];
    if (!tree || from >= to) return;
    let pos = from;
    let loading: ReturnType<IndexTree['find']> | undefined = tree.find(pos, signal);
    try {
      while (loading) {
        const { leaf, index } = await loading;
        loading = undefined;
        const out: IndexEntry[] = [];
        for (let i = index; i < leaf.count && pos < to; i++) {
          const e = tree.entry(leaf, i);
          if (e.offset !== pos && (out.length > 0 || pos !== from)) throw new CorruptArchiveError(`index entries do not tile the stream at offset ${pos}`, { archive: this.name, stream, offset: pos, stage: 'index' });
          out.push(e);
          pos = e.offset + e.length;
        }
        if (pos < to) {
          loading = tree.find(pos, signal);
          loading.catch(() => {});
        }
        yield out;
      }
    } finally {
      await loading?.catch(() => {});
    }
  }

  /**
   * Where each slot's stored blocks are and how they are opened, decoded and checked: 0 this
   * archive, k its parent k (§15.3; undefined when parents were not opened). For readers that
   * plan their own block reads (readSequential).
   * @throws WrongKeyError when the archive is encrypted and was opened without its password.
   */
  blockStores(): (import('./run-decoder.js').BlockStore | undefined)[] {
    this.requireKey();
    const own = {
      name: this.name, source: this.source, region: this.header.data, ...this.blocks.checks,
      codecs: this.platform.codecs(this.dictionary), dictionary: this.dictionary, cipher: this.cipher,
    };
    return [own, ...Array.from({ length: this.header.parents.count }, (_, k) => this.parents[k]?.blockStores()[0])];
  }

  /** Stops decode workers and closes the underlying source (and parents) if this archive opened them. */
  async close(): Promise<void> {
    await Promise.all(this.parents.map((p) => p.close()));
    await this.decoder?.close();
    if (this.ownsSource) await this.source.close?.();
    // Its block cache's memory goes to the next archive opened (see cache-segments.ts).
    this.blocks.release();
  }

  /**
   * Loads stored entries, each from the archive that holds its bytes: slot 0 from this one,
   * slot k from the parent of slot k (one hop, verified by the entry's hash there, §15.3).
   * The results are the caller's to keep.
   */
  private async loadBlocks(entries: IndexEntry[], stream: StreamName, signal?: AbortSignal): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array(entries.length);
    await this.eachSlot(entries, stream, signal, (loader, group, idx) => loader.load(group, stream, signal).then((datas) => idx.forEach((i, k) => (out[i] = datas[k]))));
    // A SLICE entry's bytes are its part of the decoded block (§5).
    entries.forEach((e, i) => {
      if (e.kind === EntryKind.SLICE) out[i] = out[i].subarray(e.skip, e.skip + e.length);
    });
    return out;
  }

  /**
   * Loads stored entries as {@link loadBlocks} does and calls `place(i, bytes)` for each, as
   * soon as its archive's group is loaded: the bytes are valid only during the call (the block
   * cache reuses its buffers), so `place` copies them.
   */
  private useBlocks(entries: IndexEntry[], stream: StreamName, signal: AbortSignal | undefined, place: (i: number, data: Uint8Array) => void): Promise<void> {
    if (entries.every((e) => e.slot === 0)) return this.blocks.use(entries, stream, signal, (datas) => datas.forEach((d, i) => place(i, d)));
    return this.eachSlot(entries, stream, signal, (loader, group, idx) => loader.use(group, stream, signal, (datas) => idx.forEach((i, k) => place(i, datas[k]))));
  }

  /** Runs `fn` for the entries of each slot, with the loader of the archive of that slot. */
  private async eachSlot(entries: IndexEntry[], stream: StreamName, signal: AbortSignal | undefined, fn: (loader: BlockLoader, group: IndexEntry[], idx: number[]) => Promise<unknown>): Promise<void> {
    const bySlot = new Map<number, number[]>();
    entries.forEach((e, i) => {
      const list = bySlot.get(e.slot);
      if (list) list.push(i);
      else bySlot.set(e.slot, [i]);
    });
    await Promise.all([...bySlot].map(([slot, idx]) => {
      let loader = this.blocks;
      if (slot !== 0) {
        const parent = this.parents[slot - 1];
        if (!parent) throw new MissingParentError(`parent ${slot} was not opened (openParents: false)`, { archive: this.name, stream, stage: 'parents' });
        loader = parent.blocks;
      }
      return fn(loader, idx.map((i) => entries[i]), idx);
    }));
  }

  private requireKey(): void {
    if (this.locked) throw new WrongKeyError('archive is encrypted: a password is needed', { archive: this.name, stage: 'key' });
  }

  private record(stream: StreamName) {
    const i = streamIndex(stream);
    const r = i >= 0 ? this.header.streams[i] : undefined;
    if (!r?.present) throw new UsageError(`archive has no ${stream} stream`, { archive: this.name, stream });
    return r;
  }

  private async collect(stream: StreamName, from: number, to: number, signal?: AbortSignal): Promise<IndexEntry[]> {
    const tree = this.trees[streamIndex(stream)]!;
    const out: IndexEntry[] = [];
    let pos = from;
    while (pos < to) {
      let { leaf, index } = (!signal?.aborted && tree.findNow(pos)) || await tree.find(pos, signal);
      for (; index < leaf.count && pos < to; index++) {
        const e = tree.entry(leaf, index);
        if (e.offset !== pos && out.length > 0) throw new CorruptArchiveError(`index entries do not tile the stream at offset ${pos}`, { archive: this.name, stream, offset: pos, stage: 'index' });
        out.push(e);
        pos = e.offset + e.length;
      }
    }
    return out;
  }

  private prefetch(stream: StreamName, from: number): void {
    const to = Math.min(from + this.readAhead, this.size(stream));
    this.collect(stream, from, to).then((es) => {
      this.blocks.prefetch(es.filter((e) => e.slot === 0), stream);
      for (const [k, p] of this.parents.entries()) {
        const mine = es.filter((e) => e.slot === k + 1);
        if (mine.length) p.blocks.prefetch(mine, stream);
      }
    }, () => {});
  }
}

function streamIndex(stream: StreamName): number {
  return STREAM_NAMES.indexOf(stream);
}
