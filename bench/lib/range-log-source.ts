/**
 * A byte source that remembers every range read through it, so a bench can tell block reads
 * (inside the archive's data region) from header and index reads.
 */
import type { ByteSource, ReadOptions } from '../../dist/index.js';
import type { ByteRange } from './debugfs.js';

export class RangeLogSource implements ByteSource {
  readonly ranges: ByteRange[] = [];

  constructor(private readonly inner: ByteSource) {}

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    const out = await this.inner.read(offset, length, options);
    this.ranges.push({ offset, length: out.length });
    return out;
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

/** Bytes of `ranges` inside `region` and outside it, and how many reads were entirely outside. */
export function splitByRegion(ranges: ByteRange[], region: ByteRange): { inside: number; outside: number; outsideReads: number } {
  let inside = 0;
  let total = 0;
  let outsideReads = 0;
  for (const r of ranges) {
    total += r.length;
    const overlap = Math.max(0, Math.min(r.offset + r.length, region.offset + region.length) - Math.max(r.offset, region.offset));
    inside += overlap;
    if (overlap === 0) outsideReads++;
  }
  return { inside, outside: total - inside, outsideReads };
}
