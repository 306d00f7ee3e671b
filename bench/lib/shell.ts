/**
 * Synchronous shell commands for the single-purpose benches (remote, serve, mount, sequential):
 * `bash -c`, so pipes and redirections (`> /dev/null`) work as typed; the wall time includes
 * bash's own start.
 */
import { spawnSync } from 'node:child_process';

export interface ShellResult { ms: number; stdout: string; stderr: string; status: number | null }

/** Runs `cmd` under bash and times it; never throws on a failing command (see {@link must}). */
export function sh(cmd: string, opts: { env?: Record<string, string>; input?: string } = {}): ShellResult {
  const t = performance.now();
  const r = spawnSync('bash', ['-c', cmd], {
    encoding: 'utf8', maxBuffer: 256 << 20, input: opts.input, env: opts.env ? { ...process.env, ...opts.env } : undefined,
  });
  return { ms: performance.now() - t, stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** {@link sh}, failing on a non-zero exit. @throws Error with the command and its stderr. */
export function must(cmd: string, opts: { env?: Record<string, string>; input?: string } = {}): ShellResult {
  const r = sh(cmd, opts);
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return r;
}
