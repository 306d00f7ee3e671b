/**
 * The layout check partition tables share: no two partitions may claim the same sector.
 */
import { CorruptImageError } from '../../errors.js';

/** A partition's sectors, inclusive at both ends. */
export interface SectorRange {
  number: number;
  first: number;
  last: number;
}

/**
 * Checks that no two ranges share a sector (sorts a copy; O(n log n)).
 * @throws CorruptImageError naming both partitions and their ranges in `unit` (`LBA`, `sectors`);
 *   `stage` goes in the error's location.
 */
export function checkNoOverlap(ranges: readonly SectorRange[], unit: string, stage: string): void {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || a.last - b.last);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (b.first <= a.last) {
      const [x, y] = a.number < b.number ? [a, b] : [b, a];
      throw new CorruptImageError(
        `partitions ${x.number} and ${y.number} overlap (${unit} ${x.first}..${x.last} and ${y.first}..${y.last})`,
        { stage },
      );
    }
  }
}
