import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ArchiveWriter } from './archive-writer.js';
import { STREAM_NAMES, type StreamName } from '../format/constants.js';
import { AbortedError, UsageError, throwIfAborted } from '../errors.js';
import { openFileInput, openPipeInput, imageInput, streamInput, virtualImageInput, type BlockInput } from './block-input.js';
import { detectImageFormat, openImage } from '../image/open-image.js';
import type { ImageFormat } from '../image/types.js';
import type { CompressResult } from '../workers/block-task.js';
import { DedupTable } from './dedup-table.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { cdcInput } from './cdc-input.js';
import { CompressBatcher } from './compress-batcher.js';
import { sampleFile } from './dict-samples.js';
import { createEnvelope, DEFAULT_KDF, type RandomBytes } from '../crypto/key-envelope.js';
import { deriveArchiveKeys } from '../crypto/archive-keys.js';
import { HEXZ_VERSION } from '../version.js';
import { openThinParent, parentSettings, seedFromParent, type ThinParent } from './parent-chain.js';
import { KnownHashes } from '../hash/known-hashes.js';
import type { PackOptions, PackProgress, PackResult } from './pack-options.js';
import { isDiskImageInput } from './pack-options.js';
import { resolvePackPlan, withParentSettings } from './pack-plan.js';
import { buildDictionary, takePrefix } from './pack-dictionary.js';

export type { PackInput, PackOptions, PackProgress, PackResult, PackStreamSummary } from './pack-options.js';
export { resolvePackPlan, type PackPlan } from './pack-plan.js';

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
  const given = typeof options.parent === 'string' ? undefined : options.parent;
  const thin = await openThinParent(given ?? (options.parent as string), options.output, {
    password: options.parentPassword ?? options.encrypt?.password, parentDirs: options.parentDirs,
  });
  const parentName = thin.archive.name;
  try {
    if (thin.archive.encrypted !== !!options.encrypt) {
      throw new UsageError(thin.archive.encrypted
        ? `parent ${parentName} is encrypted: pack the child with --encrypt (it shares the parent's data key)`
        : `parent ${parentName} is not encrypted: an encrypted child cannot refer to it (their content hashes differ)`);
    }
    if (options.archiveId && Buffer.from(options.archiveId).equals(Buffer.from(thin.archive.archiveId))) {
      throw new UsageError('a thin archive needs an archive id of its own, not its parent\'s');
    }
    const r = await packWith(withParentSettings(options, parentSettings(thin.archive)), thin);
    return { ...r, seconds: (Date.now() - started) / 1000 };
  } finally {
    if (!given) await thin.archive.close();
  }
}


async function packWith(options: PackOptions, thin: ThinParent | undefined): Promise<PackResult> {
  const started = Date.now();
  const { profile, compression, codec, level, cdc, blockSize, workers, wantDict, dedup } = resolvePackPlan(options, availableParallelism());
  const signal = options.signal;
  throwIfAborted(signal, 'pack');

  const inputs: { name: StreamName; input: BlockInput; format: ImageFormat }[] = [];
  let writer: ArchiveWriter | undefined;
  let pool: WorkerPool | undefined;
  try {
    const samples: Uint8Array[] = [];
    // Samples are cut at the size blocks will have (capped: zstd gains little from longer ones).
    const pieceSize = Math.min(cdc ? cdc.avg : blockSize, 128 << 10);
    if (wantDict) options.onProgress?.({ ...idleProgress(inputs[0]?.name ?? 'disk'), phase: 'train' });
    for (const name of STREAM_NAMES) {
      const src = options[name];
      if (!src) continue;
      // Detected once here (qcow2 by its magic); the input, sampling and metadata all use it.
      const format: ImageFormat = name === 'disk' && typeof src === 'string' ? (options.diskFormat ?? (await detectImageFormat(src).catch(() => 'raw' as const))) : 'raw';
      let input = typeof src === 'string' ? await openPathInput(src, format, blockSize) : isDiskImageInput(src) ? virtualImageInput(src, blockSize) : streamInput(src, `${name} stream`, blockSize);
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
      streamSizes: Object.fromEntries(inputs.map((i) => [i.name, i.input.size ?? options.inputSizes?.[i.name]])),
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
      const queue: ({ batch: number; result: Promise<CompressResult & { length: number }> } | { zero: number })[] = [];
      const w = writer;
      const drainOne = async () => {
        const head = queue.shift()!;
        const item = 'zero' in head ? head : await head.result;
        if ('zero' in item) {
          await w.addZero(item.zero);
          progress.zeroBytes += item.zero;
          progress.bytesDone += item.zero;
        } else {
          const hash = item.hash;
          const known = table?.get(hash);
          if (item.known && !known) throw new Error('internal: a block the workers skipped as known is not in the dedup table');
          if (known) {
            await w.addDedup(item.length, hash, known);
            progress.dedupBytes += item.length;
          } else {
            const ref = await w.addData(item.length, hash, item.encoding, item.stored);
            if (dedup) table?.set(hash, ref);
            progress.storedBytes += item.stored.length;
          }
          progress.bytesDone += item.length;
        }
        report();
      };
      const limit = inFlightLimit(workers, blockSize);
      // About a megabyte of blocks per worker message (the blocks of one read, their buffer
      // transferred whole), each block's result still drained in order.
      const batcher = new CompressBatcher(pool, codec, level);
      const drain = async () => {
        // The oldest result may wait in a batch not sent yet: send it (copied, since the input may
        // still have blocks in its buffer) rather than wait for it forever.
        const head = queue[0];
        if ('batch' in head && head.batch === batcher.batch) batcher.flushCopy();
        await drainOne();
      };
      for await (const block of input.blocks()) {
        throwIfAborted(signal, 'pack');
        if (block.kind === 'zero') {
          batcher.bufferDone();
          queue.push({ zero: block.length });
        } else if (isAllZero(block.bytes, zeros)) {
          queue.push({ zero: block.bytes.length });
        } else {
          const length = block.bytes.length;
          const result = batcher.add(block.bytes).then((r) => ({ ...r, length }));
          const batch = batcher.batch; // after add: it may have sent the batch before this block's
          result.catch(() => {}); // surfaced when drained, in order
          queue.push({ batch, result });
        }
        while (queue.length >= limit) await drain();
      }
      batcher.bufferDone();
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
      thin: thin ? { parent: thin.archive.name, parentId: Buffer.from(thin.archive.archiveId).toString('hex'), slots: thin.records.length, referencedBytes: header.parents.referencedBytes } : null,
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
    inputs[name] = { name: isPath ? basename(src) : isDiskImageInput(src) ? src.name : '-', format, bytes: input.size ?? null };
  }
  return { tool: `hexz ${HEXZ_VERSION}`, inputs };
}

/** A progress record before any block is packed. */
function idleProgress(stream: StreamName): Omit<PackProgress, 'phase'> {
  return { trainSeconds: 0, stream, bytesDone: 0, bytesTotal: undefined, storedBytes: 0, dedupBytes: 0, zeroBytes: 0, elapsedMs: 0 };
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
