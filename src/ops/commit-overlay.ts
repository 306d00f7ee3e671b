import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Chunker, EntryKind, PROFILE_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import type { KdfParams } from '../format/encryption-params.js';
import type { IndexEntry } from '../format/entry.js';
import { AbortedError, throwIfAborted, UsageError } from '../errors.js';
import { createEnvelope, DEFAULT_KDF, type RandomBytes } from '../crypto/key-envelope.js';
import { deriveArchiveKeys } from '../crypto/archive-keys.js';
import type { Archive, PasswordOption } from '../node/archive.js';
import { slotData } from '../node/slot-data.js';
import { Overlay } from '../overlay/overlay.js';
import { ArchiveWriter } from '../pack/archive-writer.js';
import { cdcCutter } from '../pack/block-cutter.js';
import { DedupTable } from '../pack/dedup-table.js';
import { openThinParent, seedFromParent } from '../pack/parent-chain.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { HEXZ_VERSION } from '../version.js';
import { FixedRecut } from './commit-fixed.js';
import { CommitOutput, newCommitCounters, type CommitCounters } from './commit-output.js';
import { mergeDirty, planCommit, recutBytes, touchedBytes, WindowSlicer, type PlanItem } from './commit-plan.js';
import { commitSource } from './commit-source.js';
import { PIECE_BYTES, readPiece, runWindow, type PlannedWindow } from './commit-window.js';
import { refuseExistingOutput } from './repack-archive.js';

/** Options of {@link commitOverlay}. */
export interface CommitOptions {
  /** Path of the thin child to write (atomically: a temporary file renamed into place). */
  output: string;
  /** Overwrite an existing output (never the overlay, its base or an archive of the base's chain). */
  force?: boolean;
  /** Directories to look in for the base and its parents when not at their recorded paths (§15.4, §O.5). */
  parentDirs?: string[];
  /** Password of an encrypted base (when the overlay is given as a path). */
  basePassword?: PasswordOption;
  /**
   * Encrypt the child (docs/FORMAT.md §12) under `password`. A thin child shares its parent's
   * data key (§15.3), so this is needed exactly when the base is encrypted, and refused otherwise.
   */
  encrypt?: { password: string; kdf?: Partial<KdfParams>; random?: RandomBytes };
  /**
   * Most worker threads for decoding the touched base blocks, hashing and compression (default:
   * one per core). A commit with little to re-cut uses fewer: one thread, and one more per
   * {@link BYTES_PER_WORKER} of touched blocks, as a thread costs about 50 ms of CPU to start.
   */
  workers?: number;
  onProgress?: (p: CommitProgress) => void;
  signal?: AbortSignal;
  /** Fixed archive id and creation time (reproducible output in tests). */
  archiveId?: Uint8Array;
  createdMs?: number;
  /** Fixed metadata (reproducible output in golden vectors): replaces the default (the base's, with the tool version and the overlay's id). */
  metadata?: Record<string, unknown>;
}

/** Progress of a running commit; sizes in logical bytes unless named otherwise. */
export interface CommitProgress extends CommitCounters {
  stream: StreamName;
  /** Σ size of the streams. */
  bytesTotal: number;
  /** Σ written bytes of the overlay (its dirty ranges). */
  dirtyBytes: number;
  elapsedMs: number;
}

/** Result of {@link commitOverlay}. Sizes in bytes. */
export interface CommitResult {
  /** The child archive written. */
  output: string;
  /** Hex archive id of the child. */
  archiveId: string;
  /** The overlay committed. */
  overlay: string;
  /** The base (the child's parent, slot 1) as opened, and its hex archive id. */
  base: string;
  baseId: string;
  /** The parent path recorded in the child (relative to the child's directory). */
  parentPath: string;
  /** Parents-table slots of the child: the base and the archives of its chain. */
  slots: number;
  /** Size of the child file. */
  archiveBytes: number;
  /** Σ logical size of the streams. */
  logicalBytes: number;
  /** Bytes the overlay holds written (data and zeroed pages), clipped to the streams. */
  dirtyBytes: number;
  /**
   * Bytes re-cut from the merged streams: the written pages of blocks written less than half
   * (their clean parts are referred to as slices), the whole blocks written more.
   */
  rewrittenBytes: number;
  /** Clean bytes referred to in the chain without being read (the child's header says the same, with dedup hits). */
  referencedBytes: number;
  /** Re-cut bytes whose content the chain (or the child itself) already stored. */
  dedupBytes: number;
  /** Zero bytes: clean ZERO entries kept, and re-cut blocks that were all zero. */
  zeroBytes: number;
  /** Bytes of new stored (compressed, sealed when encrypted) blocks. */
  storedBytes: number;
  storedBlocks: number;
  seconds: number;
  /** Per stream: size, dirty bytes and written ranges. */
  streams: { name: StreamName; logicalBytes: number; dirtyBytes: number; ranges: number }[];
}

/**
 * Bytes of touched base blocks (re-cut, hashed, compressed) that warrant one more worker thread
 * than the first: about a fifth of a second of one core's work, where a thread costs ~50 ms of
 * CPU to start (on two cores, 20 MiB of touched blocks committed in 150 ms with one worker and
 * 200 ms with two).
 */
export const BYTES_PER_WORKER = 64 << 20;

/** Plan items read ahead of the one being written: windows' first pieces are read meanwhile. */
const AHEAD_ITEMS = 4096;
const AHEAD_WINDOWS = 64;
const AHEAD_BYTES = 32 << 20;

/**
 * Commits an overlay (docs/FORMAT.md "Overlay files") as a thin child of its base (§15): the
 * child reads the overlay's merged content, names the base as its parent (slot 1, path relative
 * to the child) and the archives of the base's chain after it, and stores only what the writes
 * changed. Clean blocks (not touched by any write) become references to where the chain already
 * stores them, without being read or hashed; zero runs stay zero runs. With fixed blocks, a base
 * block written less than half is not read either: its clean parts become SLICE entries (§5,
 * format version 8) and its written pages new blocks (commit-plan.ts `WindowSlicer`). The other
 * base blocks a write touched are re-cut from the merged bytes (fixed blocks, or FastCDC from the
 * nearest cut points around the writes until the cuts meet the base's again), hashed, looked up
 * in the chain and compressed on the worker pool, which also decodes and hash-checks the base
 * blocks (with fixed blocks the merged bytes never reach the main thread, and a base block the
 * writes cover wholly is not read at all: commit-fixed.ts). The cost follows the written bytes
 * (and the blocks written half or more), plus one walk of the chain's index, not the image.
 *
 * The overlay is read as it is on disk (read-only, without its lock): commit one that no server
 * is writing to. The output appears only when complete and synced; on any error or abort nothing
 * is left at `output`.
 *
 * @example
 * const r = await commitOverlay('vm.overlay', { output: 'vm-2.hxz' });
 * console.log(`${r.rewrittenBytes} bytes re-packed, ${r.referencedBytes} referenced`);
 * @param from an overlay path (opened read-only with its base, closed afterwards) or an open Overlay (left open).
 * @throws UsageError when the output exists without `force`, is the overlay or an archive of the
 *   base's chain, or `encrypt` does not match the base; when the chain would exceed 255 archives.
 * @throws NotAnArchiveError, CorruptArchiveError, UnsupportedError as Overlay.open (not an
 *   overlay, damaged, an encrypted base); MissingParentError (exit 8) when the base or one of
 *   its parents is missing or changed.
 * @throws StoreError when a file cannot be read or the output written; AbortedError when `signal` aborts.
 */
export async function commitOverlay(from: string | Overlay, options: CommitOptions): Promise<CommitResult> {
  const started = Date.now();
  const signal = options.signal;
  const workers = options.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError(`workers must be from 1 to 256, got ${workers}`);
  await refuseExistingOutput(options);
  throwIfAborted(signal, 'commit');
  // The first worker starts first: its thread loads (tens of milliseconds) while the overlay and
  // its base are opened, and gets the base's dictionary and keys once it is (configure, below).
  // More start once the written ranges say how much there is to do.
  const pool = new WorkerPool(1);
  /** The overlay opened here from a path (closed here). */
  let opened: Overlay | undefined;
  let writer: ArchiveWriter | undefined;
  /** The chain's walk into the dedup table, running beside the plan; stopped when the commit fails. */
  let seeded: Promise<number> | undefined;
  const stopSeed = new AbortController();
  try {
    const overlay = typeof from === 'string'
      ? (opened = await Overlay.open(from, {
        readOnly: true, parentDirs: options.parentDirs, archiveOptions: { parentDirs: options.parentDirs, password: options.basePassword },
        // Thousands of record checksums, checked by the first worker as it comes up rather than
        // all here; the child is not finished before they are (below). What a damaged record
        // sent to the output meanwhile goes with the temporary file.
        checkRecords: (bytes, spans) => pool.checkDigests(bytes, spans),
      }))
      : from;
    const checked = overlay.recordsChecked();
    checked.catch(() => {}); // surfaced below
    const base = overlay.base;
    await refuseOwnInputs(options, overlay);
    if (base.encrypted !== !!options.encrypt) {
      throw new UsageError(base.encrypted
        ? `base ${base.name} is encrypted: commit with --encrypt (the child shares the base's data key)`
        : `base ${base.name} is not encrypted: an encrypted child cannot refer to it (their content hashes differ)`, { archive: overlay.path });
    }
    const h = base.header;
    const streams = overlay.streams.map((name) => {
      // Taken once (a walk of the page map: thousands of runs for scattered writes).
      const written = overlay.writtenExtents(name);
      const dirty = mergeDirty(written);
      return { name, written, dirty, dirtyBytes: dirty.reduce((n, r) => n + r.length, 0) };
    });
    const cdc = h.chunker === Chunker.FASTCDC ? { min: h.chunkMin, avg: h.chunkAvg, max: h.chunkMax } : undefined;
    // What the workers will hash and compress: with fixed blocks, about the written bytes of the blocks they slice.
    const touched = streams.reduce((n, s) => n + (cdc ? touchedBytes(s.dirty, h.blockSize) : recutBytes(s.dirty, h.blockSize)), 0);
    pool.grow(Math.min(workers, 1 + Math.floor(touched / BYTES_PER_WORKER)));
    const thin = await openThinParent(base, options.output, {});
    const random = options.encrypt?.random ?? randomBytes;
    const archiveId = options.archiveId ?? random(16);
    const encryption = options.encrypt ? await inheritedEncryption(options.encrypt, base, archiveId, random) : undefined;
    throwIfAborted(signal, 'commit');
    const meta = await base.metadata();
    writer = await ArchiveWriter.create(options.output, {
      force: options.force, blockSize: h.blockSize, codec: h.codec, level: h.level, cdc, profile: PROFILE_NAMES[h.profile],
      // The base's dictionary, copied: the child's own blocks compress as the base's did.
      dictionary: base.dictionary ? { bytes: base.dictionary, info: h.dictionaryInfo } : undefined,
      archiveId, createdMs: options.createdMs, encryption, parents: thin.records,
      streamSizes: Object.fromEntries(overlay.streams.map((s) => [s, overlay.size(s)])),
      metadata: options.metadata ?? {
        ...(meta ?? {}), tool: `hexz ${HEXZ_VERSION}`,
        commit: { overlay: basename(overlay.path), overlayId: overlay.overlayId, base: basename(base.name), baseId: toHex(base.archiveId) },
      },
    });
    const keys = encryption ? deriveArchiveKeys(encryption.dataKey, archiveId) : undefined;
    // One pool decodes the base's blocks (each slot's keys and dictionary) and hashes and
    // compresses the re-cut ones (the child's, which are the base's). It is told so before the
    // chain's index is walked: hence no set of known hashes (a re-cut block the chain already
    // has is compressed in vain, then referred to all the same).
    const stores = base.blockStores();
    pool.configure({ dictionary: base.dictionary, hashKey: keys?.hashKey, slots: stores.map(slotData) });
    // Re-cut blocks are looked up in the whole chain, as a thin pack's are. The table fills while
    // the first batches are read and compressed (the main thread mostly waits for the workers
    // then); nothing is written before it is full.
    const table = new DedupTable();
    seeded = seedFromParent(base, table, AbortSignal.any([stopSeed.signal, ...(signal ? [signal] : [])]));
    seeded.catch(() => {}); // surfaced by the first write, or below

    const counters = newCommitCounters();
    const bytesTotal = streams.reduce((n, s) => n + overlay.size(s.name), 0);
    const dirtyBytes = streams.reduce((n, s) => n + s.dirtyBytes, 0);
    let current: StreamName = streams[0]?.name ?? 'disk';
    let lastReport = 0;
    const report = (force = false) => {
      const now = Date.now();
      if (!options.onProgress || (!force && now - lastReport < 100)) return;
      lastReport = now;
      options.onProgress({ ...counters, stream: current, bytesTotal, dirtyBytes, elapsedMs: now - started });
    };
    const out = new CommitOutput({
      writer, pool, table, codec: h.codec, level: h.level, blockSize: h.blockSize, counters, onWrite: report, ready: seeded,
      // About 16 MiB of blocks (at least four per worker): the main thread plans and reads that far
      // ahead while the first worker is still starting (tens of milliseconds) or checking records.
      limit: Math.max(pool.size * 4, Math.floor((16 << 20) / h.blockSize)),
    });
    for (const s of streams) {
      current = s.name;
      writer.beginStream(s.name);
      const plan = planCommit(base.entryLeaves(s.name, 0, base.size(s.name), signal), s.dirty, overlay.size(s.name), h.blockSize, base.name, { groupRefs: !cdc });
      if (cdc) await writeStream(plan, { src: commitSource(overlay, s.name, pool, s.written), cutter: cdcCutter(cdc), out, grid: h.blockSize, signal });
      // Blocks the writes touched a little are not re-cut: their clean parts become SLICE entries.
      else await writeFixedStream(plan, new WindowSlicer(s.dirty), new FixedRecut({ overlay, stream: s.name, stores, out, blockSize: h.blockSize, written: s.written, signal }), out, signal);
      await out.drain();
      await writer.endStream();
    }
    await seeded;
    await checked;
    throwIfAborted(signal, 'commit');
    const { header, fileSize } = await writer.finalize();
    writer = undefined;
    report(true);
    return {
      output: options.output, archiveId: toHex(header.archiveId), overlay: overlay.path, base: base.name, baseId: toHex(base.archiveId),
      parentPath: thin.records[0].path, slots: thin.records.length, archiveBytes: fileSize, logicalBytes: bytesTotal,
      dirtyBytes, rewrittenBytes: counters.rewrittenBytes, referencedBytes: counters.referencedBytes, dedupBytes: counters.dedupBytes,
      zeroBytes: counters.zeroBytes + counters.cleanZeroBytes, storedBytes: counters.storedBytes, storedBlocks: counters.storedBlocks,
      seconds: (Date.now() - started) / 1000,
      streams: streams.map((s) => ({ name: s.name, logicalBytes: overlay.size(s.name), dirtyBytes: s.dirtyBytes, ranges: s.dirty.length })),
    };
  } catch (err) {
    await writer?.abort();
    if (signal?.aborted && !(err instanceof AbortedError)) throw new AbortedError('commit cancelled', {}, { cause: err });
    throw err;
  } finally {
    // A commit that failed elsewhere must not leave the walk reading archives closed below.
    stopSeed.abort();
    await seeded?.catch(() => {});
    await pool.close();
    await opened?.close();
  }
}

/**
 * Writes one stream's plan of a fixed-block base in order: clean entries straight to the output
 * (as {@link writeStream} does), windows split by `slicer` (the clean parts of blocks written
 * less than half become slices) and gathered into worker tasks (commit-fixed.ts).
 */
async function writeFixedStream(plan: AsyncGenerator<PlanItem>, slicer: WindowSlicer, recut: FixedRecut, out: CommitOutput, signal?: AbortSignal): Promise<void> {
  const add = async (item: PlanItem) => {
    if (item.kind === 'window') await recut.add(item);
    else if (item.kind === 'zero') await recut.clean({ zero: item.length });
    else await recut.clean({ refs: item.kind === 'refs' ? item.entries : [item.entry] });
  };
  try {
    for await (const item of plan) {
      throwIfAborted(signal, 'commit');
      if (item.kind === 'window') for (const x of slicer.split(item)) await add(x);
      else await add(item);
    }
    await recut.flush();
  } finally {
    await plan.return(undefined).catch(() => {});
  }
}

/**
 * Writes one stream's plan of a content-defined base in order: clean entries straight to the output (the base's own
 * blocks as slot 1, its slot-k references as slot k + 1: the child points at the archive that
 * holds the bytes, §15.2), windows re-cut. Windows further ahead have their first piece read
 * while earlier ones are cut and compressed.
 */
async function writeStream(plan: AsyncGenerator<PlanItem>, ctx: Omit<Parameters<typeof runWindow>[1], 'next'>): Promise<void> {
  const ahead: PlanItem[] = [];
  let windows = 0;
  let bytes = 0;
  let done = false;
  const fill = async () => {
    while (!done && ahead.length < AHEAD_ITEMS && windows < AHEAD_WINDOWS && bytes < AHEAD_BYTES) {
      const r = await plan.next();
      if (r.done) {
        done = true;
        break;
      }
      const item = r.value;
      if (item.kind === 'window') {
        const end = Math.min(item.end, item.offset + PIECE_BYTES);
        const w = item as PlannedWindow;
        w.first = readPiece(ctx.src, item.offset, end, ctx.cutter.contentDefined, ctx.signal);
        w.first.catch(() => {}); // surfaced when the window is cut
        windows++;
        bytes += end - item.offset;
      }
      ahead.push(item);
    }
  };
  const next = async (): Promise<PlanItem | undefined> => {
    if (!ahead.length) await fill();
    const item = ahead.shift();
    if (item?.kind === 'window') {
      windows--;
      bytes -= Math.min(item.end, item.offset + PIECE_BYTES) - item.offset;
    }
    return item;
  };
  try {
    for (;;) {
      await fill();
      const item = await next();
      if (!item) break;
      throwIfAborted(ctx.signal, 'commit');
      if (item.kind === 'zero') await ctx.out.zero(item.length, true);
      // A SLICE (of a crafted content-defined base: commits slice fixed blocks only) keeps its part of the block.
      else if (item.kind === 'ref') await (item.entry.kind === EntryKind.SLICE ? ctx.out.refs([item.entry]) : ctx.out.ref(item.entry.length, item.entry.hash, childRef(item.entry)));
      else if (item.kind === 'refs') throw new Error('internal: a content-defined commit plan groups no references');
      else await runWindow(item, { ...ctx, next });
    }
  } finally {
    // Reads still in flight after a failure must not surface as unhandled rejections.
    for (const item of ahead) if (item.kind === 'window') (item as PlannedWindow).first?.catch(() => {});
    await plan.return(undefined).catch(() => {});
  }
}

/** Where a clean base entry's bytes are, in the child's slot numbering (the base is slot 1). */
function childRef(e: IndexEntry): { slot: number; storedOffset: number; storedLength: number; encoding: IndexEntry['encoding'] } {
  if (e.kind === EntryKind.ZERO) throw new Error('internal: a ZERO entry has no stored bytes');
  return { slot: e.slot + 1, storedOffset: e.storedOffset, storedLength: e.storedLength, encoding: e.encoding };
}

/** A new key envelope under `password` for the base's data key (a thin chain shares one, §15.3). */
async function inheritedEncryption(encrypt: NonNullable<CommitOptions['encrypt']>, base: Archive, archiveId: Uint8Array, random: RandomBytes) {
  if (typeof encrypt.password !== 'string' || encrypt.password.length === 0) throw new UsageError('encryption needs a non-empty password');
  const dataKey = base.dataKey;
  if (!dataKey) throw new UsageError(`base ${base.name} is encrypted: its password is needed`, { archive: base.name });
  const kdf = { ...DEFAULT_KDF, ...base.header.encryption?.kdfParams, ...encrypt.kdf };
  return { params: await createEnvelope(encrypt.password, dataKey, archiveId, kdf, random), dataKey };
}

/**
 * With `force`, refuses an output that is the overlay itself or an archive the child will refer
 * to (the base or one of its chain): replacing it would orphan or corrupt the result.
 * @throws UsageError naming which one it is.
 */
async function refuseOwnInputs(options: CommitOptions, overlay: Overlay): Promise<void> {
  const target = await stat(options.output).catch(() => undefined);
  if (!target) return;
  const base = overlay.base;
  const inputs: [string, string][] = [[overlay.path, 'the overlay being committed'], [base.name, 'the overlay\'s base'], ...base.parents.map((p): [string, string] => [p.name, `an archive the base refers to (${p.name})`])];
  for (const [path, what] of inputs) {
    const s = await stat(path).catch(() => undefined);
    if (s && s.dev === target.dev && s.ino === target.ino) throw new UsageError(`${options.output} is ${what}: write the child elsewhere`, { archive: options.output });
  }
}
