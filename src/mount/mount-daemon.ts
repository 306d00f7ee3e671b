import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AbortedError } from '../errors.js';

/** Set in the environment of a mount server started by {@link startMountDaemon}. */
const DAEMON_ENV = 'HEXZ_MOUNT_DAEMON';

/** What {@link startMountDaemon} learned from the server it started. */
export type DaemonResult =
  | { ready: true; pid: number }
  | { ready: false; exitCode: number; stderr: string };

/**
 * Starts `node <script> ...args` as a detached background server (its own session, cwd `/`,
 * stdin/stdout closed) and waits until it reports ready with {@link notifyDaemonReady} or
 * exits. Its stderr goes to an unlinked temporary file, so an error it reports before it is
 * ready (a wrong password, a bad mount point) can be shown by the caller; after it is ready the
 * server writes nothing more (see {@link isMountDaemon}), and the file vanishes with it.
 *
 * This is how `hexz mount` returns once the mount works, like `borg mount`: the foreground
 * command is the same code, started with `--foreground` under a parent that waits.
 * @param args arguments after the script (`mount ARCHIVE DIR --foreground ...`), paths absolute.
 * @throws AbortedError when `signal` fires first (the server is then sent SIGTERM).
 */
export async function startMountDaemon(args: string[], signal: AbortSignal): Promise<DaemonResult> {
  const errPath = join(tmpdir(), `hexz-mount-${process.pid}-${randomBytes(4).toString('hex')}.log`);
  const errFd = openSync(errPath, 'w+', 0o600);
  try {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], {
      detached: true,
      cwd: '/',
      stdio: ['ignore', 'ignore', errFd, 'ipc'],
      env: { ...process.env, [DAEMON_ENV]: '1' },
    });
    unlinkSync(errPath);
    return await new Promise<DaemonResult>((resolve, reject) => {
      const onAbort = () => {
        child.kill('SIGTERM');
        reject(new AbortedError('cancelled while mounting', { stage: 'mount' }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (result: DaemonResult) => {
        signal.removeEventListener('abort', onAbort);
        child.removeAllListeners();
        if (result.ready) {
          // Let the server live on alone: no IPC channel, no reference from this process.
          child.disconnect?.();
          child.unref();
        }
        resolve(result);
      };
      child.on('message', (m: { ready?: boolean }) => m?.ready && settle({ ready: true, pid: child.pid! }));
      child.on('exit', (code, sig) => settle({ ready: false, exitCode: code ?? (sig ? 1 : 0), stderr: readAll(errFd) }));
      child.on('error', reject);
    });
  } finally {
    closeSync(errFd);
  }
}

/** True in a server started by {@link startMountDaemon}: it must report readiness and then keep quiet. */
export function isMountDaemon(): boolean {
  return process.env[DAEMON_ENV] === '1' && typeof process.send === 'function';
}

/** Tells the waiting parent the mount is ready, and lets go of the IPC channel. */
export function notifyDaemonReady(): void {
  if (!isMountDaemon()) return;
  process.send!({ ready: true }, () => process.disconnect?.());
}

/** The whole file behind `fd` (pread from 0: the child shares and moves the file offset). */
function readAll(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(Math.min(size, 1 << 20));
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString('utf8');
}
