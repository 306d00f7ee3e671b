/** Processes this bench started, seen through /proc: their CPU time, and stopping them at exit. */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/PID/stat after the command name (state first), or null once it is gone. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The command name of `pid` (/proc/PID/comm), or '' once it is gone. */
function command(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** CPU seconds (user + system) `pid` has used so far; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / 100 : null; // utime, stime in USER_HZ ticks
}

/**
 * Sends `signal` to every live child of this process (whatever a timed run had started when the
 * bench was stopped: a peer still writing into the work dir); returns their pids.
 */
export function signalChildren(signal: NodeJS.Signals = 'SIGTERM'): number[] {
  const hit: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return hit;
  }
  for (const d of pids) {
    const f = statFields(Number(d));
    if (!f || Number(f[1]) !== process.pid || f[0] === 'Z' || command(Number(d)) === 'esbuild') continue; // tsx's transform service
    try {
      process.kill(Number(d), signal);
      hit.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return hit;
}
