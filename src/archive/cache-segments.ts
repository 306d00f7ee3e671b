/**
 * Memory of block caches, kept across archives: when an archive closes, its block cache's
 * segments (the large buffers its decoded blocks live in, see BlockLoader) come here, and the next
 * archive that opens takes them instead of allocating its own. Why: every new buffer counts as
 * external memory to V8, which starts a full (incremental) collection each time some 64 MiB of it
 * has been allocated; an archive filling a fresh 64 MiB cache set one off in the middle of its
 * reads (a warm reader's random 4 KiB reads: ten reads in a row at 70-250 us and one at 1-5 ms,
 * at the same point run after run), and a program that opens archive after archive paid for one
 * every time. At most {@link MAX_KEPT_BYTES} are kept (their pages stay resident while kept).
 */

/** Bytes of free segments kept for the next archives (one default block cache). */
const MAX_KEPT_BYTES = 64 << 20;

const free = new Map<number, Uint8Array[]>();
let kept = 0;

/** A segment of exactly `bytes` bytes: one a closed archive left, or new. Not zeroed: blocks are decoded over it. */
export function takeCacheSegment(bytes: number): Uint8Array {
  const segment = free.get(bytes)?.pop();
  if (!segment) return new Uint8Array(bytes);
  kept -= bytes;
  return segment;
}

/**
 * Keeps `segments` for the next archives (those beyond the bound are left to the collector).
 * The caller must hold no view of them any more.
 */
export function keepCacheSegments(segments: Iterable<Uint8Array>): void {
  for (const s of segments) {
    if (kept + s.length > MAX_KEPT_BYTES) continue;
    let list = free.get(s.length);
    if (!list) free.set(s.length, (list = []));
    list.push(s);
    kept += s.length;
  }
}

/** Bytes of segments kept (tests). */
export function keptCacheBytes(): number {
  return kept;
}
