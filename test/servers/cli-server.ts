/**
 * A long-running hexz command (`serve`, `web`) as a user runs it: the built CLI in its own
 * process, ready once it prints its first line on stdout, stopped with a signal. Shared by the
 * CLI tests, the VM boot test and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HEXZ = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'hexz.js');

/** A running hexz command started by {@link startCliServer}. */
export interface CliServer {
  /** The first line it printed on stdout (its URLs, or its --json line). */
  readonly line: string;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` (SIGKILL after 10 s); resolves to the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node bin/hexz.js ARGS` and waits for its first line on stdout (30 s at most).
 * @throws Error with its stderr when it exits first.
 */
export async function startCliServer(args: string[], env: Record<string, string> = {}): Promise<CliServer> {
  const what = `hexz ${args[0]}`;
  const child: ChildProcess = spawn(process.execPath, [HEXZ, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`${what} did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        res(out.slice(0, nl));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${what} exited (${code}) before serving: ${stderr.trim()}`));
    });
  }).catch(async (err) => {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    throw err;
  });
  return {
    line,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      return code;
    },
  };
}
