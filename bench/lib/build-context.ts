/** What the build bench's sections share, and the `--json` summaries they parse. */
import type { Results } from './results.js';
import type { RunResult } from './run.js';
import type { ScreenedRuns } from './screened-runs.js';
import type { QuietRecord } from './wait-quiet.js';

/** A source tree the bench builds. */
export interface BenchTree {
  /** Short name for labels and file names (`usr`, `rootfs-v1`). */
  key: string;
  /** The directory. */
  path: string;
}

export interface BuildContext {
  /** The measured CLI (`node bin/hexz.js` of the copied build). */
  bin: string;
  /** A path in the work dir. */
  path(name: string): string;
  work: string;
  runs: ScreenedRuns;
  results: Results;
  quiet: QuietRecord[];
  quietWaitMs: number;
  /** Whether mksquashfs is on the PATH (peer B; its rows are skipped without it). */
  haveSquashfs: boolean;
  /** Whole-process run of the measured CLI, under /usr/bin/time where present (peak RSS). */
  hexz(args: string[]): Promise<RunResult>;
  /** Lines printed loudly above the table (a failed e2fsck, a failed build). */
  alarms: string[];
  /** Lines printed above the table for each tree (counts, sizes). */
  info: string[];
}

/** One stream of a `hexz pack|build --json` summary. */
export interface StreamJson { name: string; logicalBytes: number; storedBytes: number; zeroBytes: number; dedupBytes: number; dataBlocks: number; dedupBlocks: number }

/** `hexz pack --json` (the fields the bench reads). */
export interface PackJson {
  archiveBytes: number;
  logicalBytes: number;
  seconds: number;
  streams: StreamJson[];
  thin: { parent: string; referencedBytes: number } | null;
}

/** `hexz build --json`: a pack summary plus what was laid out. */
export interface BuildJson extends PackJson {
  build: {
    diskSize: number;
    table: string;
    partitions: { number: number; offset: number; size: number; fs: string; files?: number; dirs?: number; dataBytes?: number; usedBytes?: number; inodes?: number }[];
  };
}

/** The disk stream's stored bytes of a summary (0 when it has none). */
export const storedBytes = (s: PackJson) => s.streams.find((x) => x.name === 'disk')?.storedBytes ?? 0;
