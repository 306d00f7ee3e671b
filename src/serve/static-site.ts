import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { StoreError } from '../errors.js';

/** Content types of the files a static page is made of. */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.map': 'application/json', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

/** A running {@link serveStaticSite}. */
export interface StaticSite {
  /** `http://HOST:PORT/`. */
  readonly url: string;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/**
 * Serves the files under `root` (read-only; `/` is `index.html`) on `host:port` (port 0: a free
 * one) with GET and HEAD — what `hexz web` needs to show the viewer page; the page itself works
 * from any static host. Paths never leave `root`; anything else is 404 or 405.
 * @throws StoreError when the address cannot be listened on (in use, not permitted).
 */
export async function serveStaticSite(root: string, host: string, port: number): Promise<StaticSite> {
  const base = resolve(root);
  const server = createServer((req, res) => void answer(base, req, res));
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => fail(new StoreError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { stage: 'serve' }, { cause: err })));
    server.listen(port, host, () => ok());
  });
  const { port: bound } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${bound}/`,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}

async function answer(base: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(405, 'method not allowed\n');
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return send(400, 'bad path\n');
  }
  if (path.endsWith('/')) path += 'index.html';
  const file = join(base, path);
  if (path.includes('\0') || (file !== base && !file.startsWith(base + sep))) return send(404, 'not found\n');
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return send(404, 'not found\n');
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': st.size,
    // The page and its chunks change with each build: always revalidate.
    'cache-control': 'no-cache', 'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}
