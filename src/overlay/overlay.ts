import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { StreamExtent, StreamView } from '../archive/stream-view.js';
import { STREAM_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import { StoreError, UsageError, wrapIoError } from '../errors.js';
import { blake3 } from '../hash/blake3.js';
import type { Archive, OpenOptions } from '../node/archive.js';
import { AsyncMutex } from './async-mutex.js';
import { checkBaseUsable, createOverlayFile, newOverlayHeader } from './create-overlay-file.js';
import { loadOverlay } from './load-overlay.js';
import { mergedExtents, readMerged, readMergedInto } from './merged-read.js';
import { OVERLAY_PAGE_SIZE, type OverlayHeader } from './overlay-format.js';
import { OverlayLock, type OverlayLockOptions } from './overlay-lock.js';
import { OverlayLog } from './overlay-log.js';
import type { RecordChecker } from './read-overlay-file.js';
import { writtenRanges } from './overlay-map.js';
import { SharedHandle } from './shared-handle.js';

const PAGE = OVERLAY_PAGE_SIZE;

/** Default of {@link OverlayOptions.compactMinGarbage}: 64 MiB. */
export const DEFAULT_COMPACT_MIN_GARBAGE = 64 << 20;
/** Default of {@link OverlayOptions.compactGarbageRatio}: half the log. */
export const DEFAULT_COMPACT_GARBAGE_RATIO = 0.5;

/** Options of {@link Overlay.open}, {@link Overlay.create} and {@link Overlay.openOrCreate}. */
export interface OverlayOptions {
  /**
   * The opened base archive (stays the caller's to close). Without it the base is opened from
   * the path the overlay recorded (relative to the overlay), else found in `parentDirs`, and
   * closed with the overlay.
   */
  base?: Archive;
  /** Open for reading only: no lock, no writes, a torn tail is ignored rather than cut off. */
  readOnly?: boolean;
  /** Directories to look in for the base when it is not at its recorded path (`--parent-dir`, HEXZ_PATH). */
  parentDirs?: string[];
  /** How the base is opened when `base` is not given (password, cache, …). */
  archiveOptions?: OpenOptions;
  /** Compact when garbage exceeds this many bytes (and the ratio below); default 64 MiB. */
  compactMinGarbage?: number;
  /** … and this fraction of the log; default 0.5. */
  compactGarbageRatio?: number;
  /** Lock liveness checks (tests). */
  lock?: OverlayLockOptions;
  /**
   * Read-only opens: check the checksums of the flushed records with this (a worker) while the
   * open goes on, instead of one by one on this thread; {@link Overlay.recordsChecked} says when
   * they are. Only for a reader that awaits that before it trusts what it read (a commit).
   */
  checkRecords?: RecordChecker;
}

/** Counters of an overlay, all in bytes unless named otherwise. */
export interface OverlayStats {
  /** Bytes of records in the log (file size minus the header page, torn tail excluded). */
  logBytes: number;
  /** Bytes of data pages still read from the log. */
  liveBytes: number;
  /** logBytes − liveBytes: record headers and overwritten pages; compaction reclaims it. */
  garbageBytes: number;
  /** Records in the log. */
  records: number;
  /** Log bytes made durable by the last flush (from the header page on). */
  flushedEnd: number;
  /** Sequence number of the last record written (0 when none). */
  sequence: number;
  /** Sequence number of the last record made durable. */
  flushedSequence: number;
  /** Per present stream: pages held as data and as zeros. */
  streams: { name: StreamName; dataPages: number; zeroPages: number }[];
}

/**
 * A copy-on-write overlay: writes to the streams of a read-only archive go to an overlay file
 * (docs/FORMAT.md "Overlay files"), in 4 KiB pages appended to a log; reads merge the overlay's
 * pages with the base's bytes. The base is never written.
 *
 * Writes are serialized (each appends at the log end; a read-modify-write of a partly written
 * page must not interleave with another write of it) and not durable until {@link flush}
 * returns; reads run concurrently with them. One process at a time may open an overlay for
 * writing (a lock file `FILE.lock`).
 *
 * @example
 * const base = await Archive.open('vm.hxz');
 * const ov = await Overlay.openOrCreate('vm.overlay', base);
 * await ov.write('disk', 1 << 20, bytes);
 * await ov.flush();                      // durable now
 * const merged = await ov.read('disk', 0, 1 << 20);
 * await ov.close();
 * await base.close();
 */
export class Overlay {
  /** Random per open: part of the ETags of writable exports, so they never repeat across runs. */
  readonly session = randomBytes(4).toString('hex');
  private readonly log: OverlayLog;
  private readonly views: (StreamView | undefined)[];
  /** Views for the edge-page reads of writes (separate read-ahead state). */
  private readonly editViews: (StreamView | undefined)[];
  private readonly writeLock = new AsyncMutex();
  private readonly flushLock = new AsyncMutex();
  private failed: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    /** The overlay file's path. */
    readonly path: string,
    /** The fixed part of its header. */
    readonly header: OverlayHeader,
    /** The base archive. */
    readonly base: Archive,
    log: OverlayLog,
    private readonly parts: { lock?: OverlayLock; ownsBase: boolean; compactMinGarbage: number; compactGarbageRatio: number; checked: Promise<void> },
  ) {
    this.log = log;
    this.views = STREAM_NAMES.map((s, i) => (header.streams[i].present ? base.stream(s) : undefined));
    this.editViews = STREAM_NAMES.map((s, i) => (header.streams[i].present ? base.stream(s) : undefined));
  }

  /**
   * Opens an existing overlay (for writing unless `readOnly`) and its base.
   * @throws NotAnArchiveError when the file is not an overlay.
   * @throws UnsupportedError for another overlay version or page size.
   * @throws CorruptArchiveError when the header, both state slots or flushed records are damaged.
   * @throws MissingParentError when the base is missing, or `base` / the file found is another archive.
   * @throws UsageError when another process has the overlay open for writing.
   * @throws StoreError when the file cannot be read (or, for writing, opened read-write).
   */
  static async open(file: string, options: OverlayOptions = {}): Promise<Overlay> {
    const lock = options.readOnly ? undefined : await OverlayLock.acquire(file, options.lock);
    try {
      return await Overlay.openLocked(file, lock, options);
    } catch (err) {
      await lock?.release();
      throw err;
    }
  }

  /**
   * Creates a new, empty overlay on `base` at `file` and opens it for writing.
   * @throws UsageError when `file` exists, the base is locked, or it is open elsewhere.
   * @throws UnsupportedError when the base is encrypted (pages would be stored unencrypted).
   * @throws StoreError when the directory is not writable.
   */
  static async create(file: string, base: Archive, options: Omit<OverlayOptions, 'base' | 'readOnly'> = {}): Promise<Overlay> {
    checkBaseUsable(file, base);
    const header = newOverlayHeader(file, base);
    const lock = await OverlayLock.acquire(file, options.lock);
    try {
      await createOverlayFile(file, header);
      return await Overlay.openLocked(file, lock, { ...options, base });
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * Opens `file` for writing on `base` if it exists, else creates it (what `hexz serve
   * --overlay FILE` does). An existing overlay must have been made on `base`.
   * @throws as {@link open} and {@link create}.
   */
  static async openOrCreate(file: string, base: Archive, options: Omit<OverlayOptions, 'base' | 'readOnly'> = {}): Promise<Overlay> {
    checkBaseUsable(file, base);
    const lock = await OverlayLock.acquire(file, options.lock);
    try {
      const exists = await access(file).then(() => true, () => false);
      if (!exists) await createOverlayFile(file, newOverlayHeader(file, base));
      return await Overlay.openLocked(file, lock, { ...options, base });
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private static async openLocked(file: string, lock: OverlayLock | undefined, options: OverlayOptions): Promise<Overlay> {
    const { fh, state, base, ownsBase, mtimeMs } = await loadOverlay(file, lock !== undefined, options);
    return new Overlay(file, state.header, base, new OverlayLog(file, state, new SharedHandle(fh), mtimeMs, blake3), {
      lock, ownsBase, checked: state.checked,
      compactMinGarbage: options.compactMinGarbage ?? DEFAULT_COMPACT_MIN_GARBAGE,
      compactGarbageRatio: options.compactGarbageRatio ?? DEFAULT_COMPACT_GARBAGE_RATIO,
    });
  }

  /**
   * Settles when the checksum of every record read at open was checked: at once, unless the
   * overlay was opened with {@link OverlayOptions.checkRecords}.
   * @throws CorruptArchiveError (rejects) when a flushed record is damaged; the checker's error
   *   when it failed.
   */
  recordsChecked(): Promise<void> {
    return this.parts.checked;
  }

  /** True when opened read-only. */
  get readOnly(): boolean {
    return this.parts.lock === undefined;
  }

  /** The streams the overlay (and its base) has. */
  get streams(): StreamName[] {
    return STREAM_NAMES.filter((_, i) => this.header.streams[i].present);
  }

  /**
   * Logical size of `stream` in bytes (the base's).
   * @throws UsageError when the overlay has no such stream.
   */
  size(stream: StreamName): number {
    return this.header.streams[this.index(stream)].size;
  }

  /** Sequence number of the last record written (0 when none): changes with every write. */
  get sequence(): number {
    return this.log.lastSequence;
  }

  /** When the merged content last changed, ms since the epoch (the file's mtime at open, then the last write). */
  get modifiedMs(): number {
    return this.log.changedMs;
  }

  /** A hex id of the overlay file (kept by compaction). */
  get overlayId(): string {
    return toHex(this.header.overlayId);
  }

  /** Current counters. */
  get stats(): OverlayStats {
    const { logBytes, liveBytes, records, flushedEnd, lastSequence, flushedSequence, maps } = this.log;
    return {
      logBytes, liveBytes, garbageBytes: logBytes - liveBytes, records, flushedEnd, sequence: lastSequence, flushedSequence,
      streams: this.streams.map((name) => {
        const m = maps[STREAM_NAMES.indexOf(name)]!;
        return { name, dataPages: m.dataPages, zeroPages: m.zeroPages };
      }),
    };
  }

  /**
   * The ranges of `stream` the overlay holds, in order, clipped to the stream: `zero` ones read
   * as zeros, the others from the overlay's pages; adjacent ranges of the same kind merged. What
   * `hexz commit` needs: everything else reads from the base. A snapshot: later writes do not
   * change the returned array.
   * @throws UsageError when the overlay has no such stream.
   */
  writtenExtents(stream: StreamName): StreamExtent[] {
    return [...writtenRanges(this.log.maps[this.index(stream)]!, this.size(stream))];
  }

  /**
   * Reads `length` bytes of `stream` at `offset`: the overlay's pages where it has them (zero
   * pages as zeros), the base's bytes elsewhere.
   * @throws UsageError when the range is outside the stream or the overlay is closed.
   * @throws CorruptArchiveError, StoreError as the base's and the overlay file's reads do.
   */
  async read(stream: StreamName, offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const i = this.index(stream);
    this.checkRange(i, offset, length, 'read');
    return this.readRange(i, offset, length, options.signal);
  }

  /**
   * {@link read} into `into` (its whole length, from `offset`): a reader that gathers many
   * pieces into one buffer spares a buffer and a copy per piece.
   * @throws as {@link read}.
   */
  async readInto(stream: StreamName, offset: number, into: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    const i = this.index(stream);
    this.checkRange(i, offset, into.length, 'read');
    return readMergedInto({ map: this.log.maps[i]!, view: this.views[i]!, handle: this.log.handle, path: this.path }, offset, into, options.signal);
  }

  /**
   * The zero and data runs covering the start of [offset, offset + length) as the merged
   * stream reads: the overlay's zero pages and the base's holes are zero, everything else
   * data. Adjacent runs of the same kind are merged; at most `maxExtents` (the last complete).
   * @throws UsageError when the range is outside the stream.
   * @throws CorruptArchiveError when the base's index is damaged.
   */
  async extents(stream: StreamName, offset: number, length: number, options: { maxExtents?: number; signal?: AbortSignal } = {}): Promise<StreamExtent[]> {
    const i = this.index(stream);
    this.checkRange(i, offset, length, 'extents');
    return mergedExtents({ map: this.log.maps[i]!, view: this.views[i]! }, offset, length, options.maxExtents, options.signal);
  }

  /**
   * Writes `data` at `offset` of `stream`. Pages only partly covered are completed from what
   * the stream reads now; pages that end up all zero are kept as zero pages. Not durable until
   * {@link flush}.
   * @throws UsageError when the range is outside the stream, or the overlay is read-only or closed.
   * @throws StoreError when the overlay file cannot be written (disk full, ...).
   */
  async write(stream: StreamName, offset: number, data: Uint8Array): Promise<void> {
    const i = this.index(stream);
    this.checkRange(i, offset, data.length, 'write');
    this.checkWritable();
    if (!data.length) return;
    const end = offset + data.length;
    const p0 = Math.floor(offset / PAGE);
    const p1 = Math.ceil(end / PAGE);
    // Copied now: the caller may reuse its buffer once this returns, or even while the write
    // waits its turn (a server's receive buffer).
    const buf = new Uint8Array((p1 - p0) * PAGE);
    buf.set(data, offset - p0 * PAGE);
    await this.writeLock.run(async () => {
      this.checkWritable();
      const head = offset > p0 * PAGE;
      const tail = (p1 - 1 > p0 || !head) && end < Math.min(p1 * PAGE, this.header.streams[i].size);
      // Two adjacent edge pages are read together: one base read, not two that look sequential.
      if (head && tail && p1 - p0 === 2) await this.completePages(i, p0, 2, buf, 0, offset, end);
      else {
        if (head) await this.completePages(i, p0, 1, buf, 0, offset, end);
        if (tail) await this.completePages(i, p1 - 1, 1, buf, (p1 - 1 - p0) * PAGE, offset, end);
      }
      await this.log.appendPages(i, p0, buf);
    });
  }

  /**
   * Makes [offset, offset + length) of `stream` read as zeros: whole pages become zero pages
   * (no bytes stored), partly covered edge pages are rewritten.
   * @throws as {@link write}.
   */
  async writeZeroes(stream: StreamName, offset: number, length: number): Promise<void> {
    const i = this.index(stream);
    this.checkRange(i, offset, length, 'write zeroes');
    this.checkWritable();
    if (!length) return;
    await this.writeLock.run(async () => {
      this.checkWritable();
      const end = offset + length;
      const [first, last] = this.wholePages(i, offset, end);
      if (first > last) {
        // Inside one page.
        await this.zeroPartOfPage(i, offset, end);
        return;
      }
      if (offset < first * PAGE) await this.zeroPartOfPage(i, offset, first * PAGE);
      if (first < last) await this.log.appendZeroPages(i, first, last - first);
      if (last * PAGE < end) await this.zeroPartOfPage(i, last * PAGE, end);
    });
  }

  /**
   * Discards [offset, offset + length) of `stream`: the whole pages inside it become zero pages;
   * partly covered edge pages keep their bytes (a trim is advisory).
   * @throws as {@link write}.
   */
  async trim(stream: StreamName, offset: number, length: number): Promise<void> {
    const i = this.index(stream);
    this.checkRange(i, offset, length, 'trim');
    this.checkWritable();
    if (!length) return;
    await this.writeLock.run(async () => {
      this.checkWritable();
      const [first, last] = this.wholePages(i, offset, offset + length);
      if (first < last) await this.log.appendZeroPages(i, first, last - first);
    });
  }

  /**
   * Makes every write that completed before the call durable: waits for writes in progress,
   * fdatasyncs the file, records the new durable end in the next state slot, and fdatasyncs
   * again. After it returns the data survives `kill -9` and a power loss. Compacts the overlay
   * when garbage passes the thresholds (the flush then also waits for that).
   * @throws UsageError when the overlay is read-only or closed.
   * @throws StoreError when syncing fails; the overlay then refuses further writes (after a
   *   failed fsync the kernel may have dropped the unsynced pages: reopen it to see what is durable).
   */
  async flush(): Promise<void> {
    this.checkWritable();
    await this.flushLock.run(async () => {
      // Waits for the writes queued before this flush; later ones may be included too.
      await this.writeLock.run(() => this.checkWritable());
      try {
        await this.log.commit();
      } catch (err) {
        this.failed = wrapIoError(err, this.path, 'flush overlay');
        throw this.failed;
      }
      if (this.needsCompaction()) await this.compactLocked();
    });
  }

  /**
   * Rewrites the overlay with only its live pages (see compactOverlay): the file shrinks by its
   * garbage, content stays identical, everything written so far becomes durable. Writes wait
   * meanwhile; reads go on against the old file.
   * @throws UsageError when the overlay is read-only or closed.
   * @throws StoreError when the new file cannot be written; the old one is then kept.
   */
  async compact(): Promise<void> {
    this.checkWritable();
    await this.flushLock.run(() => this.compactLocked());
  }

  /**
   * Flushes (and compacts past the thresholds) an overlay open for writing, closes the file,
   * releases the lock and closes the base if the overlay opened it. Idempotent.
   * @throws StoreError when the final flush fails (the file is closed and the lock released anyway).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.readOnly && !this.failed && !this.closed) await this.flush();
      } finally {
        await this.writeLock.run(() => {
          this.closed = true;
        });
        await this.log.handle.retire();
        await this.parts.lock?.release();
        if (this.parts.ownsBase) await this.base.close().catch(() => {});
      }
    })();
    return this.closing;
  }

  private needsCompaction(): boolean {
    const { garbageBytes, logBytes } = this.stats;
    return garbageBytes > this.parts.compactMinGarbage && garbageBytes > logBytes * this.parts.compactGarbageRatio;
  }

  /** Compaction proper; the caller holds the flush lock. */
  private async compactLocked(): Promise<void> {
    await this.writeLock.run(async () => {
      this.checkWritable();
      await this.log.compact();
    });
  }

  /** Reads a checked range: overlay pages from the file, the gaps from the base (through `view`). */
  private readRange(i: number, offset: number, length: number, signal?: AbortSignal, view = this.views[i]!): Promise<Uint8Array> {
    return readMerged({ map: this.log.maps[i]!, view, handle: this.log.handle, path: this.path }, offset, length, signal);
  }

  /**
   * Completes `count` pages of stream `i` from `first` on, held in `buf` at `at`, where a write
   * covers only [from, to) (absolute offsets) of them: the rest comes from what they read now
   * (the part past the stream's end stays zero). Base bytes are read through views of their
   * own, so these small reads do not disturb the read-ahead detection of clients' reads.
   */
  private async completePages(i: number, first: number, count: number, buf: Uint8Array, at: number, from: number, to: number): Promise<void> {
    const start = first * PAGE;
    const length = Math.min(count * PAGE, this.header.streams[i].size - start);
    const current = await this.readRange(i, start, length, undefined, this.editViews[i]);
    const a = Math.min(Math.max(from - start, 0), length);
    const b = Math.min(Math.max(to - start, 0), length);
    buf.set(current.subarray(0, a), at);
    if (b < length) buf.set(current.subarray(b), at + b);
  }

  /** Zeroes [from, to) inside one page by rewriting that page. */
  private async zeroPartOfPage(i: number, from: number, to: number): Promise<void> {
    const page = Math.floor(from / PAGE);
    const buf = new Uint8Array(PAGE);
    await this.completePages(i, page, 1, buf, 0, from, to); // the zeroed part stays zero
    await this.log.appendPages(i, page, buf);
  }

  /**
   * The whole pages inside [from, to) as [first, last): the stream's partial last page counts as
   * whole when the range reaches the stream's end (the bytes past it do not exist).
   */
  private wholePages(i: number, from: number, to: number): [number, number] {
    const last = to === this.size(STREAM_NAMES[i]) ? Math.ceil(to / PAGE) : Math.floor(to / PAGE);
    return [Math.ceil(from / PAGE), last];
  }

  private index(stream: StreamName): number {
    const i = STREAM_NAMES.indexOf(stream);
    if (i < 0 || !this.header.streams[i].present) throw new UsageError(`${this.path}: the overlay has no ${stream} stream`, { archive: this.path, stream });
    return i;
  }

  private checkRange(i: number, offset: number, length: number, what: string): void {
    if (this.closed) throw new UsageError(`${this.path}: overlay is closed`, { archive: this.path });
    const size = this.header.streams[i].size;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new UsageError(`${what} of ${length} bytes at offset ${offset} is outside stream ${STREAM_NAMES[i]} (${size} bytes)`, { archive: this.path, stream: STREAM_NAMES[i], offset });
    }
  }

  private checkWritable(): void {
    if (this.closed) throw new UsageError(`${this.path}: overlay is closed`, { archive: this.path });
    if (this.readOnly) throw new UsageError(`${this.path}: overlay is open read-only`, { archive: this.path });
    if (this.failed) throw new StoreError(`${this.path}: an earlier flush of the overlay failed; reopen it to see what is durable`, { archive: this.path }, { cause: this.failed });
  }
}
