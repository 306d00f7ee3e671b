/** A half-open byte range `[start, end)`, offsets in bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Merged byte ranges collected in ascending order of start: a range that overlaps or touches
 * the last one extends it, so the list stays minimal without sorting. Memory is one object per
 * merged range.
 */
export class ByteRanges {
  /** The merged ranges, ascending and disjoint (no two touch). */
  readonly ranges: ByteRange[] = [];
  /** Σ (end − start) over {@link ranges}, in bytes. */
  bytes = 0;

  /**
   * Adds `[start, end)`; empty ranges are ignored.
   * @throws RangeError when `start` lies before the last range's start (callers add in order).
   */
  add(start: number, end: number): void {
    if (end <= start) return;
    const last = this.ranges[this.ranges.length - 1];
    if (last && start < last.start) throw new RangeError(`range [${start}, ${end}) added out of order (after [${last.start}, ${last.end}))`);
    if (last && start <= last.end) {
      if (end > last.end) {
        this.bytes += end - last.end;
        last.end = end;
      }
      return;
    }
    this.ranges.push({ start, end });
    this.bytes += end - start;
  }
}
