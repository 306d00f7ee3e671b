import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { ArchiveWriter } from '../archive/archive-writer.js';
import type { S3ClientLike } from '../store/s3-client.js';
import { defaultLevel, parseCodecName, validateLevel } from '../codec/registry.js';
import { DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, STREAM_NAMES, type StreamName } from '../format/constants.js';
import type { Header } from '../format/header.js';
import { AbortedError, UsageError, throwIfAborted } from '../errors.js';
import { parseSize } from '../util/size.js';
import { openFileInput, openPipeInput, imageInput, streamInput, type BlockInput } from './block-input.js';
import { detectImageFormat, openImage } from '../image/open-image.js';
import type { ImageFormat } from '../image/types.js';
import type { CompressResult } from '../workers/block-task.js';
import { DedupTable } from './dedup-table.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { DEFAULT_CHUNK_PARAMS, validateChunkParams, type ChunkParams } from '../chunk/chunk-params.js';
import { cdcInput } from './cdc-input.js';
import { getProfile } from './profiles.js';
import { sampleFile, sampleStreamPrefix } from './dict-samples.js';
import { MAX_DICTIONARY_BYTES, trainZstdDictionary } from '../codec/zstd-dict-trainer.js';
import { ZstdCodec } from '../codec/zstd-codec.js';
import { Codec } from '../format/constants.js';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createEnvelope, DEFAULT_KDF, type RandomBytes } from '../crypto/key-envelope.js';
import { deriveArchiveKeys } from '../crypto/archive-keys.js';
import type { KdfParams } from '../format/encryption-params.js';
import { HEXZ_VERSION } from '../version.js';
import { openThinParent, parentSettings, seedFromParent, type ThinParent } from './parent-chain.js';
import { KnownHashes } from '../hash/known-hashes.js';

/** A packing input: a file path, or a Node Readable (a pipe, stdin). */
export type PackInput = string | Readable;

/** Progress of a running pack; sizes in bytes. */
export interface PackProgress {
  /** 'train' while sampling and training the dictionary (`--train-dict`), then 'pack'. */
  phase: 'train' | 'pack';
  /** Dictionary training time in seconds, once training has finished (0 without a dictionary). */
  trainSeconds: number;
  stream: StreamName;
  /** Input bytes consumed so far (all streams). */
  bytesDone: number;
  /** Total input bytes, when every input's size is known. */
  bytesTotal: number | undefined;
  /** Data bytes written so far (compressed). */
  storedBytes: number;
  /** Input bytes satisfied by duplicates so far. */
  dedupBytes: number;
  /** Input bytes that were zero so far. */
  zeroBytes: number;
  elapsedMs: number;
}

/** Options of {@link pack}. */
export interface PackOptions {
  /** Disk image: a raw or qcow2 file (see `diskFormat`), or a Readable of raw bytes. */
  disk?: PackInput;
  /**
   * Format of a disk given as a path: 'raw' or 'qcow2'. Detected from the file's first bytes
   * when omitted (qcow2 by its magic, raw otherwise).
   */
  diskFormat?: ImageFormat;
  /** Memory dump: always raw bytes. */
  memory?: PackInput;
  /**
   * Path of the archive to write, or s3://bucket/key: the archive then streams into S3 as a
   * multipart upload while packing (header part last, memory bounded), visible under the key
   * only once complete.
   */
  output: string;
  /** S3 client for an s3:// output or parent (default: from the AWS environment). */
  s3Client?: S3ClientLike;
  compression?: 'zstd' | 'lz4' | 'none';
  /** Codec level (zstd: -7..22, default 3). */
  level?: number;
  /** Block size: bytes or a string like '64K' (power of two, 4 KiB..4 MiB; default 64 KiB). */
  blockSize?: number | string;
  /**
   * Content-defined chunking (FastCDC, docs/FORMAT.md §3.2) instead of fixed blocks: `true` for
   * the defaults (16K/64K/128K), or bounds in bytes or size strings (missing ones default).
   * `false` forces fixed blocks even when the profile uses CDC.
   */
  cdc?: boolean | { min?: number | string; avg?: number | string; max?: number | string };
  /**
   * A preset of codec, level, block size and chunking (see src/pack/profiles.ts); options given
   * explicitly override it. Recorded in the header.
   */
  profile?: string;
  /**
   * Train a zstd dictionary from samples of the input and compress every zstd block with it
   * (docs/FORMAT.md §3.3). zstd only. Needs koffi and the system libzstd; without them, `true`
   * fails with UnsupportedError while a profile's dictionary is silently left out.
   */
  trainDict?: boolean;
  /** Worker threads for hashing and compression (default: one per core). */
  workers?: number;
  /** Deduplicate identical blocks (default true). */
  dedup?: boolean;
  /** Overwrite an existing output (default false). */
  force?: boolean;
  /**
   * Encrypt the archive (docs/FORMAT.md §12): AES-256-GCM for every block, index node, the
   * dictionary and the metadata, keyed content hashes (dedup works as without encryption), and
   * a data key wrapped under Argon2id of `password`. `kdf` overrides the Argon2id costs
   * (memory in KiB, iterations, lanes; defaults 65536/3/4). `random` replaces the random source
   * (only for reproducible output such as golden vectors).
   */
  encrypt?: { password: string; kdf?: Partial<KdfParams>; random?: RandomBytes };
  /**
   * Pack thin against this parent archive (docs/FORMAT.md §15): blocks whose content is anywhere
   * in the parent's chain are stored as references to the archive that holds them. The parent's
   * codec, level and chunking are reused unless given here (or by a profile). An encrypted
   * parent needs `encrypt` (its password, or `parentPassword`): the child shares its data key.
   */
  parent?: string;
  /** Password of an encrypted parent when it differs from `encrypt.password`. */
  parentPassword?: string;
  /** Directories to search for the parent's own parents when they are not at their recorded paths. */
  parentDirs?: string[];
  /**
   * The metadata object stored in the archive (§13). By default the tool and each input's base
   * name, format and size; given here, it replaces that (golden vectors pin it).
   */
  metadata?: Record<string, unknown>;
  onProgress?: (p: PackProgress) => void;
  signal?: AbortSignal;
  /** Fixed archive id and creation time (only for reproducible output such as golden vectors). */
  archiveId?: Uint8Array;
  createdMs?: number;
}

/** Per-stream figures of a finished pack. */
export interface PackStreamSummary {
  name: StreamName;
  logicalBytes: number;
  storedBytes: number;
  dataBlocks: number;
  rawBlocks: number;
  dedupBlocks: number;
  zeroBlocks: number;
  dedupBytes: number;
  zeroBytes: number;
}

/** Result of {@link pack}. */
export interface PackResult {
  output: string;
  archiveId: string;
  /** Size of the archive file in bytes. */
  archiveBytes: number;
  /** Sum of the streams' logical sizes. */
  logicalBytes: number;
  /** logicalBytes / archiveBytes. */
  ratio: number;
  seconds: number;
  compression: 'zstd' | 'lz4' | 'none';
  level: number;
  blockSize: number;
  /** Chunk bounds in bytes when content-defined chunking was used. */
  cdc: ChunkParams | null;
  profile: string;
  /** The trained dictionary, or null. `gain` = sample bytes compressed without it / with it. */
  dictionary: { bytes: number; id: number; trainSeconds: number; sampleBytes: number; gain: number } | null;
  workers: number;
  dedup: boolean;
  /** A thin pack's parent, its slot count, and the logical bytes referenced in the chain; else null. */
  thin: { parent: string; parentId: string; slots: number; referencedBytes: number } | null;
  /** The Argon2id costs and the time they took, when the archive is encrypted; else null. */
  encryption: { kdf: KdfParams; kdfSeconds: number } | null;
  streams: PackStreamSummary[];
  header: Header;
}

/**
 * Blocks in flight: about 16 MiB of input, at least 4 and at most 64 per worker. Deep enough
 * that workers never starve while the main thread reads or writes, bounded so memory stays flat.
 */
function inFlightLimit(workers: number, blockSize: number): number {
  return Math.min(workers * 64, Math.max(workers * 4, Math.floor((16 << 20) / blockSize)));
}

/**
 * Packs a disk image and/or a memory dump into a .hxz archive. The archive is written to a
 * temporary file beside `output` and renamed into place only when complete and synced; on
 * any error or abort nothing is left at `output`.
 *
 * @example
 * const r = await pack({ disk: 'vm.raw', output: 'vm.hxz', onProgress: (p) => console.log(p.bytesDone) });
 * @throws UsageError for bad options or an existing output without `force`.
 * @throws StoreError when an input cannot be read or the output cannot be written.
 * @throws CorruptImageError / UnsupportedError when a qcow2 disk is damaged or uses a feature
 *   hexz cannot read.
 * @throws AbortedError when `signal` aborts.
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  if (options.parent === undefined) return packWith(options, undefined);
  const started = Date.now();
  if (options.encrypt && typeof options.encrypt.password !== 'string') throw new UsageError('encryption needs a password');
  const thin = await openThinParent(options.parent, options.output, {
    password: options.parentPassword ?? options.encrypt?.password, parentDirs: options.parentDirs,
  });
  try {
    if (thin.archive.encrypted !== !!options.encrypt) {
      throw new UsageError(thin.archive.encrypted
        ? `parent ${options.parent} is encrypted: pack the child with --encrypt (it shares the parent's data key)`
        : `parent ${options.parent} is not encrypted: an encrypted child cannot refer to it (their content hashes differ)`);
    }
    if (options.archiveId && Buffer.from(options.archiveId).equals(Buffer.from(thin.archive.archiveId))) {
      throw new UsageError('a thin archive needs an archive id of its own, not its parent\'s');
    }
    const r = await packWith(withParentSettings(options, thin), thin);
    return { ...r, seconds: (Date.now() - started) / 1000 };
  } finally {
    await thin.archive.close();
  }
}

/** `options` with the parent's codec, level and chunking filled in where neither they nor a profile say. */
function withParentSettings(options: PackOptions, thin: ThinParent): PackOptions {
  if (options.profile !== undefined) return options;
  const p = parentSettings(thin.archive);
  const compression = options.compression ?? p.compression;
  const chunking = options.cdc === undefined && options.blockSize === undefined ? (p.cdc ? { cdc: p.cdc } : { blockSize: p.blockSize }) : {};
  return { ...options, compression, level: options.level ?? (compression === p.compression ? p.level : undefined), ...chunking };
}

async function packWith(options: PackOptions, thin: ThinParent | undefined): Promise<PackResult> {
  const started = Date.now();
  const profile = options.profile === undefined ? undefined : getProfile(options.profile);
  const compression = options.compression ?? profile?.compression ?? 'zstd';
  const codec = parseCodecName(compression);
  // A profile's level belongs to its codec; an explicit other codec gets its own default.
  const profileLevel = profile && profile.compression === compression ? profile.level : undefined;
  const level = validateLevel(codec, options.level ?? profileLevel ?? defaultLevel(codec));
  const cdc = resolveCdc(options.cdc, profile?.cdc);
  // With CDC the header's block size is the smallest legal power of two that holds the largest
  // chunk (§3.2); it is also the granularity at which holes are skipped.
  const blockSize = cdc ? Math.min(MAX_BLOCK_SIZE, Math.max(MIN_BLOCK_SIZE, 2 ** Math.ceil(Math.log2(cdc.max)))) : parseSize(options.blockSize ?? profile?.blockSize ?? DEFAULT_BLOCK_SIZE);
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new UsageError(`block size must be a power of two from 4K to 4M, got ${blockSize}`);
  }
  if (cdc && options.blockSize !== undefined) throw new UsageError('--block-size and --cdc exclude each other: CDC chunk sizes come from --min-chunk/--avg-chunk/--max-chunk');
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError(`workers must be from 1 to 256, got ${workers}`);
  if (!options.disk && !options.memory) throw new UsageError('nothing to pack: give a disk and/or a memory input');
  if (options.diskFormat !== undefined && options.diskFormat !== 'raw' && options.diskFormat !== 'qcow2') {
    throw new UsageError(`disk format must be raw or qcow2, got '${String(options.diskFormat)}'`);
  }
  if (options.diskFormat === 'qcow2' && options.disk !== undefined && typeof options.disk !== 'string') {
    throw new UsageError('a qcow2 disk must be given as a path, not a stream');
  }
  if (options.trainDict && codec !== Codec.ZSTD) throw new UsageError(`--train-dict needs zstd compression, not ${compression}`);
  // A profile's dictionary applies only when it is the profile's codec that is used.
  const profileDict = !!profile?.dictionary && options.trainDict === undefined && codec === Codec.ZSTD;
  const dedup = options.dedup ?? true;
  const signal = options.signal;
  throwIfAborted(signal, 'pack');

  const inputs: { name: StreamName; input: BlockInput; format: ImageFormat }[] = [];
  let writer: ArchiveWriter | undefined;
  let pool: WorkerPool | undefined;
  try {
    const wantDict = options.trainDict === true || profileDict;
    const samples: Uint8Array[] = [];
    // Samples are cut at the size blocks will have (capped: zstd gains little from longer ones).
    const pieceSize = Math.min(cdc ? cdc.avg : blockSize, 128 << 10);
    if (wantDict) options.onProgress?.({ ...idleProgress(inputs[0]?.name ?? 'disk'), phase: 'train' });
    for (const name of STREAM_NAMES) {
      const src = options[name];
      if (!src) continue;
      // Detected once here (qcow2 by its magic); the input, sampling and metadata all use it.
      const format: ImageFormat = name === 'disk' && typeof src === 'string' ? (options.diskFormat ?? (await detectImageFormat(src).catch(() => 'raw' as const))) : 'raw';
      let input = typeof src === 'string' ? await openPathInput(src, format, blockSize) : streamInput(src, `${name} stream`, blockSize);
      // A pipe may stall for ever: abort destroys the input, which ends the wait for its next block.
      const opened = input;
      if (opened.size === undefined && signal) signal.addEventListener('abort', () => void opened.close().catch(() => {}), { once: true });
      inputs.push({ name, input, format });
      if (wantDict) {
        const rawFile = typeof src === 'string' && input.size !== undefined && format === 'raw';
        if (rawFile) samples.push(...(await sampleFile(src, input.size!, pieceSize)));
        else input = await takePrefix(input, pieceSize, samples);
      }
      inputs[inputs.length - 1].input = cdc ? cdcInput(input, cdc) : input;
    }
    throwIfAborted(signal, 'pack');
    const dictionary = wantDict ? await buildDictionary(samples, level, options.trainDict === true) : null;
    const trainSeconds = dictionary ? dictionary.info.trainMs / 1000 : 0;
    const random = options.encrypt?.random ?? randomBytes;
    const archiveId = options.archiveId ?? random(16);
    const kdfStarted = performance.now();
    const encryption = options.encrypt ? await makeEncryption(options.encrypt, archiveId, random, thin?.archive.dataKey) : undefined;
    const kdfSeconds = (performance.now() - kdfStarted) / 1000;
    throwIfAborted(signal, 'pack');
    writer = await ArchiveWriter.create(options.output, {
      force: options.force, s3Client: options.s3Client, signal, blockSize, codec, level, cdc: cdc ?? undefined, profile: profile?.name,
      archiveId, createdMs: options.createdMs, dictionary: dictionary ?? undefined, encryption,
      metadata: options.metadata ?? packMetadata(options, inputs), parents: thin?.records,
    });
    const keys = encryption ? deriveArchiveKeys(encryption.dataKey, archiveId) : undefined;
    // A thin pack always looks blocks up in the parent chain; `dedup` governs repeats within this archive.
    const table = dedup || thin ? new DedupTable() : null;
    // Workers skip compressing blocks the chain already holds (the table says where they are).
    const known = thin && table && (await seedFromParent(thin.archive, table, signal)) > 0 ? KnownHashes.build(table.hashList(), table.size) : undefined;
    pool = new WorkerPool(workers, { dictionary: dictionary?.bytes, hashKey: keys?.hashKey, known: known?.buffer });
    const zeros = Buffer.alloc(blockSize);
    const totalKnown = inputs.every((i) => i.input.size !== undefined);
    const progress: PackProgress = {
      phase: 'pack', trainSeconds, stream: inputs[0].name, bytesDone: 0, bytesTotal: totalKnown ? inputs.reduce((n, i) => n + i.input.size!, 0) : undefined,
      storedBytes: 0, dedupBytes: 0, zeroBytes: 0, elapsedMs: 0,
    };
    let lastReport = 0;
    const report = (force = false) => {
      const now = Date.now();
      if (!options.onProgress || (!force && now - lastReport < 100)) return;
      lastReport = now;
      options.onProgress({ ...progress, elapsedMs: now - started });
    };

    for (const { name, input } of inputs) {
      progress.stream = name;
      writer.beginStream(name);
      const queue: (Promise<CompressResult & { length: number }> | { zero: number })[] = [];
      const w = writer;
      const drainOne = async () => {
        const item = await queue.shift()!;
        if ('zero' in item) {
          await w.addZero(item.zero);
          progress.zeroBytes += item.zero;
          progress.bytesDone += item.zero;
        } else {
          const hash = new Uint8Array(item.hash);
          const known = table?.get(hash);
          if (item.known && !known) throw new Error('internal: a block the workers skipped as known is not in the dedup table');
          if (known) {
            await w.addDedup(item.length, hash, known);
            progress.dedupBytes += item.length;
          } else {
            const ref = await w.addData(item.length, hash, item.encoding, new Uint8Array(item.stored, 0, item.storedLength));
            if (dedup) table?.set(hash, ref);
            progress.storedBytes += item.storedLength;
          }
          progress.bytesDone += item.length;
        }
        report();
      };
      const limit = inFlightLimit(workers, blockSize);
      for await (const block of input.blocks()) {
        throwIfAborted(signal, 'pack');
        if (block.kind === 'zero' || isAllZero(block.bytes, zeros)) {
          queue.push({ zero: block.kind === 'zero' ? block.length : block.bytes.length });
        } else {
          const length = block.bytes.length;
          const p = pool.compress(block.bytes, codec, level).then((r) => ({ ...r, length }));
          p.catch(() => {}); // surfaced when drained, in order
          queue.push(p);
        }
        while (queue.length >= limit) await drainOne();
      }
      while (queue.length) await drainOne();
      throwIfAborted(signal, 'pack');
      await writer.endStream();
    }
    const { header, fileSize } = await writer.finalize();
    report(true);
    const logicalBytes = header.streams.reduce((n, s) => n + s.logicalSize, 0);
    return {
      output: options.output, archiveId: Buffer.from(header.archiveId).toString('hex'), archiveBytes: fileSize, logicalBytes,
      ratio: fileSize > 0 ? logicalBytes / fileSize : 0, seconds: (Date.now() - started) / 1000,
      compression, level, blockSize, cdc, profile: profile?.name ?? 'custom', workers, dedup,
      encryption: encryption ? { kdf: encryption.params.kdfParams, kdfSeconds } : null,
      thin: thin ? { parent: options.parent!, parentId: Buffer.from(thin.archive.archiveId).toString('hex'), slots: thin.records.length, referencedBytes: header.parents.referencedBytes } : null,
      dictionary: dictionary ? {
        bytes: dictionary.bytes.length, id: dictionary.info.id, trainSeconds, sampleBytes: dictionary.info.sampleBytes,
        gain: dictionary.info.sampleStoredPlain / Math.max(1, dictionary.info.sampleStoredDict),
      } : null,
      streams: STREAM_NAMES.flatMap((name, i) => {
        const s = header.streams[i];
        if (!s.present) return [];
        const { dataBlocks, rawBlocks, dedupBlocks, zeroBlocks, storedBytes, dedupBytes, zeroBytes } = s.stats;
        return [{ name, logicalBytes: s.logicalSize, storedBytes, dataBlocks, rawBlocks, dedupBlocks, zeroBlocks, dedupBytes, zeroBytes }];
      }),
      header,
    };
  } catch (err) {
    await writer?.abort();
    if (signal?.aborted && !(err instanceof AbortedError)) throw new AbortedError('pack cancelled', {}, { cause: err });
    throw err;
  } finally {
    await pool?.close();
    await Promise.all(inputs.map((i) => i.input.close().catch(() => {})));
  }
}

/** A fresh data key wrapped under the password (§12.1). */
async function makeEncryption(encrypt: NonNullable<PackOptions['encrypt']>, archiveId: Uint8Array, random: RandomBytes, inherited?: Uint8Array) {
  if (typeof encrypt.password !== 'string' || encrypt.password.length === 0) throw new UsageError('encryption needs a non-empty password');
  const kdf = { ...DEFAULT_KDF, ...encrypt.kdf };
  // A thin child shares its parent's data key, so both hash content with the same key (§15.3).
  const dataKey = inherited ?? random(32);
  return { params: await createEnvelope(encrypt.password, dataKey, archiveId, kdf, random), dataKey };
}

/** The metadata object of §13: the tool and, per stream, the input's name, format and size. */
function packMetadata(options: PackOptions, opened: { name: StreamName; input: BlockInput; format: ImageFormat }[]): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  for (const { name, input, format } of opened) {
    const src = options[name]!;
    const isPath = typeof src === 'string' && src !== '-';
    inputs[name] = { name: isPath ? basename(src) : '-', format, bytes: input.size ?? null };
  }
  return { tool: `hexz ${HEXZ_VERSION}`, inputs };
}

/** A progress record before any block is packed. */
function idleProgress(stream: StreamName): Omit<PackProgress, 'phase'> {
  return { trainSeconds: 0, stream, bytesDone: 0, bytesTotal: undefined, storedBytes: 0, dedupBytes: 0, zeroBytes: 0, elapsedMs: 0 };
}

/** Samples a stream's first bytes into `samples`; returns the input that replays them. */
async function takePrefix(input: BlockInput, pieceSize: number, samples: Uint8Array[]): Promise<BlockInput> {
  const r = await sampleStreamPrefix(input, pieceSize);
  samples.push(...r.samples);
  return r.input;
}

/** Largest sample total the gain is measured on (compressing it twice costs pack time). */
const GAIN_SAMPLE_BUDGET = 4 << 20;

/**
 * Trains the archive dictionary and measures its gain. Every 8th sample (when there are at
 * least 16) is held out of training and used to measure the gain, so the figure is not
 * flattered by the dictionary having seen the data; with fewer samples all are used for both.
 * @returns null when `required` is false and training is impossible (no libzstd, too few samples).
 * @throws UnsupportedError / UsageError from the trainer when `required`.
 */
async function buildDictionary(samples: Uint8Array[], level: number, required: boolean) {
  const holdOut = samples.length >= 16;
  const train = holdOut ? samples.filter((_, i) => i % 8 !== 7) : samples;
  const measure = holdOut ? samples.filter((_, i) => i % 8 === 7) : samples;
  const trainBytes = train.reduce((n, s) => n + s.length, 0);
  // zstd suggests samples ~100x the dictionary; never below 1 KiB, never above ~110 KiB.
  const capacity = Math.min(MAX_DICTIONARY_BYTES, Math.max(1024, Math.floor(trainBytes / 10)));
  const started = performance.now();
  let trained;
  try {
    if (train.length === 0) throw new UsageError('--train-dict found no compressible, non-zero blocks to train on');
    trained = await trainZstdDictionary(train, capacity);
  } catch (err) {
    if (required) throw err;
    return null;
  }
  const trainMs = Math.round(performance.now() - started);
  const plain = new ZstdCodec();
  const withDict = new ZstdCodec(trained.bytes);
  let sampleBytes = 0;
  let sampleStoredPlain = 0;
  let sampleStoredDict = 0;
  for (const s of measure) {
    if (sampleBytes >= GAIN_SAMPLE_BUDGET) break;
    sampleBytes += s.length;
    // Blocks that do not shrink are stored raw, so they count at their own size.
    sampleStoredPlain += plain.compress(s, level)?.length ?? s.length;
    sampleStoredDict += withDict.compress(s, level)?.length ?? s.length;
  }
  return { bytes: trained.bytes, info: { id: trained.id, trainMs, sampleBytes, sampleStoredPlain, sampleStoredDict } };
}

/** Resolves the `cdc` option against the profile's chunking; null means fixed blocks. */
function resolveCdc(option: PackOptions['cdc'], fromProfile: ChunkParams | false | undefined): ChunkParams | null {
  if (option === false) return null;
  if (option === undefined) return fromProfile ? validateChunkParams(fromProfile) : null;
  const base = fromProfile || DEFAULT_CHUNK_PARAMS;
  if (option === true) return validateChunkParams({ ...base });
  const size = (v: number | string | undefined, d: number) => (v === undefined ? d : parseSize(v));
  return validateChunkParams({ min: size(option.min, base.min), avg: size(option.avg, base.avg), max: size(option.max, base.max) });
}

/**
 * Opens a path input. Raw files keep the direct file path (SEEK_DATA hole skipping, readv into
 * block buffers); qcow2 images go through the image layer. A file whose format could not be
 * detected is tried as raw, so openFileInput reports why it cannot be read. A named pipe (a
 * FIFO, or /dev/stdin on a pipe) is what the user asked to pack: it is read as a stream, like
 * `-`, since it has no size and no random access.
 */
async function openPathInput(path: string, format: ImageFormat, blockSize: number): Promise<BlockInput> {
  if ((await stat(path).catch(() => undefined))?.isFIFO()) {
    if (format === 'qcow2') throw new UsageError(`${path}: a qcow2 disk cannot be read from a pipe`, { archive: path });
    return openPipeInput(path, blockSize);
  }
  if (format === 'raw') return openFileInput(path, blockSize);
  return imageInput(await openImage(path, { format }), blockSize);
}

/** True when every byte is zero; a native memcmp against a zero buffer of at least that size. */
function isAllZero(bytes: Uint8Array, zeros: Buffer): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(zeros.subarray(0, bytes.length));
}
