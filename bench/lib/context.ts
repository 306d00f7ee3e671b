/** What the driver hands every section of `npm run bench`. */
import type { BuildSnapshot, HexzLib } from './build-snapshot.js';
import type { InputInfo } from './input.js';
import type { Results } from './results.js';
import type { ScreenedRuns } from './screened-runs.js';
import type { BenchSettings } from './settings.js';
import type { PeerTools } from './tools.js';
import type { QuietRecord } from './wait-quiet.js';

export interface BenchContext {
  settings: BenchSettings;
  /** The work dir (removed at the end unless HEXZ_BENCH_KEEP=1). */
  work: string;
  /** A path in the work dir. */
  path(name: string): string;
  input: InputInfo;
  /** The copied build that is measured, and its library. */
  build: BuildSnapshot;
  lib: HexzLib;
  tools: PeerTools;
  results: Results;
  runs: ScreenedRuns;
  /** What waitQuiet saw before each section. */
  quiet: QuietRecord[];
}

/** The archives the pack section leaves for the later sections (null: that peer is missing). */
export interface PackedArchives {
  hxzZstd: string;
  hxzLz4: string;
  zst: string | null;
  lz4: string | null;
  qcow2: string | null;
}
