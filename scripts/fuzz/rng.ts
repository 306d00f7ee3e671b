/**
 * Deterministic randomness for the fuzzer. Every case is a pure function of its case seed, and
 * the case seed a pure function of (run seed, case number), so any case can be replayed alone.
 */

/** Mixes two 32-bit values into one (a murmur3-style finaliser); the case seed of case `n` of run `seed`. */
export function caseSeedOf(runSeed: number, caseNumber: number): number {
  let h = Math.imul((runSeed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(caseNumber + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Formats a case seed the way it is printed and read back by `--replay`. */
export function formatSeed(seed: number): string {
  return (seed >>> 0).toString(16).padStart(8, '0');
}

/** Parses a seed given on the command line: hex, as printed (an optional `0x` prefix is allowed). */
export function parseSeed(text: string): number {
  const t = text.trim().toLowerCase().replace(/^0x/, '');
  const v = /^[0-9a-f]{1,8}$/.test(t) ? parseInt(t, 16) : NaN;
  if (!Number.isFinite(v)) throw new Error(`not a seed (1 to 8 hex digits): ${text}`);
  return v >>> 0;
}

/** sfc32: small, fast, good enough statistically, and fully determined by one 32-bit seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Next unsigned 32-bit value. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n) (n ≤ 2^53). */
  int(n: number): number {
    if (n <= 0) return 0;
    if (n <= 0x1_0000_0000) return Math.floor((this.next() / 0x1_0000_0000) * n);
    return Math.floor(((this.next() * 0x1_0000_0000 + this.next()) / 2 ** 64) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** One element chosen by weight: `[[weight, value], …]`. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((n, [w]) => n + w, 0);
    let x = this.next() / 0x1_0000_0000 * total;
    for (const [w, v] of items) {
      if ((x -= w) < 0) return v;
    }
    return items[items.length - 1][1];
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A seed for a sub-generator. */
  fork(): Rng {
    return new Rng(this.next());
  }
}
