/** What the files bench's sections share. */
import type { HexzLib } from './build-snapshot.js';
import type { PartitionPlace, Target } from './files-setup.js';
import type { Results } from './results.js';
import type { ScreenedRuns } from './screened-runs.js';
import type { Teardown } from './teardown.js';

export interface FilesContext {
  lib: HexzLib;
  /** The measured CLI (`node bin/hexz.js` of the copied build). */
  bin: string;
  /** A path in the work dir. */
  path(name: string): string;
  runs: ScreenedRuns;
  results: Results;
  teardown: Teardown;
  /** The archives: v1 full, v2 thin against v1. */
  v1: string;
  v2: string;
  /** The corpus inputs the peers read. */
  raw1: string;
  qcow2: string;
  partition: PartitionPlace;
  /** Raw copy of the partition (for debugfs and the metadata reference). */
  partRaw: string;
  /** The small and the large file. */
  targets: Target[];
  /** Entries in v1's whole-tree listing. */
  entries: number;
  /** Untimed step before each timed run: flush and drop the page cache when allowed, else nothing. */
  cold: () => void;
  /** Programs found on PATH. */
  has: (prog: string) => boolean;
  /** Whole-process run of the measured CLI. */
  hexz(args: string[], stdoutTo?: string): Promise<import('./run.js').RunResult>;
}
