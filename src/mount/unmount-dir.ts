import { spawn } from 'node:child_process';
import { readdir, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StoreError, UsageError } from '../errors.js';
import { mountsOn } from './mount-table.js';

/** How {@link unmountDir} ended. */
export interface UnmountResult {
  /** `clean`: unmounted at once; `lazy`: detached while busy (fusermount3 -uz), gone once the last open file closes. */
  how: 'clean' | 'lazy';
  /** True when the server had already died (the mount answered ENOTCONN). */
  wasDead: boolean;
}

/** The FUSE helper that unmounts without root (Debian package fuse3). */
const FUSERMOUNT = 'fusermount3';

/**
 * Unmounts the hexz FUSE mount on `dir`: `fusermount3 -u`, and when that fails because files
 * are open (EBUSY), a lazy unmount (`-uz`): the directory is detached at once and the server
 * ends when the last open file is closed. Also cleans up after a dead server (kill -9), whose
 * mount point otherwise answers "Transport endpoint is not connected".
 * @throws UsageError when `dir` is not a FUSE mount point (nothing is done to other mounts).
 * @throws StoreError when fusermount3 is missing or fails both ways (its message included).
 */
export async function unmountDir(dir: string): Promise<UnmountResult> {
  const path = await realpath(dir).catch(() => resolve(dir));
  const mounts = await mountsOn(path);
  const top = mounts.at(-1);
  if (!top) throw new UsageError(`${dir} is not mounted`, { stage: 'umount' });
  if (!top.fsType.startsWith('fuse')) throw new UsageError(`${dir} is not a FUSE mount (it is ${top.fsType}): use umount`, { stage: 'umount' });
  // A dead server's mount point answers ENOTCONN to whatever reaches it (a stat may not: the
  // kernel answers it from its attribute cache; a readdir must ask the server).
  const wasDead = await readdir(path).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'ENOTCONN');
  const first = await run(['-u', path]);
  if (first.code === 0) return { how: 'clean', wasDead };
  const lazy = await run(['-uz', path]);
  if (lazy.code === 0) return { how: 'lazy', wasDead };
  throw new StoreError(`cannot unmount ${dir}: ${(lazy.stderr || first.stderr).trim() || `fusermount3 exited ${lazy.code}`}`, { stage: 'umount' });
}

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(FUSERMOUNT, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT'
      ? new StoreError(`${FUSERMOUNT} not found: install fuse3 (Debian: apt-get install fuse3)`, { stage: 'umount' }, { cause: err })
      : err));
    child.on('close', (code) => done({ code: code ?? 1, stderr }));
  });
}
