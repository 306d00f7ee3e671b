/**
 * Reading the merged stream of an overlay: the overlay's pages where its map has them, the
 * base's bytes (and holes) elsewhere.
 */
import type { StreamExtent, StreamView } from '../archive/stream-view.js';
import { throwIfAborted } from '../errors.js';
import { preadFully, preadFullySync } from './overlay-file-io.js';
import { ZERO_PAGES, type OverlayMap } from './overlay-map.js';
import type { SharedHandle } from './shared-handle.js';

/** What a merged read or extents walk reads from. */
export interface MergedSource {
  /** The stream's page map. */
  map: OverlayMap;
  /** The base stream. */
  view: StreamView;
  /** The overlay file (data pages), and its name for messages. */
  handle: SharedHandle;
  path: string;
}

/**
 * Reads [offset, offset + length) (already checked to lie inside the stream): data runs of the
 * overlay with one positional read each (a run's pages are contiguous in the file; nearby runs
 * share one read, below), zero runs as zeros, the gaps from the base, all concurrently.
 * @throws CorruptArchiveError, StoreError as the base's and the overlay file's reads do.
 */
export async function readMerged(src: MergedSource, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  throwIfAborted(signal, 'read');
  if (length === 0) return new Uint8Array(0);
  const page = src.map.pageSize;
  if (src.map.runs(Math.floor(offset / page), Math.ceil((offset + length) / page)).next().done) return src.view.read(offset, length, { signal });
  const out = new Uint8Array(length);
  await readMergedInto(src, offset, out, signal);
  return out;
}

/** Most bytes one read of the overlay file spans to serve several runs (a copy is cheaper than a call). */
const MAX_SPAN = 256 << 10;
/** Most bytes between two runs' pages that such a read spans over (a record header is 64 bytes). */
const MAX_SPAN_GAP = 4096;
/** Where spanning reads land before their pages are copied out (they are synchronous: never shared by two). */
let spanScratch = new Uint8Array(0);

/**
 * {@link readMerged} into `into` (its whole length, at `offset`; every byte written). Runs
 * whose pages lie close together in the file — a guest's 4 KiB writes of one area, one record
 * each, one after the other in the log — are read with one positional read and copied apart.
 * @throws as {@link readMerged}.
 */
export async function readMergedInto(src: MergedSource, offset: number, into: Uint8Array, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal, 'read');
  const length = into.length;
  if (length === 0) return;
  const { map, view } = src;
  const page = map.pageSize;
  const end = offset + length;
  // Planned before anything is awaited: writes may change the map meanwhile, but the log is
  // append-only, so the offsets planned stay valid (the read returns the content as of now).
  const runs = [...map.runs(Math.floor(offset / page), Math.ceil(end / page))];
  const handle = src.handle;
  const fh = handle.acquire();
  try {
    const tasks: Promise<void>[] = [];
    const fromBase = (a: number, b: number) => tasks.push(view.read(a, b - a, { signal }).then((d) => into.set(d, a - offset)));
    /** Data pieces in order: where in `into`, how long, where in the file. */
    const pieces: number[] = [];
    let pos = offset;
    for (const r of runs) {
      const rs = Math.max(r.page * page, offset);
      const re = Math.min((r.page + r.count) * page, end);
      if (rs > pos) fromBase(pos, rs);
      if (r.offset === ZERO_PAGES) into.fill(0, rs - offset, re - offset);
      else pieces.push(rs - offset, re - rs, r.offset + (rs - r.page * page));
      pos = re;
    }
    if (pos < end) fromBase(pos, end);
    for (let i = 0; i < pieces.length;) {
      // Pieces that follow each other in the file closely enough: one read.
      let j = i + 3;
      while (j < pieces.length && pieces[j + 2] >= pieces[j - 1] + pieces[j - 2] && pieces[j + 2] - (pieces[j - 1] + pieces[j - 2]) <= MAX_SPAN_GAP
        && pieces[j + 2] + pieces[j + 1] - pieces[i + 2] <= MAX_SPAN) j += 3;
      if (j === i + 3) tasks.push(preadFully(fh, into.subarray(pieces[i], pieces[i] + pieces[i + 1]), pieces[i + 2], src.path));
      else {
        const from = pieces[i + 2];
        const span = pieces[j - 1] + pieces[j - 2] - from;
        if (spanScratch.length < span) spanScratch = new Uint8Array(MAX_SPAN);
        try {
          preadFullySync(fh, spanScratch.subarray(0, span), from, src.path);
        } catch (err) {
          tasks.push(Promise.reject(err));
          break;
        }
        for (let k = i; k < j; k += 3) into.set(spanScratch.subarray(pieces[k + 2] - from, pieces[k + 2] - from + pieces[k + 1]), pieces[k]);
      }
      i = j;
    }
    // Wait for every read before giving the handle back, even when one fails.
    const settled = await Promise.allSettled(tasks);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) throw failure.reason;
  } finally {
    handle.release();
  }
}

/**
 * The zero and data runs covering the start of [offset, offset + length) (checked) as the merged
 * stream reads: the overlay's zero pages and the base's holes are zero, the rest data; adjacent
 * runs of the same kind merged; at most `maxExtents`, the last one complete.
 * @throws CorruptArchiveError when the base's index is damaged.
 */
export async function mergedExtents(src: Pick<MergedSource, 'map' | 'view'>, offset: number, length: number, maxExtents = Infinity, signal?: AbortSignal): Promise<StreamExtent[]> {
  const { map, view } = src;
  const page = map.pageSize;
  const out: StreamExtent[] = [];
  const push = (o: number, l: number, zero: boolean): boolean => {
    const last = out[out.length - 1];
    if (last && last.zero === zero && last.offset + last.length === o) last.length += l;
    else if (out.length >= maxExtents) return false;
    else out.push({ offset: o, length: l, zero });
    return true;
  };
  const fromBase = async (from: number, to: number): Promise<boolean> => {
    while (from < to) {
      // One more than the room left: the first may merge into the last one we have.
      const got = await view.extents(from, to - from, { maxExtents: Math.max(1, maxExtents - out.length + 1), signal });
      if (!got.length) break;
      for (const e of got) if (!push(e.offset, e.length, e.zero)) return false;
      const last = got[got.length - 1];
      from = last.offset + last.length;
    }
    return true;
  };
  const end = offset + length;
  const lastPage = Math.ceil(end / page);
  let pos = offset;
  while (pos < end) {
    // The map may change while the base is asked: find the place again after every wait.
    let gapEnd = end;
    for (const r of map.runs(Math.floor(pos / page), lastPage)) {
      const rs = Math.max(r.page * page, pos);
      if (rs > pos) {
        gapEnd = rs;
        break;
      }
      const re = Math.min((r.page + r.count) * page, end);
      if (!push(rs, re - rs, r.offset === ZERO_PAGES)) return out;
      pos = re;
    }
    if (pos >= end) break;
    if (!(await fromBase(pos, gapEnd))) return out;
    pos = gapEnd;
  }
  return out;
}
