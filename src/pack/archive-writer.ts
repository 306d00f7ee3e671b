import { randomBytes } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import {
  Chunker, type CodecId, EntryKind, FORMAT_VERSION, HEADER_SIZE, MAX_ZERO_RUN,
  OptionalFeature, PROFILE_NAMES, type ProfileName, RequiredFeature, SEAL_OVERHEAD, STREAM_NAMES, type StreamName,
} from '../format/constants.js';
import { emptyDictionaryInfo, emptyStreamRecord, encodeHeader, type DictionaryInfo, type Header, type StreamRecord } from '../format/header.js';
import type { IndexEntry } from '../format/entry.js';
import { blake3 } from '../hash/blake3.js';
import type { EncryptionParams } from '../format/encryption-params.js';
import { emptyParentsInfo, encodeParentsTable, type ParentRecord } from '../format/parents.js';
import { ArchiveCipher } from '../crypto/archive-cipher.js';
import { deriveArchiveKeys } from '../crypto/archive-keys.js';
import { sealHeaderTag } from '../crypto/header-tag.js';
import { liveTempFiles } from '../store/live-temp-files.js';
import { AtomicFile } from '../store/atomic-file.js';
import type { ByteSink } from '../store/types.js';
import type { S3ClientLike } from '../store/s3-client.js';
import { UsageError, wrapIoError } from '../errors.js';
import { buildTree, LeafBuilder, type NodeSealer } from './index-builder.js';
import { entryBound, frontAreaSize, levelsAbove, planFront, treeBytes } from './front-index.js';

/** Options fixed for the whole archive. */
export interface ArchiveWriterOptions {
  /** Overwrite an existing output. */
  force?: boolean;
  /** The S3 client for an s3:// output (default: from the AWS environment). */
  s3Client?: S3ClientLike;
  /** Cancels an s3:// output's requests. */
  signal?: AbortSignal;
  /** Nominal block size in bytes. */
  blockSize: number;
  /** Default codec and level, recorded in the header. */
  codec: CodecId;
  level: number;
  /** Content-defined chunk bounds in bytes when the packer used FastCDC (§3.2); fixed blocks otherwise. */
  cdc?: { min: number; avg: number; max: number };
  /** The `--profile` preset the packer started from, recorded at header byte 47 (default 'custom'). */
  profile?: ProfileName;
  /**
   * A trained zstd dictionary: stored right after the header (§7), hashed into the header, and
   * the DICTIONARY feature set. The caller compresses zstd blocks with it.
   */
  dictionary?: { bytes: Uint8Array; info: Omit<DictionaryInfo, 'hash'> };
  /**
   * Encrypt the archive (docs/FORMAT.md §12): `params` is the key envelope written at header
   * 128..256 and `dataKey` the 32-byte key it wraps. The caller hashes blocks with the keyed
   * content hash of that key (crypto/archive-keys.ts); the writer seals every stored object.
   * Needs `archiveId`, since the envelope and the object key are bound to it.
   */
  encryption?: { params: EncryptionParams; dataKey: Uint8Array };
  /**
   * A thin snapshot's parents table (§15.2), slots 1.. in order (slot 1 = the direct parent):
   * stored after the metadata; {@link addDedup} refs with `slot` ≠ 0 point into these archives.
   */
  parents?: ParentRecord[];
  /**
   * Logical sizes of the streams that will be written, when known. They bound the index, which
   * sizes the front index area after the header (§7): small archives get an area just big
   * enough for their whole index. A stream whose size is unknown (a pipe), or no sizes at all,
   * gets the largest area. Only the area's size depends on them: any value gives a valid archive.
   */
  streamSizes?: Partial<Record<StreamName, number | undefined>>;
  /** The metadata object (§13), stored as JSON after the index; sealed when encrypted. */
  metadata?: Record<string, unknown>;
  /** 16-byte archive id; random by default (fixed only for golden vectors). */
  archiveId?: Uint8Array;
  /** Creation time in ms since the epoch; `Date.now()` by default. */
  createdMs?: number;
}

/** Where a stored block lives, so later duplicates can point at it. */
export interface StoredRef {
  /** 0 = this archive; k = the archive of parents-table slot k (a thin snapshot's parent, §15.3). */
  slot?: number;
  storedOffset: number;
  storedLength: number;
  encoding: CodecId;
}

const WRITE_BUFFER = 4 * 1024 * 1024;
/** Index nodes buffered before a write to the spool. */
const SPOOL_BUFFER = 1 << 20;
const ZERO_HASH = new Uint8Array(32);

/**
 * Where the parts at the start of an archive go (§7): the dictionary's stored length (sealed
 * when encrypted) at 4096, then the front index area, then the data region.
 */
function frontLayout(options: ArchiveWriterOptions): { dictionaryBytes: number; frontStart: number; frontBytes: number; dataStart: number } {
  const overhead = options.encryption ? SEAL_OVERHEAD : 0;
  const dictionaryBytes = options.dictionary ? options.dictionary.bytes.length + overhead : 0;
  const sizes = options.streamSizes;
  const bound = sizes === undefined ? Infinity : Object.values(sizes)
    .reduce((n, size) => n + treeBytes(entryBound(size, options.blockSize, options.cdc?.min), overhead), 0);
  const frontStart = HEADER_SIZE + dictionaryBytes;
  const frontBytes = frontAreaSize(bound, dictionaryBytes);
  return { dictionaryBytes, frontStart, frontBytes, dataStart: frontStart + frontBytes };
}

/**
 * Writes a .hxz archive: stored blocks first (the data region, after the header, the dictionary
 * and the front index area), then each stream's index (its top, or all of it, in the front
 * area), then the header at offset 0. Entries must be added in logical order, one stream at a
 * time. The file appears at its path only when {@link finalize} succeeds; {@link abort}
 * removes everything.
 */
export class ArchiveWriter {
  private readonly header: Header;
  /** The dictionary as stored (sealed when encrypted), written at 4096 at finalize. */
  private readonly dictStored: Uint8Array | undefined;
  /** The front index area (§7): [frontStart, frontStart + frontBytes), right before the data region. */
  private readonly frontStart: number;
  private readonly frontBytes: number;
  /** Where the data region starts: after the header, the dictionary and the front index area. */
  private readonly dataStart: number;
  private dataEnd: number;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private spoolEnd = 0;
  /** Spool nodes not written yet (at spoolEnd onwards), and their bytes. */
  private spoolPending: Uint8Array[] = [];
  private spoolPendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private current: { index: number; record: StreamRecord; leaves: LeafBuilder; offset: number; zeroRun: number } | null = null;
  private readonly finished: { index: number; record: StreamRecord; leaves: LeafBuilder }[] = [];
  /** Seals stored objects when the archive is encrypted. */
  private readonly cipher: ArchiveCipher | undefined;
  private readonly metadata: Record<string, unknown> | undefined;
  private readonly parentRecords: ParentRecord[] | undefined;

  private constructor(private readonly out: ByteSink, private readonly spool: FileHandle, private readonly spoolPath: string, options: ArchiveWriterOptions) {
    const dict = options.dictionary;
    const archiveId = options.archiveId ?? randomBytes(16);
    if (options.encryption && !options.archiveId) throw new UsageError('an encrypted archive needs its archive id up front');
    this.cipher = options.encryption ? new ArchiveCipher(deriveArchiveKeys(options.encryption.dataKey, archiveId), archiveId) : undefined;
    this.metadata = options.metadata;
    this.parentRecords = options.parents?.length ? options.parents : undefined;
    // Encoded now so a bad table fails before any data is written.
    if (this.parentRecords) encodeParentsTable(this.parentRecords);
    const dictStored = dict && this.cipher ? this.cipher.sealDictionary(dict.bytes) : dict?.bytes;
    const layout = frontLayout(options);
    if ((dictStored?.length ?? 0) !== layout.dictionaryBytes) throw new Error('internal: the stored dictionary\'s length differs from the planned one');
    this.dictStored = dictStored;
    this.frontStart = layout.frontStart;
    this.frontBytes = layout.frontBytes;
    this.dataStart = this.dataEnd = layout.dataStart;
    const required = (options.cdc ? RequiredFeature.CDC : 0) | (dict ? RequiredFeature.DICTIONARY : 0) | (this.cipher ? RequiredFeature.ENCRYPTED : 0)
      | (this.parentRecords ? RequiredFeature.THIN : 0);
    this.header = {
      version: FORMAT_VERSION, requiredFeatures: required, optionalFeatures: OptionalFeature.MERGED_ZERO_RUNS,
      archiveId, createdMs: options.createdMs ?? Date.now(),
      blockSize: options.blockSize, codec: options.codec, level: options.level,
      chunker: options.cdc ? Chunker.FASTCDC : Chunker.FIXED, profile: PROFILE_NAMES.indexOf(options.profile ?? 'custom'),
      chunkMin: options.cdc?.min ?? 0, chunkAvg: options.cdc?.avg ?? 0, chunkMax: options.cdc?.max ?? 0,
      data: { offset: this.dataStart, length: 0 },
      dictionary: dictStored ? { offset: HEADER_SIZE, length: dictStored.length } : { offset: 0, length: 0 },
      // The dictionary hash is of its stored bytes (sealed when encrypted, §12.4).
      dictionaryInfo: dict ? { id: dict.info.id, sampleBytes: dict.info.sampleBytes, sampleStoredPlain: dict.info.sampleStoredPlain, sampleStoredDict: dict.info.sampleStoredDict, hash: blake3(dictStored!) } : emptyDictionaryInfo(),
      metadata: { offset: 0, length: 0 }, metadataHash: new Uint8Array(32), signature: { offset: 0, length: 0 },
      encryption: options.encryption?.params ?? null, streams: STREAM_NAMES.map(() => emptyStreamRecord()), parents: emptyParentsInfo(),
    };
  }

  /**
   * Creates the temporary output (and an index spool file) beside `path`, or, for an
   * s3://bucket/key `path`, a multipart upload that streams the archive (the part holding the
   * header, the dictionary and the front index area last; the spool in the system temp directory).
   * @throws UsageError when `path` exists without `force`, or is an http(s):// URL; StoreError on I/O failure.
   */
  static async create(path: string, options: ArchiveWriterOptions): Promise<ArchiveWriter> {
    let out: ByteSink;
    if (/^s3:\/\//i.test(path)) {
      // Loaded only for S3 outputs: local packs never load the AWS SDK.
      const { S3Output } = await import('../store/s3-output.js');
      // Everything before the data region is written at finalize: it is held back with the header.
      out = await S3Output.create(path, { force: options.force, client: options.s3Client, signal: options.signal, headBytes: frontLayout(options).dataStart });
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
      throw new UsageError(`${path}: archives can be written to files and s3:// only`);
    } else out = await AtomicFile.create(path, options);
    const spoolPath = `${out.scratchPath}.index`;
    try {
      const spool = await open(spoolPath, 'w+', 0o600);
      liveTempFiles.add(spoolPath);
      return new ArchiveWriter(out, spool, spoolPath, options);
    } catch (err) {
      await out.abort();
      throw wrapIoError(err, path, 'create');
    }
  }

  /** Path of the temporary file, or of the local scratch name of a remote output (for tests that check cleanup). */
  get tempPath(): string {
    return this.out.scratchPath;
  }

  /** Starts a stream; streams may be written in any order but each only once. */
  beginStream(name: StreamName): void {
    const index = STREAM_NAMES.indexOf(name);
    if (this.current || this.header.streams[index].present) throw new UsageError(`stream ${name} already written`);
    const record = this.header.streams[index];
    record.present = true;
    this.current = { index, record, offset: 0, zeroRun: 0, leaves: new LeafBuilder(index, (b) => this.appendSpool(b), blake3, this.nodeSealer(index)) };
  }

  /** Adds `length` zero bytes (merged with neighbouring zero runs into one entry). */
  async addZero(length: number): Promise<void> {
    const s = this.stream();
    s.zeroRun += length;
    s.record.stats.zeroBytes += length;
    while (s.zeroRun >= MAX_ZERO_RUN) await this.emitZero(MAX_ZERO_RUN);
  }

  /**
   * Appends a block's encoded bytes to the data region (sealed first when the archive is
   * encrypted) and indexes it as DATA. `hash` is the content hash of the `length` logical bytes.
   * @returns where the bytes were stored, for later duplicates.
   */
  async addData(length: number, hash: Uint8Array, encoding: CodecId, encoded: Uint8Array): Promise<StoredRef> {
    const s = this.stream();
    await this.flushZero();
    const stored = this.cipher ? this.cipher.sealBlock(encoded, this.dataEnd, length, encoding, hash) : encoded;
    const ref = { storedOffset: this.dataEnd, storedLength: stored.length, encoding };
    this.pending.push(stored);
    this.pendingBytes += stored.length;
    this.dataEnd += stored.length;
    if (this.pendingBytes >= WRITE_BUFFER) await this.flushData();
    s.record.stats.dataBlocks++;
    if (encoding === 0) s.record.stats.rawBlocks++;
    s.record.stats.storedBytes += stored.length;
    await this.addEntry({ length, kind: EntryKind.DATA, hash, ...ref, skip: 0, blockLength: length });
    return ref;
  }

  /**
   * Indexes a block whose content is already stored at `ref` (a duplicate), in this archive or,
   * with `ref.slot` ≠ 0, in a parent (§15.3).
   * @throws UsageError for a slot this archive's parents table does not have.
   */
  async addDedup(length: number, hash: Uint8Array, ref: StoredRef): Promise<void> {
    const s = this.stream();
    const slot = ref.slot ?? 0;
    if (slot !== 0 && (!this.parentRecords || slot > this.parentRecords.length)) throw new UsageError(`reference to parent slot ${slot}, which this archive does not have`);
    await this.flushZero();
    s.record.stats.dedupBlocks++;
    s.record.stats.dedupBytes += length;
    if (slot !== 0) this.header.parents.referencedBytes += length;
    await this.addEntryWithSlot({ length, kind: EntryKind.DEDUP, hash, encoding: ref.encoding, storedOffset: ref.storedOffset, storedLength: ref.storedLength, skip: 0, blockLength: length }, slot);
  }

  /**
   * Indexes the blocks of `entries` (DATA, DEDUP or SLICE entries of the archive in parents-table
   * slot `slot - 1`'s numbering, whose slots are shifted by `slotShift`) as references to where
   * they are stored, one after another from the current offset: what {@link addDedup} does for
   * each, without an object or a promise per entry (a thin child of a large parent lists all of
   * its clean blocks). Content hashes and stored extents are copied as they are; a SLICE stays a
   * SLICE of the same part of its block (§5), and so may an entry made by `sliceOf` (a commit
   * refers to the clean part of a block that writes touched), which sets the archive's SLICES
   * feature.
   * @throws UsageError for a ZERO entry, or a slot this archive's parents table does not have.
   */
  async addParentRefs(entries: readonly IndexEntry[], slotShift: number): Promise<void> {
    const s = this.stream();
    await this.flushZero();
    const slots = this.parentRecords?.length ?? 0;
    let bytes = 0;
    for (const e of entries) {
      const slot = e.slot + slotShift;
      if (e.kind === EntryKind.ZERO) throw new UsageError('a ZERO entry is not a reference to stored bytes');
      if (slot < 1 || slot > slots) throw new UsageError(`reference to parent slot ${slot}, which this archive does not have`);
      if (e.kind === EntryKind.SLICE) this.header.requiredFeatures |= RequiredFeature.SLICES;
      // A SLICE stays a SLICE of the same part of its block; anything else is a reference to its whole block.
      const full = s.leaves.addAt(s.offset, slot, e, e.kind === EntryKind.SLICE ? EntryKind.SLICE : EntryKind.DEDUP);
      s.offset += e.length;
      bytes += e.length;
      if (full) await s.leaves.flush();
    }
    s.record.entryCount += entries.length;
    s.record.stats.dedupBlocks += entries.length;
    s.record.stats.dedupBytes += bytes;
    this.header.parents.referencedBytes += bytes;
  }

  /** Ends the current stream. */
  async endStream(): Promise<void> {
    const s = this.stream();
    await this.flushZero();
    await s.leaves.flush();
    s.record.logicalSize = s.offset;
    this.finished.push(s);
    this.current = null;
  }

  /**
   * Writes the dictionary, the index and the header, syncs, and renames the archive into place.
   * @returns the final header and the archive's size in bytes.
   * @throws StoreError on I/O failure (the temporary files are then removed).
   */
  async finalize(): Promise<{ header: Header; fileSize: number }> {
    if (this.current) await this.endStream();
    await this.flushData();
    await this.writing;
    this.header.data = { offset: this.dataStart, length: this.dataEnd - this.dataStart };
    if (this.dictStored) await this.out.writeAt(this.dictStored, HEADER_SIZE);
    // Each level of each tree fills its planned run; writes past the data region stay in file
    // order (an S3 output is sequential there), the front area is held back with the header.
    const { at: levelAt, bytes: levelBytes } = this.placeIndex();
    const cursor = levelAt.map((levels) => levels.slice());
    for (const [i, s] of this.finished.entries()) {
      s.record.stats.indexBytes = s.leaves.bytes;
      if (s.leaves.leaves.length === 0) continue;
      // The stream's leaves were spooled back to back; they move as one run.
      const spooledAt = s.leaves.leaves[0].nodeOffset;
      await this.copySpool(spooledAt, s.leaves.bytes, levelAt[i][0]);
      cursor[i][0] += s.leaves.bytes;
    }
    for (const [i, s] of this.finished.entries()) {
      const spooledAt = s.leaves.leaves[0]?.nodeOffset ?? 0;
      const leaves = s.leaves.leaves.map((c) => ({ ...c, nodeOffset: c.nodeOffset - spooledAt + levelAt[i][0] }));
      if (leaves.length === 0) continue;
      const sink = async (bytes: Uint8Array, level: number) => {
        const at = cursor[i][level];
        await this.out.writeAt(bytes, at);
        cursor[i][level] += bytes.length;
        return at;
      };
      const root = await buildTree(s.index, leaves, sink, blake3, this.nodeSealer(s.index));
      Object.assign(s.record, { rootOffset: root.offset, rootLength: root.length, rootLevel: root.level, rootHash: root.hash });
      s.record.stats.indexBytes += root.internalBytes;
    }
    if (levelAt.some((levels, i) => levels.some((at, level) => cursor[i][level] !== at + levelBytes[i][level]))) {
      throw new Error('internal: an index level did not fill its planned place');
    }
    let end = Math.max(this.dataEnd, ...levelAt.flatMap((levels, i) => levels.map((_, level) => cursor[i][level])));
    const sink = async (bytes: Uint8Array) => {
      const at = end;
      await this.out.writeAt(bytes, at);
      end += bytes.length;
      return at;
    };
    if (this.metadata) {
      const json = new TextEncoder().encode(JSON.stringify(this.metadata));
      const stored = this.cipher ? this.cipher.sealMetadata(json) : json;
      this.header.metadata = { offset: end, length: stored.length };
      this.header.metadataHash = blake3(stored);
      await sink(stored);
    }
    if (this.parentRecords) {
      const table = encodeParentsTable(this.parentRecords);
      const p = this.header.parents;
      Object.assign(p, { count: this.parentRecords.length, table: { offset: end, length: table.length }, tableHash: blake3(table), directParentId: this.parentRecords[0].archiveId });
      await sink(table);
    }
    const headerBytes = encodeHeader(this.header, blake3);
    // The tag goes last: it covers every other header field (§12.5).
    await this.out.writeAt(this.cipher ? sealHeaderTag(headerBytes, this.cipher.keys) : headerBytes, 0);
    await this.closeSpool();
    await this.out.commit();
    return { header: this.header, fileSize: end };
  }

  /** Removes the temporary output and spool; never throws. */
  async abort(): Promise<void> {
    await this.writing.catch(() => {});
    await this.closeSpool();
    await this.out.abort();
  }

  /**
   * Where the index goes (§7): whole levels from the top (both streams' roots, then the level
   * below them, …) in the front area as long as they fit — for a small archive, every node —
   * and the rest after the data region: first the leaves not in front, in stream order, then
   * each stream's remaining internal levels bottom-up.
   * @returns `at[stream][L]`, the offset of the first node of level L (0 = the leaves) of each
   *   stream, and `bytes[stream][L]`, the bytes of that level's nodes, which follow one another.
   */
  private placeIndex(): { at: number[][]; bytes: number[][] } {
    const overhead = this.cipher ? SEAL_OVERHEAD : 0;
    const trees = this.finished.map((s) => ({ leafBytes: s.leaves.bytes, levels: levelsAbove(s.leaves.leaves.length, overhead) }));
    const depth = planFront(trees, this.frontBytes);
    const bytes = trees.map((t) => [t.leafBytes, ...t.levels.map((l) => l.bytes)]);
    const bytesAt = (i: number, level: number) => bytes[i][level];
    const inFront = (i: number, level: number) => trees[i].levels.length - level < depth;
    const at = trees.map(() => [] as number[]);
    let front = this.frontStart;
    for (let d = 0; d < depth; d++) {
      trees.forEach((t, i) => {
        const level = t.levels.length - d;
        if (t.leafBytes === 0 || level < 0) return;
        at[i][level] = front;
        front += bytesAt(i, level);
      });
    }
    if (front > this.dataStart) throw new Error(`internal: the front index area overflows (${front} > ${this.dataStart})`);
    let tail = this.dataEnd;
    const toTail = (i: number, level: number) => {
      if (inFront(i, level)) return;
      at[i][level] = tail;
      tail += bytesAt(i, level);
    };
    trees.forEach((t, i) => t.leafBytes > 0 && toTail(i, 0));
    trees.forEach((t, i) => t.levels.forEach((_, k) => toTail(i, k + 1)));
    return { at, bytes };
  }

  private nodeSealer(stream: number): NodeSealer | undefined {
    const c = this.cipher;
    return c ? (node, level, firstOffset) => c.sealNode(node, stream, level, firstOffset) : undefined;
  }

  private stream() {
    if (!this.current) throw new UsageError('no stream has been begun');
    return this.current;
  }

  private addEntry(e: Omit<IndexEntry, 'offset' | 'slot'>): Promise<void> {
    return this.addEntryWithSlot(e, 0);
  }

  private async addEntryWithSlot(e: Omit<IndexEntry, 'offset' | 'slot'>, slot: number): Promise<void> {
    const s = this.stream();
    const full = s.leaves.addAt(s.offset, slot, e);
    s.offset += e.length;
    s.record.entryCount++;
    if (full) await s.leaves.flush();
  }

  private async flushZero(): Promise<void> {
    const s = this.stream();
    if (s.zeroRun > 0) await this.emitZero(s.zeroRun);
  }

  private async emitZero(length: number): Promise<void> {
    const s = this.stream();
    s.zeroRun -= length;
    // Per ZERO entry (§4): a commit's zero pieces inside a block are not blocks of their own.
    s.record.stats.zeroBlocks += Math.ceil(length / this.header.blockSize);
    await this.addEntry({ length, kind: EntryKind.ZERO, encoding: 0, storedOffset: 0, storedLength: 0, hash: ZERO_HASH, skip: 0, blockLength: length });
  }

  /**
   * Starts writing the buffered data. One write stays in flight while the caller goes on
   * producing the next buffer; the previous write is awaited first, so memory stays bounded
   * and an I/O error surfaces at the next flush (or at finalize).
   */
  private async flushData(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    const at = this.dataEnd - this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await this.writing;
    this.writing = this.out.writeAt(buf, at);
    this.writing.catch(() => {});
  }

  /** Appends a node to the spool (buffered: a write per megabyte rather than per 16 KiB leaf). */
  private async appendSpool(bytes: Uint8Array): Promise<number> {
    const at = this.spoolEnd + this.spoolPendingBytes;
    this.spoolPending.push(bytes);
    this.spoolPendingBytes += bytes.length;
    if (this.spoolPendingBytes >= SPOOL_BUFFER) await this.flushSpool();
    return at;
  }

  /** Writes the buffered spool nodes. */
  private async flushSpool(): Promise<void> {
    if (this.spoolPendingBytes === 0) return;
    const buf = Buffer.concat(this.spoolPending, this.spoolPendingBytes);
    const at = this.spoolEnd;
    this.spoolPending = [];
    this.spoolPendingBytes = 0;
    this.spoolEnd += buf.length;
    try {
      await this.spool.write(buf, 0, buf.length, at);
    } catch (err) {
      throw wrapIoError(err, this.out.path, 'write index');
    }
  }

  /** Copies spool bytes [from, from + length) to the archive at `to`. */
  private async copySpool(from: number, length: number, to: number): Promise<void> {
    await this.flushSpool();
    const chunk = new Uint8Array(Math.min(WRITE_BUFFER, length));
    for (let done = 0; done < length; done += chunk.length) {
      const n = Math.min(chunk.length, length - done);
      const { bytesRead } = await this.spool.read(chunk, 0, n, from + done);
      if (bytesRead !== n) throw new Error(`internal: the index spool ended early (${bytesRead} of ${n} bytes at ${from + done})`);
      await this.out.writeAt(chunk.subarray(0, n), to + done);
    }
  }

  private async closeSpool(): Promise<void> {
    await this.spool.close().catch(() => {});
    await unlink(this.spoolPath).catch(() => {});
    liveTempFiles.delete(this.spoolPath);
  }
}
