/**
 * Order statistics of timing samples. Two conventions live here on purpose: `npm run bench`
 * reports {@link median} (mean of the middle two) and nearest-rank {@link percentile}; the
 * single-purpose benches (remote, serve, mount, commit, sequential) have always reported the
 * element at ⌊n·p⌋ ({@link upperMedian}, {@link upperPercentile}), and keep it so their figures
 * stay comparable with their earlier results. With odd counts the two medians agree.
 */

function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Median; the mean of the two middle values for an even count. */
export function median(xs: number[]): number {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile, `p` in 0..1: the value at rank ⌈p·n⌉. */
export function percentile(xs: number[], p: number): number {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

/** The value at index ⌊p·n⌋ of the sorted samples (one rank above nearest-rank when p·n is whole). */
export function upperPercentile(xs: number[], p: number): number {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

/** The value at index ⌊n/2⌋ of the sorted samples: the median, or the upper middle one for an even count. */
export function upperMedian(xs: number[]): number {
  return upperPercentile(xs, 0.5);
}
