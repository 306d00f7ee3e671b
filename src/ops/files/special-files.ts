/**
 * Fifos and device nodes for a restore. Node has no mknod(2), so the coreutils programs make
 * them (`mkfifo`, `mknod`), under a plain ASCII name in the output directory, and the node is
 * then renamed to its real name, which may be any bytes (a program's arguments are strings).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../../errors.js';
import { liveTempFiles } from '../../store/live-temp-files.js';
import { pathText } from './output-paths.js';

/** A fifo, or a character or block device with its numbers. */
export type SpecialNode = { type: 'fifo' } | { type: 'chardev' | 'blockdev'; major: number; minor: number };

/**
 * Makes `node` at `dest` (mode 0600; the caller sets the real mode, owner and times). Devices
 * need root (mknod(2) refuses others); the caller checks that first.
 * @param stagingDir a directory on the same filesystem as `dest` whose path is a string.
 * @throws StoreError when the program cannot be run or fails (its message says why).
 */
export async function makeSpecialNode(node: SpecialNode, dest: Buffer, stagingDir: string): Promise<void> {
  const staging = join(stagingDir, `.hexz-node-${process.pid}-${randomBytes(6).toString('hex')}`);
  const [cmd, args] = node.type === 'fifo'
    ? ['mkfifo', ['-m', '600', staging]]
    : ['mknod', ['-m', '600', staging, node.type === 'chardev' ? 'c' : 'b', String(node.major), String(node.minor)]];
  liveTempFiles.add(staging);
  try {
    await run(cmd, args, pathText(dest));
    await rename(staging, dest);
  } catch (err) {
    await unlink(staging).catch(() => {});
    if (err instanceof StoreError) throw err;
    throw new StoreError(`${pathText(dest)}: cannot create the ${node.type}: ${(err as Error).message}`, { stage: 'restore' }, { cause: err });
  } finally {
    liveTempFiles.delete(staging);
  }
}

function run(cmd: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not installed (coreutils)` : `${cmd} failed: ${stderr.trim() || err.message}`;
      reject(new StoreError(`${what}: cannot create it: ${why}`, { stage: 'restore' }, { cause: err }));
    });
  });
}
