/**
 * `qemu-nbd -r` as a peer of the files bench: a read-only server of (part of) a qcow2 on a unix
 * socket. It runs as a direct child (not `--fork`), so its pid is known from the first moment
 * (a bench stopped while it starts still kills it) and its exit is seen; the start is timed up
 * to the first accepted connection.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { cpuSeconds } from './processes.js';
import type { Teardown } from './teardown.js';

export interface QemuNbd {
  /** The NBD URI of the export. */
  uri: string;
  /** CPU seconds the server used so far (null once gone). */
  cpuSeconds(): number | null;
  /** Sends SIGTERM (synchronous: the part of stopping a user waits for). */
  signal(): void;
  /** Waits until the server has exited (SIGKILL after 5 s); removes its teardown step. */
  stopped(): Promise<void>;
}

/**
 * Starts `qemu-nbd` serving `imageOpts` (an --image-opts string) on `sock` and waits until it
 * accepts connections; a teardown step kills it should the bench stop before {@link QemuNbd.stopped}.
 * @throws Error when it exits or does not listen within 10 s.
 */
export async function startQemuNbd(imageOpts: string, sock: string, teardown: Teardown): Promise<QemuNbd> {
  rmSync(sock, { force: true });
  const child = spawn('qemu-nbd', ['-r', '--image-opts', imageOpts, '-k', sock, '--shared=8', '--persistent'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pid = child.pid!;
  const drop = teardown.add(`qemu-nbd (pid ${pid})`, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stopped = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    drop();
  };
  try {
    await listening(sock, () => child.exitCode !== null || child.signalCode !== null);
  } catch (err) {
    await stopped();
    throw new Error(`qemu-nbd did not start: ${(err as Error).message}${stderr ? `: ${stderr.trim()}` : ''}`);
  }
  return {
    uri: `nbd+unix:///?socket=${sock}`,
    cpuSeconds: () => cpuSeconds(pid),
    signal: () => void child.kill('SIGTERM'),
    stopped,
  };
}

/** Resolves once a connection to the unix socket `sock` is accepted (polled every 2 ms). */
async function listening(sock: string, gone: () => boolean): Promise<void> {
  const until = performance.now() + 10_000;
  while (performance.now() < until) {
    if (gone()) throw new Error('it exited');
    if (existsSync(sock) && (await accepts(sock))) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no listener on ${sock} after 10 s`);
}

function accepts(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(sock);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
