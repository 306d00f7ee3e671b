import { Readable } from 'node:stream';
import { CODEC_NAMES, EntryKind, HEADER_SIZE, HEADER_TAG_VERSION, MAGIC, STREAM_NAMES, type StreamName } from '../format/constants.js';
import { bytesEqual, toHex } from '../format/digest.js';
import type { IndexEntry } from '../format/entry.js';
import { decodeHeader, type Header } from '../format/header.js';
import { blake3 } from '../hash/blake3.js';
import { FileSource } from '../store/file-source.js';
import { openSource, type SourceOptions } from '../store/open-source.js';
import { parentOf } from '../store/locations.js';
import { PinnedRangeSource } from '../store/pinned-range-source.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, HexzError, MissingParentError, UsageError, WrongKeyError } from '../errors.js';
import { ArchiveCipher } from '../crypto/archive-cipher.js';
import { contentHasher, deriveArchiveKeys } from '../crypto/archive-keys.js';
import { unlockEnvelope } from '../crypto/key-envelope.js';
import { headerTagMatches } from '../crypto/header-tag.js';
import type { KdfLimits } from '../crypto/kdf-limits.js';
import { SealError } from '../crypto/object-cipher.js';
import { decodeParentsTable, type ParentRecord } from '../format/parents.js';
import { resolveParent } from './parent-resolver.js';
import { LruCache } from '../util/lru.js';
import { BlockLoader } from './block-loader.js';
import { ArchiveHandle } from './archive-handle.js';
import { IndexTree, type CachedNode, type NodeCacheKey } from './index-tree.js';
import { WorkerPool } from '../workers/worker-pool.js';

/**
 * A password, or a function asked for it only when the archive turns out to be encrypted (so a
 * caller need not read the header first to know whether to prompt: one request less remotely).
 */
export type PasswordOption = string | (() => Promise<string>);

/** Options for {@link Archive.open}. */
export interface OpenOptions {
  /** Check every block's BLAKE3 against the index when it is read (default true). */
  verify?: boolean;
  /** Byte budget of the decoded-block LRU cache (default 64 MiB; 0 disables it). */
  cacheBytes?: number;
  /** Byte budget of the index-node cache (default 16 MiB). */
  indexCacheBytes?: number;
  /** How far to read ahead, in bytes, once reads are sequential (default 1 MiB; 0 disables). */
  readAheadBytes?: number;
  /**
   * Decode and verify blocks on this many worker threads (default 0: in the calling thread).
   * Worth it for whole-stream work (extract, verify, long sequential reads), not for small
   * random reads, where the hand-off costs more than it saves.
   */
  decodeWorkers?: number;
  /**
   * Load the whole index at open, in one request, when it is at most this many bytes
   * (default 4 MiB: about 64 GiB of data in 64 KiB blocks); larger indexes are paged in node by
   * node as reads need them. 0 disables it.
   */
  preloadIndexBytes?: number;
  /**
   * Password of an encrypted archive (docs/FORMAT.md §12). Checked at open, before any node or
   * block is read: a wrong one is a WrongKeyError. Without it an encrypted archive opens for
   * its header only (`info`, `header`); reading is then a WrongKeyError.
   */
  password?: PasswordOption;
  /**
   * Unlock an encrypted archive with its 32-byte data key instead of a password (no Argon2id);
   * used for the parents of a thin snapshot, which share the child's data key (§15.3).
   */
  dataKey?: Uint8Array;
  /**
   * The most the password derivation (Argon2id) may cost before the password is checked; the
   * header sets the cost, so a crafted one could otherwise exhaust memory or hang the open.
   * Default: 1 GiB of memory and 4 GiB of work, or `HEXZ_KDF_MAX_MEMORY` / `HEXZ_KDF_MAX_WORK`.
   * Beyond it, open fails with UnsupportedError.
   */
  kdfLimits?: KdfLimits;
  /**
   * Thin snapshots (§15.4): directories to look in for parents not found at their recorded path
   * (the CLI passes `--parent-dir` and `HEXZ_PATH` here).
   */
  parentDirs?: string[];
  /** How http(s):// and s3:// locations (the archive's, its parents', search directories) are reached: fetch, S3 client, retry, cache. */
  source?: SourceOptions;
  /** Directory (path or URL) recorded parent paths are relative to; by default the archive's own (from its path or URL). */
  baseDir?: string;
  /**
   * Open the parents of a thin snapshot (default true). Parents themselves are opened with
   * false: the child's table names every archive it reads from, so chains are never walked.
   */
  openParents?: boolean;
}

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

/**
 * A readable .hxz archive. Opening reads only the 4 KiB header; index nodes and blocks are
 * loaded on demand, verified by hash and cached.
 *
 * @example
 * const a = await Archive.open('disk.hxz');
 * const bytes = await a.readAt('disk', 1 << 20, 4096);
 * await a.close();
 */
export class Archive {
  private readonly trees: (IndexTree | null)[];
  private readonly blocks: BlockLoader;
  private readonly lastEnd = [-1, -1];
  private readonly readAhead: number;
  private readonly pool: WorkerPool | undefined;

  private constructor(
    /** The storage the archive is read from. */
    readonly source: ByteSource,
    /** The decoded, checksum-verified header. */
    readonly header: Header,
    /** Size of the archive in bytes. */
    readonly fileSize: number,
    options: OpenOptions,
    private readonly ownsSource: boolean,
    /** The verified zstd dictionary (feature DICTIONARY), loaded once at open; undefined when absent. */
    readonly dictionary: Uint8Array | undefined,
    /** Seals and keys of an encrypted archive opened with its password; undefined otherwise. */
    private readonly cipher: ArchiveCipher | undefined,
    /** The header exactly as stored (first 4096 bytes): its identity (§15.2) is computed from it. */
    readonly headerBytes: Uint8Array,
  ) {
    const nodeCache = new LruCache<NodeCacheKey, CachedNode>(options.indexCacheBytes ?? 16 << 20);
    this.trees = header.streams.map((s, i) => (s.present && s.entryCount > 0 ? new IndexTree(source, i, s, fileSize, nodeCache, cipher, header.parents.count) : null));
    const keys = cipher?.keys;
    this.pool = options.decodeWorkers && !this.locked ? new WorkerPool(options.decodeWorkers, { dictionary, hashKey: keys?.hashKey, objectKey: keys?.objectKey }) : undefined;
    this.blocks = new BlockLoader(source, header.data, new LruCache(options.cacheBytes ?? 64 << 20), contentHasher(keys), options.verify ?? true, this.pool, dictionary, cipher);
    this.readAhead = options.readAheadBytes ?? 1 << 20;
  }

  /**
   * Opens an archive from a path or any {@link ByteSource}.
   * @throws NotAnArchiveError when the bytes are not a hexz archive.
   * @throws UnsupportedError for a newer version or unknown required features.
   * @throws CorruptArchiveError when the header is damaged or the file is truncated.
   * @throws StoreError when the file cannot be read.
   * @throws WrongKeyError when `password` is not the encrypted archive's.
   */
  static async open(from: string | ByteSource, options: OpenOptions = {}): Promise<Archive> {
    const source = typeof from === 'string' ? await openSource(from, options.source) : from;
    let archive: Archive | undefined;
    try {
      const size = await source.size();
      const head = await source.read(0, HEADER_SIZE);
      if (head.length < HEADER_SIZE && bytesEqual(head.subarray(0, 4), MAGIC)) {
        throw new CorruptArchiveError(`archive is truncated: ${size} bytes, shorter than its ${HEADER_SIZE}-byte header`, { stage: 'header' });
      }
      const header = decodeHeader(head, blake3);
      const extentEnd = (e: { offset: number; length: number }) => (e.length > 0 ? e.offset + e.length : 0);
      const ends = [
        header.data.offset + header.data.length, extentEnd(header.dictionary), extentEnd(header.metadata), extentEnd(header.signature), extentEnd(header.parents.table),
        ...header.streams.map((s) => (s.present ? s.rootOffset + s.rootLength : 0)),
      ];
      const need = Math.max(...ends);
      if (need > size) throw new CorruptArchiveError(`archive is truncated: ${size} bytes, its index ends at ${need}`, { stage: 'header' });
      // The password is checked before anything but the header is read (§12.2).
      let cipher: ArchiveCipher | undefined;
      if (header.encryption && (options.password !== undefined || options.dataKey)) {
        const password = typeof options.password === 'function' ? await options.password() : options.password;
        const dataKey = options.dataKey ?? await unlockEnvelope(header.encryption, password!, header.archiveId, options.kdfLimits);
        cipher = new ArchiveCipher(deriveArchiveKeys(dataKey, header.archiveId, header.version), header.archiveId);
        if (header.version >= HEADER_TAG_VERSION && !headerTagMatches(head, cipher.keys)) {
          throw new CorruptArchiveError('header fails authentication: it was altered after the archive was written (header tag mismatch)', { stage: 'header' });
        }
      }
      // The writer puts the index after the data region; if it is small, pin it in memory with
      // one request (every node is still verified against its hash when it is decoded).
      const indexStart = header.data.offset + header.data.length;
      const preload = options.preloadIndexBytes ?? DEFAULT_PRELOAD_INDEX;
      const reader = size > indexStart && size - indexStart <= preload && !(header.encryption && !cipher)
        ? new PinnedRangeSource(source, indexStart, await source.read(indexStart, size - indexStart))
        : source;
      const dictionary = header.encryption && !cipher ? undefined : await loadDictionary(source, header, cipher);
      archive = new Archive(reader, header, size, options, typeof from === 'string', dictionary, cipher, head.slice(0, HEADER_SIZE));
      if (header.parents.count > 0) {
        archive.parentRecords = await loadParentsTable(reader, header);
        if (options.openParents ?? true) {
          // Recorded parent paths are relative to the archive's directory or URL (a FileSource is named by its path).
          const location = typeof from === 'string' ? from : from instanceof FileSource ? from.name : undefined;
          const baseDir = options.baseDir ?? (location === undefined ? undefined : parentOf(location));
          archive.parents = await openParentArchives(archive, archive.parentRecords, baseDir, options);
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
    const { offset, length } = this.header.metadata;
    if (length === 0) return null;
    this.requireKey();
    const stored = await this.source.read(offset, length);
    const corrupt = (what: string, cause?: unknown) => new CorruptArchiveError(`metadata ${what}`, { archive: this.name, stage: 'metadata', fileOffset: offset }, { cause });
    if (stored.length !== length || !bytesEqual(blake3(stored), this.header.metadataHash)) throw corrupt('hash mismatch');
    let plain = stored;
    if (this.cipher) {
      try {
        plain = this.cipher.openMetadata(stored);
      } catch (err) {
        throw corrupt('fails authentication (AES-GCM tag mismatch)', err);
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
    } catch (err) {
      throw corrupt('is not valid UTF-8 JSON', err);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('is not a JSON object');
    return value as Record<string, unknown>;
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
  async readAt(stream: StreamName, offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const size = this.size(stream);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new UsageError(`read of ${length} bytes at offset ${offset} is outside stream ${stream} (${size} bytes)`, { archive: this.name, stream, offset });
    }
    this.requireKey();
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const i = streamIndex(stream);
    const entries = await this.collect(stream, offset, offset + length, options.signal);
    const stored = entries.filter((e) => e.kind !== EntryKind.ZERO);
    const datas = stored.length ? await this.loadBlocks(stored, stream, options.signal) : [];
    stored.forEach((e, k) => {
      const from = Math.max(offset, e.offset);
      const to = Math.min(offset + length, e.offset + e.length);
      out.set(datas[k].subarray(from - e.offset, to - e.offset), from - offset);
    });
    const end = offset + length;
    if (this.readAhead > 0 && offset === this.lastEnd[i] && end < size) this.prefetch(stream, end);
    this.lastEnd[i] = end;
    return out;
  }

  /**
   * A Node Readable over `stream`, from byte `start` to byte `end` INCLUSIVE (like
   * fs.createReadStream); defaults to the whole stream.
   */
  createReadStream(stream: StreamName, options: { start?: number; end?: number; chunkSize?: number; signal?: AbortSignal } = {}): Readable {
    const size = this.size(stream);
    const start = options.start ?? 0;
    const stop = Math.min(options.end === undefined ? size : options.end + 1, size);
    const chunk = options.chunkSize ?? Math.max(this.header.blockSize, 1 << 20);
    let pos = start;
    const self = this;
    return new Readable({
      highWaterMark: chunk,
      signal: options.signal,
      async read() {
        try {
          if (pos >= stop) return void this.push(null);
          const n = Math.min(chunk, stop - pos);
          const bytes = await self.readAt(stream, pos, n, { signal: options.signal });
          pos += n;
          this.push(bytes);
        } catch (err) {
          this.destroy(err as Error);
        }
      },
    });
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
   * Decoded (and, unless disabled, verified) bytes of the given non-zero entries, in order.
   * @throws CorruptArchiveError when a block fails to decode or verify.
   */
  readEntries(stream: StreamName, entries: IndexEntry[], signal?: AbortSignal): Promise<Uint8Array[]> {
    this.requireKey();
    return this.loadBlocks(entries, stream, signal);
  }

  /** Stops decode workers and closes the underlying source (and parents) if this archive opened them. */
  async close(): Promise<void> {
    await Promise.all(this.parents.map((p) => p.close()));
    await this.pool?.close();
    if (this.ownsSource) await this.source.close?.();
  }

  /**
   * Loads stored entries, each from the archive that holds its bytes: slot 0 from this one,
   * slot k from the parent of slot k (one hop, verified by the entry's hash there, §15.3).
   */
  private async loadBlocks(entries: IndexEntry[], stream: StreamName, signal?: AbortSignal): Promise<Uint8Array[]> {
    if (entries.every((e) => e.slot === 0)) return this.blocks.load(entries, stream, signal);
    const out: Uint8Array[] = new Array(entries.length);
    const bySlot = new Map<number, number[]>();
    entries.forEach((e, i) => {
      const list = bySlot.get(e.slot);
      if (list) list.push(i);
      else bySlot.set(e.slot, [i]);
    });
    await Promise.all([...bySlot].map(async ([slot, idx]) => {
      const group = idx.map((i) => entries[i]);
      let datas: Uint8Array[];
      if (slot === 0) datas = await this.blocks.load(group, stream, signal);
      else {
        const parent = this.parents[slot - 1];
        if (!parent) throw new MissingParentError(`parent ${slot} was not opened (openParents: false)`, { archive: this.name, stream, stage: 'parents' });
        datas = await parent.blocks.load(group, stream, signal);
      }
      idx.forEach((i, k) => (out[i] = datas[k]));
    }));
    return out;
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
      let { leaf, index } = await tree.find(pos, signal);
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

/**
 * Reads, hash-checks and decodes a thin snapshot's parents table (§15.1–§15.2).
 * @throws CorruptArchiveError when it lies outside the file, fails its hash or does not decode.
 */
async function loadParentsTable(source: ByteSource, header: Header): Promise<ParentRecord[]> {
  const { table, tableHash, count } = header.parents;
  const bytes = await source.read(table.offset, table.length);
  if (bytes.length !== table.length) throw new CorruptArchiveError('archive is truncated: the parents table lies beyond the end of the file', { stage: 'parents', fileOffset: table.offset });
  if (!bytesEqual(blake3(bytes), tableHash)) throw new CorruptArchiveError('parents table hash mismatch', { stage: 'parents', fileOffset: table.offset });
  return decodeParentsTable(bytes, count);
}

/**
 * Finds and opens the archive of every slot (§15.4), each checked against its recorded id and
 * identity, unlocked with the child's data key when the chain is encrypted.
 * @throws MissingParentError when one is missing, replaced or modified.
 */
async function openParentArchives(child: Archive, records: ParentRecord[], baseDir: string | undefined, options: OpenOptions): Promise<Archive[]> {
  const dataKey = child.dataKey;
  const parentOptions: OpenOptions = {
    verify: options.verify, cacheBytes: Math.min(options.cacheBytes ?? 64 << 20, 32 << 20), readAheadBytes: 0, preloadIndexBytes: 0,
    // Parents decode in the calling thread: a pool per parent would multiply threads by chain depth.
    decodeWorkers: 0, dataKey, openParents: false, source: options.source,
  };
  const opened: Archive[] = [];
  try {
    for (const record of records) {
      const { archive } = await resolveParent(record, {
        baseDir, searchDirs: options.parentDirs ?? [], sourceOptions: options.source,
        open: (path) => Archive.open(path, parentOptions),
      }, child.name);
      if (child.encrypted !== archive.encrypted) {
        await archive.close();
        throw new CorruptArchiveError(`parent ${record.slot} is ${archive.encrypted ? '' : 'not '}encrypted but this archive is${child.encrypted ? '' : ' not'}`, { archive: child.name, stage: 'parents' });
      }
      opened.push(archive);
    }
    return opened;
  } catch (err) {
    await Promise.all(opened.map((a) => a.close()));
    throw err;
  }
}

/** Default of {@link OpenOptions.preloadIndexBytes}: 4 MiB of index, ~64 GiB of data in 64 KiB blocks. */
const DEFAULT_PRELOAD_INDEX = 4 << 20;

function streamIndex(stream: StreamName): number {
  return STREAM_NAMES.indexOf(stream);
}

/**
 * Reads and verifies the archive's zstd dictionary (§8.1): its stored bytes must hash to the
 * BLAKE3-256 recorded in the header, because every zstd block depends on it; in an encrypted
 * archive they are then unsealed (§12.4).
 * @throws CorruptArchiveError when the hash differs or the seal does not open.
 */
async function loadDictionary(source: ByteSource, header: Header, cipher: ArchiveCipher | undefined): Promise<Uint8Array | undefined> {
  const { offset, length } = header.dictionary;
  if (length === 0) return undefined;
  const bytes = await source.read(offset, length);
  if (bytes.length !== length || !bytesEqual(blake3(bytes), header.dictionaryInfo.hash)) {
    throw new CorruptArchiveError('dictionary hash mismatch', { stage: 'dictionary', fileOffset: offset });
  }
  if (!cipher) return bytes.slice();
  try {
    return cipher.openDictionary(bytes);
  } catch (err) {
    if (!(err instanceof SealError)) throw err;
    throw new CorruptArchiveError('dictionary fails authentication (AES-GCM tag mismatch)', { stage: 'dictionary', fileOffset: offset }, { cause: err });
  }
}
