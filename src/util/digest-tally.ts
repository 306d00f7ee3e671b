import { randomInt } from 'node:crypto';

/** Bytes of one content hash (BLAKE3-256, keyed or not; docs/FORMAT.md §5, §12.4). */
const DIGEST = 32;
/** Grow past this fill ratio: linear probing stays short below it. */
const MAX_LOAD = 0.7;

/**
 * A set of 32-byte content hashes, each with a running total of logical bytes, held in two flat
 * typed arrays (40 bytes a slot) rather than a Map of hex strings (≈150 bytes an entry), so a
 * diff of archives with millions of blocks stays small. Open addressing with linear probing;
 * the probe start mixes all eight words of the hash with a per-instance random seed, so an
 * archive with crafted hashes (diff reads no block, so nothing checks them) cannot force long
 * probe chains.
 */
export class DigestTally {
  private keys: Uint8Array;
  /** Logical bytes per slot; 0 marks an empty slot (every entry has length > 0, §5). */
  private totals: Float64Array;
  private mask: number;
  private readonly seed = randomInt(0x7fffffff);
  /** Number of distinct hashes held. */
  size = 0;

  /** @param capacity initial number of slots (rounded up to a power of two, at least 1024). */
  constructor(capacity = 1024) {
    let n = 1024;
    while (n < capacity) n *= 2;
    this.keys = new Uint8Array(n * DIGEST);
    this.totals = new Float64Array(n);
    this.mask = n - 1;
  }

  /**
   * Adds `length` logical bytes to `hash`'s total, inserting it when new.
   * @param hash a 32-byte content hash (only its first 32 bytes are used).
   * @param length logical bytes, > 0.
   */
  add(hash: Uint8Array, length: number): void {
    if ((this.size + 1) > MAX_LOAD * (this.mask + 1)) this.grow();
    const slot = this.find(hash);
    if (this.totals[slot] === 0) {
      this.keys.set(hash.subarray(0, DIGEST), slot * DIGEST);
      this.size++;
    }
    this.totals[slot] += length;
  }

  /** True when `hash` has been added. */
  has(hash: Uint8Array): boolean {
    return this.totals[this.find(hash)] !== 0;
  }

  /** Calls `fn` with every hash held (a view into the table: copy it to keep it) and its total bytes. */
  forEach(fn: (hash: Uint8Array, bytes: number) => void): void {
    for (let slot = 0; slot <= this.mask; slot++) {
      const total = this.totals[slot];
      if (total !== 0) fn(this.keys.subarray(slot * DIGEST, (slot + 1) * DIGEST), total);
    }
  }

  /** The slot holding `hash`, or the empty slot where it would go. */
  private find(hash: Uint8Array): number {
    let slot = this.start(hash);
    const keys = this.keys;
    for (;;) {
      if (this.totals[slot] === 0) return slot;
      const at = slot * DIGEST;
      let k = 0;
      while (k < DIGEST && keys[at + k] === hash[k]) k++;
      if (k === DIGEST) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  private start(hash: Uint8Array): number {
    let h = this.seed;
    for (let k = 0; k < DIGEST; k += 4) {
      const w = hash[k] | (hash[k + 1] << 8) | (hash[k + 2] << 16) | (hash[k + 3] << 24);
      h = Math.imul(h ^ w, 0x9e3779b1);
      h ^= h >>> 15;
    }
    return (h >>> 0) & this.mask;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldTotals = this.totals;
    const n = (this.mask + 1) * 2;
    this.keys = new Uint8Array(n * DIGEST);
    this.totals = new Float64Array(n);
    this.mask = n - 1;
    for (let slot = 0; slot < oldTotals.length; slot++) {
      if (oldTotals[slot] === 0) continue;
      const hash = oldKeys.subarray(slot * DIGEST, (slot + 1) * DIGEST);
      const to = this.find(hash);
      this.keys.set(hash, to * DIGEST);
      this.totals[to] = oldTotals[slot];
    }
  }
}
