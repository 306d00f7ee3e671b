import type { FileHandle } from 'node:fs/promises';
import { STREAM_NAMES } from '../format/constants.js';
import type { Digest32 } from '../format/digest.js';
import { CorruptArchiveError, wrapIoError } from '../errors.js';
import { decodeOverlayHeader, OVERLAY_HEADER_SIZE, OVERLAY_PAGE_SIZE, pagesOf, pickOverlaySlot, type OverlayHeader, type OverlaySlot } from './overlay-format.js';
import { OverlayMap, ZERO_PAGES } from './overlay-map.js';
import { decodeRecordHeader, RECORD_HEADER_SIZE, recordChecksumMatches, recordLength, RecordKind } from './overlay-record.js';
import { preadFully } from './overlay-file-io.js';

/** Bytes the scan reads at a time. */
const SCAN_CHUNK = 4 << 20;
/** Chunks whose checksums a {@link RecordChecker} may have in hand at once (bounds the memory of deferred checks). */
const CHECKS_IN_FLIGHT = 8;

/**
 * Checks record checksums somewhere else than the scanning thread (a worker: WorkerPool.checkDigests).
 * Each span `[spans[2i], spans[2i + 1])` of `bytes` is one whole record; it resolves with the
 * index of the first span whose checksum (§O.3: its first 16 bytes against BLAKE3-256 of the
 * rest) does not match, or −1. It may take `bytes` over (transfer it): the scan does not touch
 * them again.
 */
export type RecordChecker = (bytes: Uint8Array, spans: Float64Array) => Promise<number>;

/** Options of {@link readOverlayFile}. */
export interface ReadOverlayOptions {
  /**
   * Check the records that lie wholly before the flushed end here instead of in the scan: the
   * scan then reads them as a correct writer wrote them, and {@link OverlayFileState.checked}
   * rejects when one is damaged. Only for a reader that waits for `checked` before it trusts
   * anything it read (a commit does before it writes its output): a damaged flushed record makes
   * the whole overlay corrupt, so deferring the check changes when that is said, never what the
   * overlay holds. Records after the flushed end are checked in the scan as always (their
   * checksums decide where the log ends).
   */
  checkFlushed?: RecordChecker;
}

/** An overlay file as read at open: header, winning slot, and the map its valid records build. */
export interface OverlayFileState {
  header: OverlayHeader;
  /** The header page as stored (compaction copies its fixed part). */
  headerPage: Uint8Array;
  /** The valid state slot with the highest sequence. */
  slot: OverlaySlot;
  /** Per stream (STREAM_NAMES order): its page map, or undefined when the stream is absent. */
  maps: (OverlayMap | undefined)[];
  /** File offset just past the last valid record: where the next record goes. */
  end: number;
  /** Valid records in the log. */
  records: number;
  /** Sequence of the last valid record (0: none). */
  lastSequence: number;
  /** Size of the file in bytes. */
  fileSize: number;
  /**
   * Why the scan stopped before the end of the file, when it did: the bytes from `end` on are a
   * torn tail of writes that were never flushed (a writer truncates them; a reader ignores them).
   */
  tail?: { reason: string };
  /**
   * Settles once every record's checksum was checked: at once unless
   * {@link ReadOverlayOptions.checkFlushed} deferred some. Rejects with CorruptArchiveError
   * ("flushed data damaged") when one of them fails, or with the checker's own error.
   */
  checked: Promise<void>;
}

/**
 * Reads an overlay file: the header (§O.1), the winning state slot (§O.2), then every record of
 * the log (§O.3) in order, each verified against its checksum, up to the first that is invalid
 * or cut short. Everything up to the slot's flushed end must be valid; what follows is kept
 * while valid and reported as a torn tail from the first bad record on.
 * @param name the file, for messages.
 * @throws NotAnArchiveError, UnsupportedError, CorruptArchiveError from the header.
 * @throws CorruptArchiveError when both slots are damaged, or when the log is damaged or cut
 *   short before the flushed end ("flushed data damaged").
 * @throws StoreError when the file cannot be read.
 */
export async function readOverlayFile(fh: FileHandle, name: string, digest: Digest32, options: ReadOverlayOptions = {}): Promise<OverlayFileState> {
  let fileSize: number;
  try {
    fileSize = (await fh.stat()).size;
  } catch (err) {
    throw wrapIoError(err, name, 'stat');
  }
  const headerPage = new Uint8Array(Math.min(fileSize, OVERLAY_HEADER_SIZE));
  if (headerPage.length) await preadFully(fh, headerPage, 0, name);
  const header = decodeOverlayHeader(headerPage, digest, name);
  const picked = pickOverlaySlot(headerPage, digest);
  const where = (fileOffset?: number) => ({ archive: name, fileOffset, stage: 'overlay log' });
  if (!picked) throw new CorruptArchiveError(`${name}: both overlay state slots are damaged`, where());
  const { slot } = picked;
  const maps = header.streams.map((s) => (s.present ? new OverlayMap(OVERLAY_PAGE_SIZE) : undefined));
  const pages = header.streams.map((s) => pagesOf(s.size));

  const damaged = (at: number, why: string) => new CorruptArchiveError(
    `${name}: overlay record at byte ${at} ${why} (flushed data damaged: the state slot says the log is durable up to byte ${slot.flushedEnd})`, where(at));
  const deferred = new DeferredChecks(options.checkFlushed, digest, (at) => damaged(at, 'fails its checksum'));

  let buf = new Uint8Array(0);
  let bufStart = 0;
  let bufLength = 0;
  /** Makes `length` bytes at `pos` buffered; false past the end of the file. */
  const fill = async (pos: number, length: number): Promise<boolean> => {
    if (pos + length > fileSize) return false;
    if (pos < bufStart || pos + length > bufStart + bufLength) {
      const n = Math.min(Math.max(length, SCAN_CHUNK), fileSize - pos);
      // A chunk whose records go to the checker is its own (it may be transferred).
      if (deferred.holds(buf)) deferred.send();
      if (buf.length < n || deferred.active) buf = new Uint8Array(n);
      await preadFully(fh, buf.subarray(0, n), pos, name);
      bufStart = pos;
      bufLength = n;
    }
    return true;
  };
  /** The buffered bytes at `pos` (after {@link fill}). Valid until the next fill. */
  const view = (pos: number, length: number) => buf.subarray(pos - bufStart, pos - bufStart + length);

  let pos = OVERLAY_HEADER_SIZE;
  let records = 0;
  let lastSequence = 0;
  let tail: { reason: string } | undefined;
  try {
    while (pos < fileSize) {
      const invalid = (reason: string) => ({ reason: `record at byte ${pos} ${reason}` });
      // The common case, a whole header already buffered, costs no await.
      if (pos + RECORD_HEADER_SIZE > bufStart + bufLength && !(await fill(pos, RECORD_HEADER_SIZE))) {
        tail = invalid('is cut short');
        break;
      }
      const h = decodeRecordHeader(view(pos, RECORD_HEADER_SIZE));
      if ('invalid' in h) {
        tail = invalid(`is not a valid record (${h.invalid})`);
        break;
      }
      const length = recordLength(h);
      if (pos + length > bufStart + bufLength && !(await fill(pos, length))) {
        tail = invalid('is cut short');
        break;
      }
      if (pos + length <= slot.flushedEnd && deferred.active) deferred.add(buf, pos - bufStart, pos - bufStart + length, pos);
      else if (!recordChecksumMatches(view(pos, length), digest)) {
        tail = invalid('fails its checksum');
        break;
      }
      // A record that checks out but makes no sense was not written by a correct writer: treat it
      // like damage rather than apply it.
      if (!maps[h.stream] || h.page + h.count > pages[h.stream]) {
        tail = invalid(`names pages ${h.page}..${h.page + h.count} outside stream ${STREAM_NAMES[h.stream] ?? h.stream}`);
        break;
      }
      if (h.sequence <= lastSequence) {
        tail = invalid(`has sequence ${h.sequence} after ${lastSequence}`);
        break;
      }
      if (pos < slot.flushedEnd && pos + length > slot.flushedEnd) {
        throw new CorruptArchiveError(`${name}: overlay state slot's flushed end ${slot.flushedEnd} falls inside the record at byte ${pos}`, where(pos));
      }
      maps[h.stream]!.set(h.page, h.count, h.kind === RecordKind.DATA ? pos + RECORD_HEADER_SIZE : ZERO_PAGES);
      records++;
      lastSequence = h.sequence;
      pos += length;
      if (pos === slot.flushedEnd && slot.lastRecord !== lastSequence) {
        throw new CorruptArchiveError(`${name}: overlay record before the flushed end has sequence ${lastSequence}, the state slot says ${slot.lastRecord}`, where(pos));
      }
    }
    if (deferred.holds(buf)) deferred.send();
  } catch (err) {
    // Damage found here may come after a record whose check is still out: a plain open would
    // have named that one first.
    throw err instanceof CorruptArchiveError ? await deferred.earlier(err, err.location.fileOffset) : err;
  }
  if (pos < slot.flushedEnd) {
    const why = tail ? tail.reason : `log ends at byte ${pos}`;
    throw await deferred.earlier(new CorruptArchiveError(`${name}: overlay ${why} (flushed data damaged: the state slot says the log is durable up to byte ${slot.flushedEnd})`, where(pos)), pos);
  }
  const checked = deferred.done();
  checked.catch(() => {}); // the caller's to await
  return { header, headerPage, slot, maps, end: pos, records, lastSequence, fileSize, tail, checked };
}

/**
 * The records of the scan's chunks handed to a {@link RecordChecker}, and the first failure
 * among them. While {@link CHECKS_IN_FLIGHT} chunks are out (the checker is behind, or still
 * starting), the scan checks the next chunk itself rather than wait.
 */
class DeferredChecks {
  /** Spans (relative to the chunk) and file offsets of the records of the chunk being scanned. */
  private spans: number[] = [];
  private at: number[] = [];
  private chunk: Uint8Array | undefined;
  /** Checks sent, oldest first, each with the file offset of its first bad record (−1: none) once back. */
  private inFlight: { check: Promise<number>; bad?: number }[] = [];

  constructor(private readonly checker: RecordChecker | undefined, private readonly digest: Digest32, private readonly bad: (fileOffset: number) => Error) {}

  /** True when records are checked here (a checker was given). */
  get active(): boolean {
    return this.checker !== undefined;
  }

  /** True when records of `chunk` wait to be sent. */
  holds(chunk: Uint8Array): boolean {
    return this.chunk === chunk && this.spans.length > 0;
  }

  /** A record at `[start, end)` of `chunk` (file offset `fileOffset`), to be checked with the others of its chunk. */
  add(chunk: Uint8Array, start: number, end: number, fileOffset: number): void {
    this.chunk = chunk;
    this.spans.push(start, end);
    this.at.push(fileOffset);
  }

  /**
   * Hands the current chunk's records to the checker, or checks them here when it has
   * {@link CHECKS_IN_FLIGHT} chunks already.
   * @throws CorruptArchiveError when a record checked here, or a check already back, is damaged.
   */
  send(): void {
    const { chunk, at, spans } = this;
    this.chunk = undefined;
    this.spans = [];
    this.at = [];
    while (this.inFlight.length && this.inFlight[0].bad !== undefined) {
      const bad = this.inFlight.shift()!.bad!;
      if (bad >= 0) throw this.bad(bad);
    }
    if (this.inFlight.length >= CHECKS_IN_FLIGHT) {
      for (let i = 0; i < at.length; i++) if (!recordChecksumMatches(chunk!.subarray(spans[2 * i], spans[2 * i + 1]), this.digest)) throw this.bad(at[i]);
      return;
    }
    const sent: (typeof this.inFlight)[number] = { check: this.checker!(chunk!, Float64Array.from(spans)).then((i) => (sent.bad = i < 0 ? -1 : at[i])) };
    sent.check.catch(() => {}); // surfaced in order, by done()
    this.inFlight.push(sent);
  }

  /** Settles when every check sent is back: rejects with the first damaged record, in file order. */
  async done(): Promise<void> {
    for (const { check } of this.inFlight) {
      const bad = await check;
      if (bad >= 0) throw this.bad(bad);
    }
  }

  /**
   * The scan failed with `err` at file offset `at`: the damaged record a check still out found
   * before `at`, if any (the earliest, as a scan checking every record itself reports), else `err`.
   */
  async earlier(err: Error, at: number | undefined): Promise<Error> {
    let first: number | undefined;
    for (const { check } of this.inFlight.splice(0)) {
      const bad = await check.catch(() => -1);
      if (bad >= 0 && (first === undefined || bad < first)) first = bad;
    }
    return first !== undefined && (at === undefined || first < at) ? this.bad(first) : err;
  }
}
