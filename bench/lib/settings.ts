/** The environment knobs of `npm run bench` (bench/bench.ts documents them). */

/** Parsed knobs; read once by the driver and handed to every section. */
export interface BenchSettings {
  /** Timed repetitions of each pack / extract / sequential measure (median reported). */
  runs: number;
  /** Random 4 KiB reads in the random-read section. */
  samples: number;
  /** Whole-process runs of each CLI-startup measure. */
  startupRuns: number;
  /** Size of the generated sample image, MiB (used without HEXZ_CORPUS). */
  genMib: number;
  /** Keep the work dir. */
  keep: boolean;
  /** Longest wait, ms, for the machine to go quiet before a section. */
  quietWaitMs: number;
}

/** A positive integer from the environment, or `def` when unset. @throws Error on anything else. */
export function intEnv(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
}

export function readSettings(): BenchSettings {
  return {
    runs: intEnv('HEXZ_BENCH_RUNS', 3),
    samples: intEnv('HEXZ_BENCH_SAMPLES', 200),
    startupRuns: intEnv('HEXZ_BENCH_STARTUP_RUNS', 15),
    genMib: intEnv('HEXZ_BENCH_GEN_MIB', 512),
    keep: process.env.HEXZ_BENCH_KEEP === '1',
    quietWaitMs: intEnv('HEXZ_BENCH_QUIET_WAIT_S', 120) * 1000,
  };
}
