/**
 * How much of the machine other processes used while something was timed: the screening that
 * marks a run "disturbed". Linux only (/proc); elsewhere every figure is unknown.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CLK_TCK = 100; // USER_HZ of /proc/stat on Linux

/** Busy and total CPU ticks of the whole machine (first line of /proc/stat). */
export function cpuTimes(): { busy: number; total: number } | null {
  if (!existsSync('/proc/stat')) return null;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * CPU seconds used by this process and all its waited-for descendants (utime + stime +
 * cutime + cstime of /proc/self/stat): cumulative, so accurate to one clock tick.
 */
export function treeCpuS(): number | null {
  if (!existsSync('/proc/self/stat')) return null;
  const f = readFileSync('/proc/self/stat', 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
  return (v[11] + v[12] + v[13] + v[14]) / CLK_TCK;
}

/** Where the machine and this process tree stood at the start of a timed span. */
export interface CpuMark { machine: ReturnType<typeof cpuTimes>; tree: number | null }

export const cpuMark = (): CpuMark => ({ machine: cpuTimes(), tree: treeCpuS() });

/**
 * Share of all CPUs (0..1) used by processes outside this process tree between `m` and now
 * (kernel threads included, so writeback of our own output counts too). Undefined for spans
 * under `minMs`, where the 10 ms tick resolution makes it meaningless.
 */
export function otherShare(m: CpuMark, ms: number, minMs = 1000): number | undefined {
  const machine = cpuTimes();
  const tree = treeCpuS();
  if (!m.machine || !machine || m.tree === null || tree === null || ms < minMs) return undefined;
  const busyS = (machine.busy - m.machine.busy) / CLK_TCK;
  return Math.max(0, Math.min(1, (busyS - (tree - m.tree)) / ((ms / 1000) * availableParallelism())));
}

/** Fraction of all CPUs busy over `ms` (the caller sleeps meanwhile, so it is other work). */
export async function cpuBusy(ms: number): Promise<number | null> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b) return null;
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}
