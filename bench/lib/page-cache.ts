/** The OS page cache: filling it with a file, flushing dirty pages, dropping it. */
import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readSync, rmSync, writeFileSync } from 'node:fs';

/** Reads a file through so its pages are in the page cache. */
export function warm(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** `sync` of every file system, or of the given files only (their data and metadata). */
export function syncAll(...paths: string[]): void {
  execFileSync('sync', paths);
}

/** Whether this process may drop caches (root, or a writable /proc/sys/vm/drop_caches). */
export function canDropCaches(): boolean {
  try {
    accessSync('/proc/sys/vm/drop_caches', fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Drops the whole machine's clean caches: `1` the page cache only, `3` also dentries and
 * inodes. Dirty pages are not dropped: {@link syncAll} first where that matters.
 * @returns false when not permitted (nothing dropped).
 */
export function dropCaches(level: 1 | 3): boolean {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', String(level));
    return true;
  } catch {
    return false;
  }
}

/**
 * An untimed `before` step for runs that write `path`: delete the last run's output and flush
 * every file system, so no writeback of earlier work overlaps the timed run.
 */
export const freshOutput = (path: string) => (): void => {
  rmSync(path, { force: true, recursive: true });
  syncAll();
};
