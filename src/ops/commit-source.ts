import type { StreamExtent } from '../archive/stream-view.js';
import type { StreamName } from '../format/constants.js';
import type { Overlay } from '../overlay/overlay.js';
import type { MergedStream } from './commit-window.js';

/**
 * The merged stream of `overlay` as a commit reads it: the base range in one read (each base
 * block decoded once, where `overlay.read` would read the gaps between written pages apart and
 * decode a block once per gap), then the written ranges laid over it (zero ranges as zeros, data
 * ranges from the overlay file alone). A range wholly written is not read from the base at all.
 * Base reads never start read-ahead: windows that happen to be adjacent are not a sequential
 * reader, and read-ahead would decode blocks the commit never needs.
 * The written ranges are a snapshot taken now (`Overlay.writtenExtents`).
 */
export function commitSource(overlay: Overlay, stream: StreamName): MergedStream {
  const written = overlay.writtenExtents(stream);
  const archive = overlay.base;
  const base = archive.stream(stream);
  const size = overlay.size(stream);
  return {
    size,
    async read(offset, length, signal) {
      const end = offset + length;
      const parts = overlapping(written, offset, end);
      const covered = parts.reduce((n, w) => n + Math.min(end, w.offset + w.length) - Math.max(offset, w.offset), 0);
      const out = covered === length ? new Uint8Array(length) : await archive.readWithCursor(stream, offset, length, { lastEnd: -1 }, signal);
      await Promise.all(parts.map(async (w) => {
        const from = Math.max(offset, w.offset);
        const to = Math.min(end, w.offset + w.length);
        if (w.zero) out.fill(0, from - offset, to - offset);
        else out.set(await overlay.read(stream, from, to - from, { signal }), from - offset);
      }));
      return out;
    },
    async extents(offset, length, signal) {
      const end = offset + length;
      const parts = overlapping(written, offset, end);
      const covered = parts.reduce((n, w) => n + Math.min(end, w.offset + w.length) - Math.max(offset, w.offset), 0);
      const under = covered === length ? [] : await base.extents(offset, length, { signal });
      return layExtents(under, parts, offset, end);
    },
  };
}

/** The extents of `sorted` (in order, disjoint) that overlap [from, to). */
function overlapping(sorted: readonly StreamExtent[], from: number, to: number): StreamExtent[] {
  let lo = 0;
  let hi = sorted.length;
  // First extent ending after `from`.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].offset + sorted[mid].length <= from) lo = mid + 1;
    else hi = mid;
  }
  const out: StreamExtent[] = [];
  for (let i = lo; i < sorted.length && sorted[i].offset < to; i++) out.push(sorted[i]);
  return out;
}

/**
 * Zero and data runs of [from, to): the written extents `top` (in order) where they are, the
 * base's runs `under` elsewhere, adjacent runs of a kind merged. Pure.
 */
export function layExtents(under: readonly StreamExtent[], top: readonly StreamExtent[], from: number, to: number): StreamExtent[] {
  const out: StreamExtent[] = [];
  const push = (offset: number, end: number, zero: boolean) => {
    if (end <= offset) return;
    const last = out[out.length - 1];
    if (last && last.zero === zero && last.offset + last.length === offset) last.length += end - offset;
    else out.push({ offset, length: end - offset, zero });
  };
  const fromBase = (a: number, b: number) => {
    for (const u of under) push(Math.max(a, u.offset), Math.min(b, u.offset + u.length), u.zero);
  };
  let pos = from;
  for (const t of top) {
    const a = Math.max(from, t.offset);
    const b = Math.min(to, t.offset + t.length);
    if (a > pos) fromBase(pos, a);
    push(a, b, t.zero);
    pos = Math.max(pos, b);
  }
  if (pos < to) fromBase(pos, to);
  return out;
}
