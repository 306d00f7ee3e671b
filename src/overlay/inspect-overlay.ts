import { open } from 'node:fs/promises';
import { STREAM_NAMES, type StreamName } from '../format/constants.js';
import { toHex } from '../format/digest.js';
import { wrapIoError } from '../errors.js';
import { blake3 } from '../hash/blake3.js';
import { Archive } from '../node/archive.js';
import { baseMismatch, locateOverlayBase } from './overlay-base.js';
import { OVERLAY_HEADER_SIZE, OVERLAY_PAGE_SIZE } from './overlay-format.js';
import { writtenRanges } from './overlay-map.js';
import { readOverlayFile } from './read-overlay-file.js';

/** What `hexz overlay FILE` reports. Sizes in bytes, times as ISO 8601 UTC. */
export interface OverlayReport {
  path: string;
  version: number;
  pageSize: number;
  overlayId: string;
  created: string;
  base: {
    archiveId: string;
    /** BLAKE3-256 of the base's neutral header, hex. */
    identity: string;
    /** As recorded: relative to the overlay's directory. */
    recordedPath: string;
    /** True when an archive with that id and identity was found. */
    found: boolean;
    /** Where it was found. */
    path?: string;
    /** Why it was not found (missing, or the file there is another or a modified archive). */
    problem?: string;
  };
  streams: OverlayStreamReport[];
  log: {
    fileBytes: number;
    /** Bytes of valid records. */
    logBytes: number;
    /** Bytes of data pages that reads still use. */
    liveBytes: number;
    /** logBytes − liveBytes: what compaction would reclaim. */
    garbageBytes: number;
    records: number;
    /** File offset up to which the log is durable (the state slot's). */
    flushedEnd: number;
    /** Bytes of valid records after the flushed end (written, not yet flushed). */
    unflushedBytes: number;
    /** Bytes after the last valid record (a torn tail, cut off by the next writer). */
    tornBytes: number;
    tornReason?: string;
    /** Sequence of the last valid record. */
    lastSequence: number;
    /** Sequence of the last record the state slot calls durable. */
    flushedSequence: number;
    /** Flushes recorded (the state slot's sequence; compaction restarts it). */
    slotSequence: number;
    lastFlush: string;
  };
}

/** One stream of an {@link OverlayReport}. */
export interface OverlayStreamReport {
  name: StreamName;
  size: number;
  /** Pages the overlay holds (data and zero). */
  dirtyPages: number;
  /** Bytes of the stream the overlay holds (its ranges' total). */
  dirtyBytes: number;
  dataPages: number;
  zeroPages: number;
  /** The byte ranges the overlay holds, merged; `zero` when a range reads as zeros throughout. */
  ranges: { offset: number; length: number; zero: boolean }[];
}

/**
 * Reads an overlay without taking its lock (a server may have it open) and without reading its
 * base's data: header, state, log statistics, the written ranges per stream, and whether the
 * base is where it was recorded (or in `parentDirs`) and still the same archive. A torn tail is
 * reported, not cut off.
 * @throws NotAnArchiveError when the file is not an overlay.
 * @throws UnsupportedError for another overlay version.
 * @throws CorruptArchiveError when the header, both slots or flushed records are damaged.
 * @throws StoreError when the file cannot be read.
 */
export async function inspectOverlay(file: string, options: { parentDirs?: string[] } = {}): Promise<OverlayReport> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw wrapIoError(err, file, 'open overlay');
  }
  let state;
  try {
    state = await readOverlayFile(fh, file, blake3);
  } finally {
    await fh.close();
  }
  const { header, slot } = state;
  const lookup = await locateOverlayBase(file, header, {
    parentDirs: options.parentDirs,
    // The header is all that is compared: no index, no parents, no password.
    open: (p) => Archive.open(p, { openParents: false, preloadIndexBytes: 0 }),
  });
  let base: OverlayReport['base'] = { archiveId: toHex(header.baseId), identity: toHex(header.baseIdentity), recordedPath: header.basePath, found: false };
  if (lookup.found) {
    const problem = baseMismatch(header, lookup.archive);
    await lookup.archive.close();
    base = { ...base, found: problem === undefined, path: lookup.path, ...(problem ? { problem } : {}) };
  } else {
    base = { ...base, problem: lookup.reason === 'missing' ? `missing (${lookup.detail})` : `replaced or modified: ${lookup.detail}` };
  }
  let liveBytes = 0;
  const streams: OverlayStreamReport[] = [];
  STREAM_NAMES.forEach((name, i) => {
    const map = state.maps[i];
    if (!map) return;
    liveBytes += map.dataPages * OVERLAY_PAGE_SIZE;
    const size = header.streams[i].size;
    const ranges = [...writtenRanges(map, size, true)];
    streams.push({
      name, size, dirtyPages: map.dataPages + map.zeroPages, dirtyBytes: ranges.reduce((n, r) => n + r.length, 0),
      dataPages: map.dataPages, zeroPages: map.zeroPages, ranges,
    });
  });
  const logBytes = state.end - OVERLAY_HEADER_SIZE;
  return {
    path: file, version: header.version, pageSize: header.pageSize, overlayId: toHex(header.overlayId), created: new Date(header.createdMs).toISOString(),
    base, streams,
    log: {
      fileBytes: state.fileSize, logBytes, liveBytes, garbageBytes: logBytes - liveBytes, records: state.records,
      flushedEnd: slot.flushedEnd, unflushedBytes: state.end - slot.flushedEnd, tornBytes: state.fileSize - state.end,
      ...(state.tail ? { tornReason: state.tail.reason } : {}),
      lastSequence: state.lastSequence, flushedSequence: slot.lastRecord, slotSequence: slot.sequence, lastFlush: new Date(slot.flushedMs).toISOString(),
    },
  };
}
