import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UnsupportedError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { parseListenAddress, type ListenAddress } from '../listen-address.js';

interface WebFlags {
  port?: ListenAddress;
  json?: boolean;
}

/** The built page: dist/web beside dist/cli (scripts/build-browser.mjs writes it). */
const PAGE_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

/** `hexz web`: registers the command on `program`. */
export function registerWeb(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('web')
    .description('serve the archive viewer page on this machine until SIGINT/SIGTERM (the page reads archives by URL in the browser)')
    .option('--port <[host:]port>', 'address to serve on (default 127.0.0.1:8080; port 0 picks a free one)', (v) => parseListenAddress(v))
    .option('--json', 'print {"url": …} as one JSON line once serving')
    .addHelpText('after', `
The page is static (dist/web in the package): this command only serves it for convenience, and
any web server can host it. Open it, then give it the URL of an archive, or pass ?url=… in the
address. The archive's server must answer Range requests and, when it is another origin than
the page, allow it with CORS and expose Content-Range (see the README, "In the browser").

Examples:
  hexz web                                   # http://127.0.0.1:8080/
  hexz web --port 0 --json
  open 'http://127.0.0.1:8080/?url=https://example.org/snapshots/disk.hxz'`)
    .action((flags: WebFlags) => run((ctx) => web(flags, ctx)));
}

async function web(flags: WebFlags, ctx: CommandContext): Promise<number> {
  if (!existsSync(`${PAGE_DIR}index.html`)) throw new UnsupportedError(`the viewer page is not built (${PAGE_DIR}index.html is missing): run npm run build`);
  const address = flags.port ?? parseListenAddress('8080');
  const { serveStaticSite } = await import('../../serve/static-site.js');
  const site = await serveStaticSite(PAGE_DIR, address.host, address.port);
  try {
    if (flags.json) process.stdout.write(`${JSON.stringify({ url: site.url })}\n`);
    else process.stdout.write(`archive viewer at ${site.url} (Ctrl-C to stop)\n`);
    if (!ctx.signal.aborted) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return 0;
  } finally {
    await site.close();
  }
}
