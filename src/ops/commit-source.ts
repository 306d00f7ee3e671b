import type { StreamExtent } from '../archive/stream-view.js';
import type { StreamName } from '../format/constants.js';
import { readAsRuns } from '../archive/read-as-runs.js';
import type { RunDecoder } from '../archive/run-decoder.js';
import type { Archive } from '../node/archive.js';
import type { Overlay } from '../overlay/overlay.js';
import type { MergedStream } from './commit-window.js';

/** Logical bytes per decode task of a base read: a long window's blocks spread over the workers. */
const RUN_BYTES = 1 << 20;

/**
 * The merged stream of `overlay` as a commit reads it: the base range (each base block decoded
 * and hash-checked once, on `decoder`'s workers, never on the calling thread), then the written
 * ranges laid over it (zero ranges as zeros, data ranges from the overlay file alone). A range
 * wholly written is not read from the base at all. Nothing is cached and nothing read ahead:
 * a commit reads each base block it needs once.
 * The written ranges are a snapshot (`Overlay.writtenExtents`), taken now unless given.
 * @param decoder decodes runs of the base's blocks (a pool started with the stores of the base's chain).
 */
export function commitSource(overlay: Overlay, stream: StreamName, decoder: RunDecoder, written: readonly StreamExtent[] = overlay.writtenExtents(stream)): MergedStream {
  const archive = overlay.base;
  const base = archive.stream(stream);
  const size = overlay.size(stream);
  return {
    size,
    async read(offset, length, signal) {
      const end = offset + length;
      const parts = overlapping(written, offset, end);
      const covered = parts.reduce((n, w) => n + Math.min(end, w.offset + w.length) - Math.max(offset, w.offset), 0);
      const dataParts = parts.filter((w) => !w.zero);
      // The overlay's pages are read while the base decodes.
      const [out, pages] = await Promise.all([
        covered === length ? new Uint8Array(length) : readBase(archive, decoder, stream, offset, length, signal),
        Promise.all(dataParts.map((w) => {
          const from = Math.max(offset, w.offset);
          return overlay.read(stream, from, Math.min(end, w.offset + w.length) - from, { signal });
        })),
      ]);
      for (const w of parts) if (w.zero) out.fill(0, Math.max(offset, w.offset) - offset, Math.min(end, w.offset + w.length) - offset);
      dataParts.forEach((w, k) => out.set(pages[k], Math.max(offset, w.offset) - offset));
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

/**
 * Base bytes [offset, offset + length), decoded on `decoder` as runs of about {@link RUN_BYTES}
 * (as the NBD server's pooled reads are), assembled in order. Zero entries read as zeros.
 * @throws CorruptArchiveError when a block fails its checks or the index is damaged; StoreError as the reads.
 */
async function readBase(archive: Archive, decoder: RunDecoder, stream: StreamName, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  return (await readAsRuns(archive, stream, offset, length, { decoder, runBytes: RUN_BYTES, signal })) ?? new Uint8Array(length);
}

/** The extents of `sorted` (in order, disjoint) that overlap [from, to). */
export function overlapping(sorted: readonly StreamExtent[], from: number, to: number): StreamExtent[] {
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
