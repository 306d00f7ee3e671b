/**
 * Which pages of one stream an overlay holds, and where: a sorted set of non-overlapping page
 * runs, each either data (its pages at consecutive file offsets) or zero. Pure; no I/O.
 */

/** `offset` of a zero run. */
export const ZERO_PAGES = -1;

/** A run of pages, in page units; `offset` is a file offset in bytes. */
export interface PageRun {
  /** First page index. */
  page: number;
  /** Pages, ≥ 1. */
  count: number;
  /** File offset of the first page's bytes (page `page + i` at `offset + i·pageSize`), or {@link ZERO_PAGES}. */
  offset: number;
}

/**
 * Runs are kept as triples `[start, end, offset]` in plain number arrays, in buckets of at most
 * 2 × `bucketRuns` runs (a sorted list of sorted chunks): finding a page is two binary searches,
 * and an update splices one or two small arrays instead of one array as long as the whole map.
 *
 * Memory: 24 bytes per run (three unboxed doubles; less while they fit in small integers) plus
 * array slack. A run is one record's worth of pages (up to 8 MiB) or a whole trimmed range, so
 * large or sequential writes cost almost nothing; scattered 4 KiB writes cost about 24–40 bytes
 * per written page. Compaction rewrites adjacent pages into one record, hence one run. There is
 * no entry-count limit (a V8 Map stops at 2^24 entries: 64 GiB of 4 KiB pages, or one trim of a
 * 64 GiB disk if pages were entries).
 */
export class OverlayMap {
  private buckets: number[][] = [];
  private data = 0;
  private zero = 0;
  private count = 0;

  /**
   * @param pageSize bytes per page, used to shift a data run's offset when it is cut.
   * @param bucketRuns target runs per bucket (tests use small ones to exercise splits).
   */
  constructor(readonly pageSize: number, private readonly bucketRuns = 512) {}

  /** Pages held as data. */
  get dataPages(): number {
    return this.data;
  }

  /** Pages held as zero. */
  get zeroPages(): number {
    return this.zero;
  }

  /** Runs in the map (adjacent compatible runs are merged). */
  get runCount(): number {
    return this.count;
  }

  /**
   * Makes pages [page, page + count) read from `offset` on (consecutive pages at consecutive
   * file offsets), or as zeros when `offset` is {@link ZERO_PAGES}, replacing whatever the map
   * held for them. Neighbours that continue the run are merged with it.
   * @throws RangeError for a negative page or a count below 1.
   */
  set(page: number, count: number, offset: number): void {
    if (!Number.isSafeInteger(page) || page < 0 || !Number.isSafeInteger(count) || count < 1) throw new RangeError(`bad page run ${page}+${count}`);
    const start = page;
    const end = page + count;
    // First run with end >= start: it may touch the new run on the left (and be merged).
    let [b, i] = this.locate(start - 1);
    if (b === this.buckets.length) {
      if (b === 0) {
        this.buckets.push([]);
      }
      b = this.buckets.length - 1;
      i = this.buckets[b].length / 3;
    }
    // Collect the runs that overlap or touch [start, end).
    const removed: number[] = [];
    for (let bb = b, ii = i; bb < this.buckets.length; bb++, ii = 0) {
      const bucket = this.buckets[bb];
      for (; ii * 3 < bucket.length; ii++) {
        if (bucket[ii * 3] > end) break;
        removed.push(bucket[ii * 3], bucket[ii * 3 + 1], bucket[ii * 3 + 2]);
      }
      if (ii * 3 < bucket.length) break;
    }
    const out: number[] = [];
    let left: number[] | undefined;
    let right: number[] | undefined;
    for (let k = 0; k < removed.length; k += 3) {
      const [s, e, o] = [removed[k], removed[k + 1], removed[k + 2]];
      this.account(o, -(Math.min(e, end) - Math.max(s, start)), Math.max(s, start) < Math.min(e, end));
      this.count--;
      if (s < start) left = [s, Math.min(e, start), o];
      if (e > end) {
        const from = Math.max(s, end);
        right = [from, e, o === ZERO_PAGES ? o : o + (from - s) * this.pageSize];
      }
    }
    let run = [start, end, offset];
    if (left) {
      if (this.continues(left, run)) run = [left[0], end, left[2]];
      else out.push(...left);
    }
    if (right && this.continues(run, right)) {
      run = [run[0], right[1], run[2]];
      right = undefined;
    }
    out.push(...run);
    if (right) out.push(...right);
    this.account(offset, count, true);
    this.count += out.length / 3;
    this.splice(b, i, removed.length / 3, out);
  }

  /**
   * The runs overlapping pages [from, to), clipped to that range, in page order.
   */
  *runs(from = 0, to = Number.MAX_SAFE_INTEGER): Generator<PageRun> {
    if (to <= from) return;
    let [b, i] = this.locate(from);
    for (; b < this.buckets.length; b++, i = 0) {
      const bucket = this.buckets[b];
      for (; i * 3 < bucket.length; i++) {
        const s = bucket[i * 3];
        if (s >= to) return;
        const e = bucket[i * 3 + 1];
        const o = bucket[i * 3 + 2];
        const a = Math.max(s, from);
        yield { page: a, count: Math.min(e, to) - a, offset: o === ZERO_PAGES ? o : o + (a - s) * this.pageSize };
      }
    }
  }

  /** Where page `page` is: its file offset, {@link ZERO_PAGES}, or undefined when the map does not hold it. */
  lookup(page: number): number | undefined {
    for (const r of this.runs(page, page + 1)) return r.offset;
    return undefined;
  }

  /** True when `b` starts where `a` ends and continues it (both zero, or data at the next file offset). */
  private continues(a: number[], b: number[]): boolean {
    if (a[1] !== b[0]) return false;
    if (a[2] === ZERO_PAGES || b[2] === ZERO_PAGES) return a[2] === b[2];
    return a[2] + (a[1] - a[0]) * this.pageSize === b[2];
  }

  private account(offset: number, pages: number, overlap: boolean): void {
    if (!overlap) return;
    if (offset === ZERO_PAGES) this.zero += pages;
    else this.data += pages;
  }

  /** [bucket, index] of the first run whose end is > `page`; [buckets.length, 0] when none. */
  private locate(page: number): [number, number] {
    const bs = this.buckets;
    let lo = 0;
    let hi = bs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const bucket = bs[mid];
      if (bucket[bucket.length - 2] > page) hi = mid;
      else lo = mid + 1;
    }
    if (lo === bs.length) return [lo, 0];
    const bucket = bs[lo];
    let a = 0;
    let z = bucket.length / 3;
    while (a < z) {
      const mid = (a + z) >>> 1;
      if (bucket[mid * 3 + 1] > page) z = mid;
      else a = mid + 1;
    }
    return [lo, a];
  }

  /** Replaces `remove` runs starting at run `i` of bucket `b` (continuing into later buckets) with `insert`. */
  private splice(b: number, i: number, remove: number, insert: number[]): void {
    const bs = this.buckets;
    const first = bs[b];
    const here = Math.min(remove, first.length / 3 - i);
    first.splice(i * 3, here * 3, ...insert);
    let rest = remove - here;
    let whole = 0;
    while (rest > 0 && rest >= bs[b + 1 + whole].length / 3) rest -= bs[b + 1 + whole++].length / 3;
    if (whole) bs.splice(b + 1, whole);
    if (rest > 0) bs[b + 1].splice(0, rest * 3);
    // `insert` is never empty, so the first bucket never empties.
    if (first.length > this.bucketRuns * 6) {
      // Split an oversized bucket into pieces of bucketRuns runs.
      const pieces: number[][] = [];
      for (let at = 0; at < first.length; at += this.bucketRuns * 3) pieces.push(first.slice(at, at + this.bucketRuns * 3));
      bs.splice(b, 1, ...pieces);
    }
  }
}

/** A byte range of a stream an overlay holds: `zero` when it reads as zeros, else from overlay pages. */
export interface WrittenRange {
  offset: number;
  length: number;
  zero: boolean;
}

/**
 * The byte ranges `map` holds in a stream of `size` bytes, in order, clipped to the stream, with
 * adjacent ranges merged: those of the same kind, or all of them when `anyKind` (then `zero` is
 * true only for a range that is zero throughout).
 */
export function* writtenRanges(map: OverlayMap, size: number, anyKind = false): Generator<WrittenRange> {
  let last: WrittenRange | undefined;
  for (const r of map.runs()) {
    const offset = r.page * map.pageSize;
    const length = Math.min((r.page + r.count) * map.pageSize, size) - offset;
    if (length <= 0) continue;
    const zero = r.offset === ZERO_PAGES;
    if (last && last.offset + last.length === offset && (anyKind || last.zero === zero)) {
      last.length += length;
      last.zero &&= zero;
    } else {
      if (last) yield last;
      last = { offset, length, zero };
    }
  }
  if (last) yield last;
}
