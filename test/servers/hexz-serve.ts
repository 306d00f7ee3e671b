/**
 * `hexz serve` as a user runs it: the built CLI in its own process, ready once it prints its
 * `--json` line, stopped with SIGTERM. For the CLI tests, the VM boot test and the benchmark.
 */
import { startCliServer } from './cli-server.ts';

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
  const server = await startCliServer(['serve', ...args, '--json'], env);
  const { line } = server;
  const { exports } = JSON.parse(line) as { exports: ServedExport[] };
  return {
    exports,
    url(name, scheme) {
      const e = exports.find((x) => x.name === name);
      const u = e?.urls.find((x) => x.startsWith(scheme));
      if (!u) throw new Error(`no ${scheme} URL for export ${name} in ${line}`);
      return u;
    },
    stderr: () => server.stderr(),
    stop: (signal) => server.stop(signal),
  };
}
