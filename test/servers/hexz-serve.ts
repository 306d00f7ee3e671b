/**
 * `hexz serve` as a user runs it: the built CLI in its own process, ready once it prints its
 * `--json` line, stopped with SIGTERM. For the CLI tests, the VM boot test and the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HEXZ = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'hexz.js');

/** One export as `hexz serve --json` prints it. */
export interface ServedExport {
  name: string;
  size: number;
  archiveId: string;
  urls: string[];
}

/** A running `hexz serve`. */
export interface HexzServe {
  readonly exports: ServedExport[];
  /** The first URL of export `name` starting with `scheme` (`nbd:`, `nbd+unix:`, `http:`). */
  url(name: string, scheme: string): string;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM (SIGKILL after 10 s); resolves to the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node bin/hexz.js serve ARGS --json` and waits for its JSON line (30 s at most).
 * @throws Error with its stderr when it exits or prints something else first.
 */
export async function startHexzServe(args: string[], env: Record<string, string> = {}): Promise<HexzServe> {
  const child: ChildProcess = spawn(process.execPath, [HEXZ, 'serve', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const line = await new Promise<string>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`hexz serve did not start in 30 s: ${stderr}`)), 30_000);
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
      rej(new Error(`hexz serve exited (${code}) before serving: ${stderr.trim()}`));
    });
  }).catch(async (err) => {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    throw err;
  });
  const { exports } = JSON.parse(line) as { exports: ServedExport[] };
  return {
    exports,
    url(name, scheme) {
      const e = exports.find((x) => x.name === name);
      const u = e?.urls.find((x) => x.startsWith(scheme));
      if (!u) throw new Error(`no ${scheme} URL for export ${name} in ${line}`);
      return u;
    },
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
