import { unlinkSync } from 'node:fs';

/**
 * The temporary output files this process is writing right now (an AtomicFile's temp file, a
 * writer's spool), so that a forced exit can still remove them when the code owning them cannot
 * run its own cleanup in time: the CLI exits a couple of seconds after SIGTERM/SIGINT even if a
 * command is stuck (src/cli/shutdown.ts).
 *
 * This is one process-wide registry on purpose, an exception to "no module-level state": a
 * signal and `process.exit` are process-wide too, and the writers that create temp files sit
 * layers below the CLI. Owners {@link LiveTempFiles.add} a path right after creating it and
 * {@link LiveTempFiles.delete} it once renamed into place or removed.
 */
export class LiveTempFiles {
  private readonly paths = new Set<string>();

  /** Registers `path` (absolute or relative to the current directory) as a live temp file. */
  add(path: string): void {
    this.paths.add(path);
  }

  /** Forgets `path`: it was committed (renamed) or removed by its owner. */
  delete(path: string): void {
    this.paths.delete(path);
  }

  /** The registered paths, in registration order. */
  list(): string[] {
    return [...this.paths];
  }

  /**
   * Removes every registered file, synchronously because it runs just before `process.exit`.
   * Never throws: a file already gone or not removable is skipped.
   * @returns the paths that were removed.
   */
  removeAllSync(): string[] {
    const removed: string[] = [];
    for (const path of this.paths) {
      try {
        unlinkSync(path);
        removed.push(path);
      } catch {
        // Already removed by its owner, or not ours to remove any more.
      }
    }
    this.paths.clear();
    return removed;
  }
}

/** The registry of this process (see {@link LiveTempFiles}). */
export const liveTempFiles = new LiveTempFiles();
