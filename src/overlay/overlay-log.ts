import type { Digest32 } from '../format/digest.js';
import { compactOverlay } from './compact-overlay.js';
import { pwriteFully } from './overlay-file-io.js';
import { encodeOverlaySlot, OVERLAY_HEADER_SIZE, OVERLAY_PAGE_SIZE, slotOffset } from './overlay-format.js';
import { ZERO_PAGES, type OverlayMap } from './overlay-map.js';
import { encodeRecord, MAX_DATA_RECORD_PAGES, MAX_ZERO_RECORD_PAGES, RECORD_HEADER_SIZE, RecordKind, type RecordKindId } from './overlay-record.js';
import type { OverlayFileState } from './read-overlay-file.js';
import { SharedHandle } from './shared-handle.js';

const PAGE = OVERLAY_PAGE_SIZE;
const ZERO_PAGE = Buffer.alloc(PAGE);

/**
 * The append side of an open overlay file (docs/FORMAT.md §O.2, §O.3, §O.6): its handle, page
 * maps, log end, sequence numbers and state slots. Appends, commits (the durable half of a flush)
 * and compaction. It does no locking: `Overlay` serializes appends and runs commits and
 * compaction under its locks.
 */
export class OverlayLog {
  /** The current file; reads take it (compaction replaces it). */
  handle: SharedHandle;
  /** Page maps per stream (STREAM_NAMES order; undefined for an absent stream). */
  maps: (OverlayMap | undefined)[];
  /** Where the next record goes. */
  end: number;
  /** The current slot's flushed end. */
  flushedEnd: number;
  /** Sequence of the last record written / made durable. */
  lastSequence: number;
  flushedSequence: number;
  records: number;
  /** When an append last completed, ms since the epoch (the file's mtime at open before that). */
  changedMs: number;
  private headerPage: Uint8Array;
  private slotSequence: number;

  constructor(readonly path: string, state: OverlayFileState, handle: SharedHandle, mtimeMs: number, private readonly digest: Digest32) {
    this.handle = handle;
    this.maps = state.maps;
    this.headerPage = state.headerPage;
    this.end = state.end;
    this.flushedEnd = state.slot.flushedEnd;
    this.slotSequence = state.slot.sequence;
    // A compaction that left an empty log recorded its last sequence in the slot only.
    this.lastSequence = Math.max(state.lastSequence, state.slot.lastRecord);
    this.flushedSequence = state.slot.lastRecord;
    this.records = state.records;
    this.changedMs = mtimeMs;
  }

  /** Bytes of records (after the header page). */
  get logBytes(): number {
    return this.end - OVERLAY_HEADER_SIZE;
  }

  /** Bytes of data pages that reads still use. */
  get liveBytes(): number {
    return this.maps.reduce((n, m) => n + (m ? m.dataPages * PAGE : 0), 0);
  }

  /**
   * Appends page-aligned `buf` as pages `first…` of stream `i`: runs of all-zero pages as ZERO
   * records (nothing stored, and commit knows them as zeros), the rest as DATA records.
   * @throws StoreError when the file cannot be written.
   */
  async appendPages(i: number, first: number, buf: Uint8Array): Promise<void> {
    const n = buf.length / PAGE;
    const zero = Array.from({ length: n }, (_, k) => ZERO_PAGE.equals(buf.subarray(k * PAGE, (k + 1) * PAGE)));
    for (let k = 0; k < n;) {
      let m = k + 1;
      while (m < n && zero[m] === zero[k] && (zero[k] || m - k < MAX_DATA_RECORD_PAGES)) m++;
      if (zero[k]) await this.appendZeroPages(i, first + k, m - k);
      else await this.append(RecordKind.DATA, i, first + k, m - k, buf.subarray(k * PAGE, m * PAGE));
      k = m;
    }
  }

  /**
   * Appends ZERO records for `count` pages of stream `i` from `first` on.
   * @throws StoreError when the file cannot be written.
   */
  async appendZeroPages(i: number, first: number, count: number): Promise<void> {
    for (let p = first; p < first + count; p += MAX_ZERO_RECORD_PAGES) {
      await this.append(RecordKind.ZERO, i, p, Math.min(MAX_ZERO_RECORD_PAGES, first + count - p));
    }
  }

  /**
   * Makes the log durable up to its current end (§O.2): fdatasync, the next state slot, fdatasync.
   * Does nothing when nothing was appended since the last commit.
   * @throws StoreError when a sync or the slot write fails.
   */
  async commit(): Promise<void> {
    const end = this.end;
    const last = this.lastSequence;
    if (end <= this.flushedEnd) return;
    const fh = this.handle.fh;
    await fh.datasync();
    const slot = { sequence: this.slotSequence + 1, flushedEnd: end, lastRecord: last, flushedMs: Date.now() };
    await pwriteFully(fh, encodeOverlaySlot(slot, this.digest), slotOffset(slot.sequence), this.path);
    await fh.datasync();
    this.slotSequence = slot.sequence;
    this.flushedEnd = end;
    this.flushedSequence = last;
  }

  /**
   * Replaces the file by a compacted copy (compactOverlay) and switches to it; the old handle
   * closes once the reads using it are done.
   * @throws StoreError when the copy cannot be written (the old file is kept).
   */
  async compact(): Promise<void> {
    const old = this.handle;
    const fh = old.acquire();
    let result;
    try {
      const mode = (await fh.stat()).mode;
      result = await compactOverlay({ path: this.path, headerPage: this.headerPage, maps: this.maps, source: fh, firstSequence: this.lastSequence + 1, mode, digest: this.digest });
    } finally {
      old.release();
    }
    this.handle = new SharedHandle(result.fh);
    this.maps = result.maps;
    this.headerPage = result.headerPage;
    this.end = this.flushedEnd = result.end;
    this.slotSequence = 1;
    this.lastSequence = this.flushedSequence = result.lastSequence;
    this.records = result.records;
    await old.retire();
  }

  /** Writes one record at the log end, then (only once it is written) maps its pages. */
  private async append(kind: RecordKindId, i: number, page: number, count: number, payload?: Uint8Array): Promise<void> {
    const bytes = encodeRecord({ kind, stream: i, page, count, sequence: this.lastSequence + 1 }, payload, this.digest);
    const at = this.end;
    const fh = this.handle.fh;
    try {
      await pwriteFully(fh, bytes, at, this.path);
    } catch (err) {
      // Leave no partial record behind the log end (best effort: the next open would cut it off anyway).
      await fh.truncate(at).catch(() => {});
      throw err;
    }
    this.maps[i]!.set(page, count, kind === RecordKind.DATA ? at + RECORD_HEADER_SIZE : ZERO_PAGES);
    this.end = at + bytes.length;
    this.lastSequence++;
    this.records++;
    this.changedMs = Date.now();
  }
}
