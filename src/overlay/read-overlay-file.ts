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
export async function readOverlayFile(fh: FileHandle, name: string, digest: Digest32): Promise<OverlayFileState> {
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

  let buf = new Uint8Array(0);
  let bufStart = 0;
  let bufLength = 0;
  /** `length` bytes at `pos`, or undefined past the end of the file. Valid until the next call. */
  const bytesAt = async (pos: number, length: number): Promise<Uint8Array | undefined> => {
    if (pos + length > fileSize) return undefined;
    if (pos < bufStart || pos + length > bufStart + bufLength) {
      const n = Math.min(Math.max(length, SCAN_CHUNK), fileSize - pos);
      if (buf.length < n) buf = new Uint8Array(n);
      await preadFully(fh, buf.subarray(0, n), pos, name);
      bufStart = pos;
      bufLength = n;
    }
    return buf.subarray(pos - bufStart, pos - bufStart + length);
  };

  let pos = OVERLAY_HEADER_SIZE;
  let records = 0;
  let lastSequence = 0;
  let tail: { reason: string } | undefined;
  while (pos < fileSize) {
    const invalid = (reason: string) => ({ reason: `record at byte ${pos} ${reason}` });
    const head = await bytesAt(pos, RECORD_HEADER_SIZE);
    if (!head) {
      tail = invalid('is cut short');
      break;
    }
    const h = decodeRecordHeader(head);
    if ('invalid' in h) {
      tail = invalid(`is not a valid record (${h.invalid})`);
      break;
    }
    const length = recordLength(h);
    const record = await bytesAt(pos, length);
    if (!record) {
      tail = invalid('is cut short');
      break;
    }
    if (!recordChecksumMatches(record, digest)) {
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
  if (pos < slot.flushedEnd) {
    const why = tail ? tail.reason : `log ends at byte ${pos}`;
    throw new CorruptArchiveError(`${name}: overlay ${why} (flushed data damaged: the state slot says the log is durable up to byte ${slot.flushedEnd})`, where(pos));
  }
  return { header, headerPage, slot, maps, end: pos, records, lastSequence, fileSize, tail };
}
