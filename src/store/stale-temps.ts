import { readdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempOwnerPid } from './temp-path.js';

/**
 * Removes the temporary files an earlier writer of `path` left beside it when it was killed
 * (`kill -9`, power loss) before it could clean up: every sibling named by `tempPathFor(path)`
 * (and its side files) whose pid is not a live process. Temp files of live writers, of other
 * outputs and of this process are left alone. Best effort, never throws: a directory that cannot
 * be listed or a file that cannot be removed only means the leftover stays.
 *
 * The pid check is local: a writer on another machine sharing the directory (NFS) is not seen,
 * so its temp file would be removed; hexz does not support concurrent writers of one output
 * from several machines.
 *
 * @param isAlive whether a pid is a running process (injected by tests).
 * @returns the paths removed.
 */
export async function removeStaleTemps(path: string, isAlive: (pid: number) => boolean = processAlive): Promise<string[]> {
  const dir = dirname(path);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = tempOwnerPid(path, name);
    if (pid === undefined || pid === process.pid || isAlive(pid)) continue;
    const stale = join(dir, name);
    if (await unlink(stale).then(() => true, () => false)) removed.push(stale);
  }
  return removed;
}

/** True when `pid` names a running process (of any user: EPERM still means it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
