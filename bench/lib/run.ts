/**
 * Timing one run: a child process (wall clock around spawn..exit, with peak RSS and CPU from
 * /usr/bin/time where present) or in-process async work, each with the CPU share other
 * processes used meanwhile (see cpu-share.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMark, otherShare, treeCpuS } from './cpu-share.js';

export interface RunResult {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  rssKiB?: number;
  /** CPU seconds (user + sys) the timed work itself used. */
  cpuS?: number;
  /** Share of all CPUs used by OTHER processes during the run (0..1), when known. */
  other?: number;
}

/** GNU time, unless missing or HEXZ_BENCH_NO_TIME=1 (to test the path without it). */
export const TIME = existsSync('/usr/bin/time') && process.env.HEXZ_BENCH_NO_TIME !== '1' ? '/usr/bin/time' : null;

export const nowNs = () => process.hrtime.bigint();
export const msSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export interface RunOptions {
  /** A file the child's stdout goes to (e.g. /dev/null); default: a pipe, collected. */
  stdoutTo?: string;
  /** Resolve with a non-zero exit code instead of rejecting. */
  allowFail?: boolean;
  /**
   * Wrap in /usr/bin/time (default true when present). Off for runs of a few tens of ms,
   * where time's own fork + exec would be a visible share of both sides of a ratio.
   */
  time?: boolean;
}

/**
 * Runs a program as a child process and times it (wall clock around spawn..exit). Under
 * /usr/bin/time it also gets the child's peak RSS (KiB; worker threads share the process, so
 * they are included) and CPU time.
 * @throws Error when the child exits non-zero (unless `allowFail`) or cannot start.
 */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const time = opts.time === false ? null : TIME;
  let argv = [cmd, ...args];
  const statFile = join(tmpdir(), `.hexz-bench-time-${process.pid}`);
  if (time) argv = [time, '-f', '%M %U %S', '-o', statFile, ...argv];
  const outFd = opts.stdoutTo ? openSync(opts.stdoutTo, 'w') : null;
  return new Promise((resolvePromise, reject) => {
    const cpu0 = cpuMark();
    const t0 = nowNs();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', outFd ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      if (outFd !== null) closeSync(outFd);
      reject(err);
    });
    child.on('close', (code) => {
      const ms = msSince(t0);
      if (outFd !== null) closeSync(outFd);
      let rssKiB: number | undefined;
      let cpuS: number | undefined;
      if (time) {
        const txt = existsSync(statFile) ? readFileSync(statFile, 'utf8').trim().split('\n').pop()! : '';
        const [m, u, sy] = txt.split(/\s+/).map(Number);
        rssKiB = m || undefined;
        cpuS = Number.isFinite(u) && Number.isFinite(sy) ? u + sy : undefined;
        rmSync(statFile, { force: true });
      }
      const r: RunResult = { ms, code: code ?? -1, stdout, stderr, rssKiB, cpuS, other: otherShare(cpu0, ms) };
      if (code !== 0 && !opts.allowFail) reject(new Error(`${argv.join(' ')} exited with ${code}: ${stderr.trim().slice(0, 2000)}`));
      else resolvePromise(r);
    });
  });
}

/**
 * Times in-process async work the same way: `cpuS` is this whole process (all threads); `other`
 * is known for spans of at least `minMs`.
 */
export async function timeInProcess(fn: () => Promise<void>, minMs = 1000): Promise<RunResult> {
  const cpu0 = cpuMark();
  const u0 = process.cpuUsage();
  const t0 = nowNs();
  await fn();
  const ms = msSince(t0);
  const u = process.cpuUsage(u0);
  const cpuS = (u.user + u.system) / 1e6;
  return { ms, code: 0, stdout: '', stderr: '', cpuS, other: otherShare(cpu0, ms, minMs) };
}

/** A timed span measured from this process tree's CPU ticks: children it waited for count. */
export interface TreeRun { ms: number; cpuS: number; other: number }

/**
 * Times `fn` (in process, or spawning children synchronously) with the CPU the whole process
 * tree used and the share other processes used meanwhile, however short the span (0 when /proc
 * is missing).
 */
export async function timeTree(fn: () => Promise<void> | void): Promise<TreeRun> {
  const m0 = cpuMark();
  const t0 = nowNs();
  await fn();
  const ms = msSince(t0);
  const cpuS = (treeCpuS() ?? 0) - (m0.tree ?? 0);
  return { ms, cpuS, other: otherShare(m0, ms, 0) ?? 0 };
}
