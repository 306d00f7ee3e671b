/**
 * The FastCDC gear table (docs/FORMAT.md §3.2). Part of the format: another implementation
 * must reproduce these 256 values exactly to find the same chunk boundaries, so they are
 * generated from a documented PRNG rather than pasted as opaque constants.
 */

/** Seed of the SplitMix64 generator: the ASCII bytes "hexz" read as a big-endian u32. */
export const GEAR_SEED = 0x6865787an;

/**
 * Generates the table: 256 successive SplitMix64 outputs from {@link GEAR_SEED}, keeping the
 * high 32 bits of each. Pure; called once at module load.
 */
export function makeGearTable(): Uint32Array {
  const M = (1n << 64n) - 1n;
  let state = GEAR_SEED;
  const out = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b97f4a7c15n) & M;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    z ^= z >> 31n;
    out[i] = Number(z >> 32n);
  }
  return out;
}

/** The table every hexz chunker uses. */
export const GEAR: Uint32Array = makeGearTable();
