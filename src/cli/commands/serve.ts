import type { Command } from 'commander';
import { basename } from 'node:path';
import type { Archive } from '../../node/archive.js';
import { UsageError } from '../../errors.js';
import { parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { parseListenAddress, type ListenAddress } from '../listen-address.js';
import { bytesText } from '../output.js';

interface ServeFlags {
  nbd?: ListenAddress;
  nbdSocket?: string;
  http?: ListenAddress;
  overlay?: string;
  cache?: string;
  json?: boolean;
  passwordFile?: string;
  parentDir?: string[];
}

/** The default NBD address when no listener is given: NBD's registered port on loopback. */
const DEFAULT_NBD = '127.0.0.1:10809';

/** `hexz serve`: registers the command on `program`. */
export function registerServe(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('serve')
    .description('export the streams of archives over NBD and HTTP until SIGINT/SIGTERM (read-only, or writable into an overlay)')
    .argument('<archives...>', 'archives (paths or http(s)://, s3:// URLs)')
    .option('--nbd <[host:]port>', `serve NBD on this address (default ${DEFAULT_NBD} when no other listener is given; port 0 picks a free one)`, (v) => parseListenAddress(v))
    .option('--nbd-socket <path>', 'serve NBD on a Unix socket', (v) => v)
    .option('--http <[host:]port>', 'serve HTTP on this address (port 0 picks a free one)', (v) => parseListenAddress(v))
    .option('--overlay <file>', 'make the exports writable: writes go to this overlay file (created if missing), never to the archive; one archive only')
    .option('--cache <size>', 'decoded-block cache of each archive (default 64M)')
    .option('--json', 'print the exports and their URLs as one JSON line once serving')
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .addHelpText('after', `
Each stream of each archive is one export. With one archive the exports are named disk and
memory; with several, NAME/disk and NAME/memory, NAME being the file name without .hxz.
The names are NBD export names (nbd://127.0.0.1:10809/disk) and HTTP paths
(http://127.0.0.1:8080/disk); GET / on the HTTP listener lists the exports as JSON.
Listeners bind to 127.0.0.1 unless a host is given. Runs until SIGINT or SIGTERM, then closes
every connection and exits 0.

Examples:
  hexz serve vm.hxz                                  # nbd://127.0.0.1:10809/disk
  qemu-img convert -O qcow2 nbd://127.0.0.1:10809/disk vm.qcow2
  hexz serve vm.hxz --http 8080 & curl -r 0-511 http://127.0.0.1:8080/disk | xxd`)
    .action((files: string[], flags: ServeFlags) => run((ctx) => serve(files, flags, ctx)));
}

async function serve(files: string[], flags: ServeFlags, ctx: CommandContext): Promise<number> {
  if (flags.overlay !== undefined && files.length !== 1) throw new UsageError('--overlay: serve one archive with one overlay');
  const nbd = flags.nbd ?? (flags.http === undefined && flags.nbdSocket === undefined ? parseListenAddress(DEFAULT_NBD) : undefined);
  const cacheBytes = flags.cache === undefined ? undefined : parseSize(flags.cache);
  const archives: Archive[] = [];
  const closers: (() => Promise<void>)[] = [];
  try {
    const { tierUpSooner, warmExports } = await import('../../serve/latency-tuning.js');
    tierUpSooner();
    const { Archive } = await import('../../node/archive.js');
    for (const file of files) {
      archives.push(await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags), cacheBytes, reserveCache: true }));
    }
    const { openExports } = await import('../../serve/open-exports.js');
    const opened = await openExports(archives.map((archive, i) => ({ name: basename(files[i]).replace(/\.hxz$/i, ''), archive })), { overlay: flags.overlay, parentDirs: parentDirsFrom(flags) });
    // Closed after the servers (closers run in reverse): the overlay is flushed once nothing writes.
    closers.push(() => opened.close());
    const { exports } = opened;
    // Ready means ready: the decode threads have started, and the read path has run once.
    await Promise.all([opened.ready(), warmExports(exports)]);
    const log = (line: string) => void process.stderr.write(`hexz: ${line}\n`);
    const urls = new Map<string, string[]>(exports.map((e) => [e.name, []]));
    if (nbd || flags.nbdSocket !== undefined) {
      const { startNbdServer } = await import('../../serve/nbd/nbd-server.js');
      for (const where of [nbd && { host: nbd.host, port: nbd.port }, flags.nbdSocket !== undefined && { socketPath: flags.nbdSocket }]) {
        if (!where) continue;
        const server = await startNbdServer({ exports, ...where, log });
        closers.push(() => server.close());
        exports.forEach((e, i) => urls.get(e.name)!.push(server.urls()[i]));
      }
    }
    if (flags.http) {
      const { startHttpServer } = await import('../../serve/http/http-export-server.js');
      const server = await startHttpServer({ exports, host: flags.http.host, port: flags.http.port, log });
      closers.push(() => server.close());
      exports.forEach((e, i) => urls.get(e.name)!.push(server.urls()[i]));
    }
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ exports: exports.map((e) => ({ name: e.name, size: e.size, archiveId: e.archiveId, urls: urls.get(e.name) })) })}\n`);
    } else {
      process.stdout.write(`serving ${exports.length} export${exports.length === 1 ? '' : 's'} (Ctrl-C to stop):\n`);
      for (const e of exports) process.stdout.write(`  ${e.name}  ${bytesText(e.size)}\n${urls.get(e.name)!.map((u) => `    ${u}\n`).join('')}`);
    }
    if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return 0;
  } finally {
    // Servers first (they answer what is in flight), then the pools their reads use.
    for (const c of closers.reverse()) await c().catch(() => {});
    await Promise.all(archives.map((a) => a.close().catch(() => {})));
  }
}
