/**
 * The HTTP/1.1 server of `hexz serve`: each export readable at `/<name>` with GET and HEAD,
 * byte ranges (single and multipart), conditional requests, CORS for pages on other origins,
 * and the list of exports as JSON at `/`. Built on node:http; the request handling is in
 * export-request-handler.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../../errors.js';
import type { ServeExport } from '../serve-export.js';
import { DEFAULT_MAX_RANGES } from './byte-range.js';
import { createExportRequestHandler, encodeExportPath } from './export-request-handler.js';

/** Default {@link HttpServerOptions.chunkSize}: 2 MiB per read (32 blocks of 64 KiB). */
export const DEFAULT_HTTP_CHUNK_SIZE = 2 << 20;
/** Default {@link HttpServerOptions.idleTimeoutMs}: like nginx's `send_timeout`, but 2 minutes. */
export const DEFAULT_HTTP_IDLE_TIMEOUT_MS = 120_000;

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** What to serve (from `archiveExports`); each at `/<name>`, names may contain `/`. */
  exports: readonly ServeExport[];
  /** Address to bind. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** TCP port; 0 (the default) picks a free one, see {@link HttpExportServer.port}. */
  port?: number;
  /**
   * Bytes per `export.read` while streaming, in bytes (default {@link DEFAULT_HTTP_CHUNK_SIZE}).
   * A response holds about two chunks in memory whatever the size of the range it sends.
   */
  chunkSize?: number;
  /** More ranges than this in one `Range` field and the field is ignored (200). Default 100. */
  maxRanges?: number;
  /**
   * A connection with no traffic either way for this long, in ms, is closed — a client that
   * stopped reading does not hold its response forever (0: never). Default 2 minutes.
   */
  idleTimeoutMs?: number;
  /**
   * Receives one line (no newline) per failed read — saying whether it was answered 500/502 or
   * the body was cut short — per internal error, and per server error after listening.
   */
  log?: (line: string) => void;
}

/** A running HTTP export server. */
export interface HttpExportServer {
  /** The address it is bound to, as given. */
  readonly host: string;
  /** The TCP port it listens on (the one picked when 0 was asked). */
  readonly port: number;
  /** `http://host:port/<name>` of each export, in the order given (names percent-encoded per segment). */
  urls(): string[];
  /**
   * Stops listening, closes idle keep-alive connections and cuts responses still being sent
   * (their reads are aborted), then resolves once every request handler has finished — after
   * which the archives may be closed.
   */
  close(): Promise<void>;
}

/**
 * Starts serving `exports` over HTTP/1.1.
 *
 * - `GET`/`HEAD /<name>`: the export's bytes, `application/octet-stream`, with `Accept-Ranges:
 *   bytes`, `Content-Length`, a strong `ETag` and `Last-Modified`. `Range` (`a-b`, `a-`, `-n`)
 *   gives 206 with `Content-Range`; several ranges give one `multipart/byteranges` 206 with an
 *   exact Content-Length (overlapping or touching ranges merged, the client's order kept); no
 *   satisfiable range gives 416 with `Content-Range: bytes *\/size`. `If-Range`, `If-Match`,
 *   `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` are honoured (304, 412).
 * - `GET /`: JSON `[{ "name", "size", "archiveId", "url" }]`.
 * - `OPTIONS` (any path): 204 with `Allow` and the CORS preflight fields; every answer carries
 *   `Access-Control-Allow-Origin: *` and exposes the range fields.
 * - Other methods: 405 with `Allow: GET, HEAD, OPTIONS`; unknown paths: 404.
 *
 * Bodies are streamed with backpressure, no size limit per response. A read error before the
 * head is sent answers 500 (502 for a storage failure); after, it cuts the connection so the
 * client sees a short body, never wrong bytes. Both are reported through `log`.
 *
 * @throws UsageError when two exports share a name, an option is out of range, or the address
 *   cannot be bound (in use, not permitted, not local).
 * @example
 * const server = await startHttpServer({ exports: archiveExports([{ name: 'a', archive }]), port: 8080 });
 * console.log(server.urls()); // ['http://127.0.0.1:8080/disk']
 * await server.close();
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpExportServer> {
  const host = options.host ?? '127.0.0.1';
  const requested = options.port ?? 0;
  const chunkSize = options.chunkSize ?? DEFAULT_HTTP_CHUNK_SIZE;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_HTTP_IDLE_TIMEOUT_MS;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) throw new UsageError(`HTTP port ${requested} is not a TCP port (0–65535)`);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new UsageError(`HTTP chunk size ${chunkSize} must be a positive number of bytes`);
  if (!(idleTimeoutMs >= 0)) throw new UsageError(`HTTP idle timeout ${idleTimeoutMs} must be ≥ 0 ms`);

  let port = requested;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const origin = (): string => `http://${urlHost}:${port}`;
  const handle = createExportRequestHandler({ exports: options.exports, chunkSize, maxRanges: options.maxRanges ?? DEFAULT_MAX_RANGES, origin, log: options.log });
  const active = new Set<Promise<void>>();
  const server: Server = createServer({ noDelay: true }, (req, res) => {
    const p = handle(req, res);
    if (p) {
      active.add(p);
      void p.then(() => active.delete(p));
    }
  });
  server.timeout = idleTimeoutMs;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' ? 'the address is not local' : err.message;
      reject(new UsageError(`cannot serve HTTP on ${urlHost}:${requested}: ${why}`, {}, { cause: err }));
    };
    server.once('error', onError);
    server.listen(requested, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  // Accept failures (EMFILE, …) are reported here once listening; without a listener they would crash the process.
  server.on('error', (err) => options.log?.(`HTTP server error: ${err.message}`));

  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    urls: () => options.exports.map((e) => `${origin()}/${encodeExportPath(e.name)}`),
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([closed, ...active]);
      })();
      return closing;
    },
  };
}
