/**
 * The request handler of the HTTP export server: routes `/` (the JSON list of exports) and
 * `/<export name>` (the export's bytes), evaluates conditional and range fields, answers CORS
 * preflights, and streams bodies through export-body.ts. The decisions live in the pure modules
 * next to it (byte-range.ts, preconditions.ts, multipart-byteranges.ts); this file maps them to
 * statuses and headers.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { HexzError, StoreError, UsageError } from '../../errors.js';
import type { ByteRange } from '../../util/byte-ranges.js';
import type { ServeExport } from '../serve-export.js';
import { contentRange, ifRangeAllows, parseRange, unsatisfiedRange } from './byte-range.js';
import { readExportChunks, writeBody, type BodyPlan } from './export-body.js';
import { formatHttpDate, type Validators } from './http-validators.js';
import { multipartByteranges } from './multipart-byteranges.js';
import { evaluatePreconditions } from './preconditions.js';
import { ResponseTurns } from './response-turns.js';

/** Options of {@link createExportRequestHandler}. */
export interface ExportRequestHandlerOptions {
  exports: readonly ServeExport[];
  /** Bytes per `export.read` while streaming a body. */
  chunkSize: number;
  /** Above this many ranges in one Range field, the field is ignored (see parseRange). */
  maxRanges: number;
  /** `http://host:port` of the server, for the listing's URLs when a request has no usable Host. */
  origin: () => string;
  /** Receives one line per failed read or internal error (no trailing newline). */
  log?: (line: string) => void;
}

/**
 * Handles one request. Returns a promise only while a body is being streamed (so the server
 * can wait for in-flight responses on close); it never rejects.
 */
export type ExportRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | undefined;

/** The representation's media type: raw bytes of a disk or memory image. */
const OCTET_STREAM = 'application/octet-stream';
const METHODS = 'GET, HEAD, OPTIONS';
/** Fields a cross-origin page may send without being refused by the preflight. */
const ALLOWED_HEADERS = ['Range', 'If-Range', 'If-Match', 'If-None-Match', 'If-Modified-Since', 'If-Unmodified-Since'];
/** On every answer: any origin may read (the server is read-only and sends no credentials). */
const CORS: OutgoingHttpHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges, Last-Modified',
};
/** How long a browser may cache a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 86_400;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Makes the request handler for `exports`.
 * @throws UsageError when two exports share a name.
 */
export function createExportRequestHandler(options: ExportRequestHandlerOptions): ExportRequestHandler {
  const { chunkSize, maxRanges, log } = options;
  const entries = new Map<string, ServeExport>();
  for (const exp of options.exports) {
    if (entries.has(exp.name)) throw new UsageError(`two exports are named ${exp.name}`);
    entries.set(exp.name, exp);
  }

  const turns = new ResponseTurns();

  const report = (req: IncomingMessage, message: string): void => {
    log?.(`HTTP ${req.method} ${req.url}: ${message}`);
  };

  /** GET/HEAD of an export. */
  const serveExport = (req: IncomingMessage, res: ServerResponse, exp: ServeExport, head: boolean): Promise<void> | undefined => {
    // Read per request: a writable export (an overlay) changes its ETag and date with every
    // write, and If-Range must never match content that has changed since.
    const validators: Validators = { etag: exp.etag, lastModified: exp.modified };
    const size = exp.size;
    const tags: OutgoingHttpHeaders = { ...CORS, 'Accept-Ranges': 'bytes', ETag: validators.etag, 'Last-Modified': formatHttpDate(validators.lastModified) };
    const pre = evaluatePreconditions(req.method!, req.headers, validators);
    if (pre === 'not-modified') {
      res.writeHead(304, tags);
      res.end();
      return undefined;
    }
    if (pre === 'precondition-failed') return sendText(res, 412, 'precondition failed: the export has another ETag or date\n');

    // Range applies to HEAD as to GET, so HEAD answers with exactly the head GET would send
    // (RFC 9110 §9.3.2), which is what clients probing with `HEAD` + `Range: bytes=0-0` expect.
    let range = parseRange(req.headers.range, size, { maxRanges });
    if (range.kind !== 'none' && !ifRangeAllows(field(req, 'if-range'), validators)) range = { kind: 'none' };
    if (range.kind === 'unsatisfiable') {
      return sendText(res, 416, `range not satisfiable: the export has ${size} bytes\n`, { 'Accept-Ranges': 'bytes', 'Content-Range': unsatisfiedRange(size) });
    }

    let status: number, ranges: ByteRange[], plan: BodyPlan, headers: OutgoingHttpHeaders;
    if (range.kind === 'none') {
      status = 200;
      ranges = [{ start: 0, end: size }];
      plan = { parts: ranges.map((r) => ({ range: r })) };
      headers = { ...tags, 'Content-Type': OCTET_STREAM, 'Content-Length': size };
    } else if (range.ranges.length === 1) {
      status = 206;
      ranges = range.ranges;
      plan = { parts: ranges.map((r) => ({ range: r })) };
      headers = { ...tags, 'Content-Type': OCTET_STREAM, 'Content-Length': ranges[0].end - ranges[0].start, 'Content-Range': contentRange(ranges[0], size) };
    } else {
      status = 206;
      ranges = range.ranges;
      // 24 random hex digits: the boundary must not occur in the data, which is arbitrary bytes.
      const layout = multipartByteranges(ranges, size, `hexz-${randomBytes(12).toString('hex')}`, OCTET_STREAM);
      plan = { parts: layout.parts, tail: layout.tail };
      headers = { ...tags, 'Content-Type': layout.contentType, 'Content-Length': layout.contentLength };
    }
    if (head || size === 0) {
      res.writeHead(status, headers);
      res.end();
      return undefined;
    }
    return streamBody(req, res, exp, status, headers, ranges, plan);
  };

  /** Reads the first chunk, then sends the head and streams the rest. Never rejects. */
  const streamBody = async (req: IncomingMessage, res: ServerResponse, exp: ServeExport, status: number, headers: OutgoingHttpHeaders, ranges: ByteRange[], plan: BodyPlan): Promise<void> => {
    // Behind pipelined answers on the same connection: read nothing until this one is sent.
    if (!(await turns.wait(req, res))) return;
    const controller = new AbortController();
    const { signal } = controller;
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(); // the client went away: stop reading
    });
    res.on('error', () => {}); // write errors surface as 'close'; a stray 'error' must not crash the server
    const chunks = readExportChunks(exp, ranges, chunkSize, signal);
    let first: IteratorResult<Uint8Array>;
    try {
      first = await chunks.next();
    } catch (err) {
      const gone = signal.aborted || res.destroyed;
      controller.abort();
      if (gone) return; // the client left (or the server is closing) while the read ran
      const errStatus = err instanceof StoreError ? 502 : 500;
      report(req, `read failed, answered ${errStatus}: ${messageOf(err)}`);
      if (!res.destroyed) sendText(res, errStatus, `${publicMessage(err)}\n`);
      return;
    }
    if (res.destroyed) {
      controller.abort();
      await chunks.return();
      return;
    }
    res.writeHead(status, headers);
    try {
      await writeBody(res, plan, chunks, first, signal, exp.recycle && ((data) => exp.recycle!(data)));
    } catch (err) {
      const gone = signal.aborted;
      controller.abort();
      // Cutting the connection is the only honest signal left once the head is sent: the
      // client sees fewer bytes than Content-Length, never wrong ones.
      res.destroy();
      await chunks.return();
      if (!gone) report(req, `read failed after the head was sent, response cut short: ${messageOf(err)}`);
    }
  };

  /** The exports as JSON: `[{name, size, archiveId, url}]`. */
  const listing = (req: IncomingMessage, res: ServerResponse, head: boolean): undefined => {
    const host = req.headers.host;
    const origin = host !== undefined && HOST.test(host) ? `http://${host}` : options.origin();
    const list = [...entries.values()].map((exp) => ({ name: exp.name, size: exp.size, archiveId: exp.archiveId, url: `${origin}/${encodeExportPath(exp.name)}` }));
    const body = Buffer.from(`${JSON.stringify(list, null, 2)}\n`);
    res.writeHead(200, { ...CORS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
    res.end(head ? undefined : body);
    return undefined;
  };

  /** OPTIONS, preflight or not: 204 with what is allowed. */
  const preflight = (req: IncomingMessage, res: ServerResponse): undefined => {
    res.writeHead(204, {
      ...CORS,
      Allow: METHODS,
      'Access-Control-Allow-Methods': METHODS,
      'Access-Control-Allow-Headers': allowedHeaders(req.headers['access-control-request-headers']),
      'Access-Control-Max-Age': PREFLIGHT_MAX_AGE_S,
      Vary: 'Access-Control-Request-Headers',
    });
    res.end();
    return undefined;
  };

  return (req, res) => {
    try {
      const method = req.method ?? '';
      const path = targetPath(req.url);
      if (path === undefined) return sendText(res, 400, 'bad request target\n');
      // Any path, so that a page's preflight succeeds and its real request can see a 404.
      if (method === 'OPTIONS') return preflight(req, res);
      const head = method === 'HEAD';
      const exp = path === '' ? undefined : entries.get(path);
      if (path !== '' && !exp) return sendText(res, 404, 'no such export (GET / lists them)\n');
      if (method !== 'GET' && !head) return sendText(res, 405, `method not allowed (allowed: ${METHODS})\n`, { Allow: METHODS });
      return exp ? serveExport(req, res, exp, head) : listing(req, res, head);
    } catch (err) {
      // A bug: answer 500 rather than let one request take the server down.
      report(req, `internal error, answered 500: ${messageOf(err)}`);
      if (!res.headersSent) sendText(res, 500, 'internal server error\n');
      else res.destroy();
      return undefined;
    }
  };
}

/** A short text answer (404, 405, 412, 416, 5xx) with the CORS fields, so a page can read it. */
function sendText(res: ServerResponse, status: number, text: string, extra: OutgoingHttpHeaders = {}): undefined {
  const body = Buffer.from(text);
  res.writeHead(status, { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, 'X-Content-Type-Options': 'nosniff', ...extra });
  res.end(body); // Node sends no body for HEAD
  return undefined;
}

/**
 * The decoded path of a request target without its leading `/`, query and fragment (`''` for
 * `/`); absolute-form targets are accepted; `*` (OPTIONS *) is returned as `*`.
 * @returns undefined for an invalid target or bad percent-encoding.
 */
function targetPath(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  if (url === '*') return '*';
  let p = url;
  if (!p.startsWith('/')) {
    if (!/^https?:\/\//i.test(p)) return undefined;
    try {
      p = new URL(p).pathname;
    } catch {
      return undefined;
    }
  }
  const end = p.search(/[?#]/);
  if (end >= 0) p = p.slice(0, end);
  try {
    return decodeURIComponent(p.slice(1));
  } catch {
    return undefined;
  }
}

/** The URL path of an export name: each `/`-separated segment percent-encoded. */
export function encodeExportPath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/**
 * `Access-Control-Allow-Headers`: the fields the server acts on, plus the ones the preflight
 * asks for (valid field names only). Echoing them is safe on a read-only server that ignores
 * fields it does not know, and spares pages that add harmless headers a failed preflight.
 */
function allowedHeaders(requested: string | undefined): string {
  const out = [...ALLOWED_HEADERS];
  const seen = new Set(out.map((h) => h.toLowerCase()));
  for (const raw of requested?.split(',') ?? []) {
    const name = raw.trim();
    if (TOKEN.test(name) && !seen.has(name.toLowerCase())) {
      seen.add(name.toLowerCase());
      out.push(name);
    }
  }
  return out.join(', ');
}

/** A request field as one string (Node gives arrays only for Set-Cookie). */
function field(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What the client is told about a failed read: the error code and place, not server paths. */
function publicMessage(err: unknown): string {
  if (!(err instanceof HexzError)) return 'internal server error';
  const where = [err.location.stream && `stream ${err.location.stream}`, err.location.offset !== undefined && `offset ${err.location.offset}`].filter(Boolean).join(' at ');
  const what = err instanceof StoreError ? 'the archive storage failed' : 'reading the archive failed';
  return `${what} (${err.code}${where ? `, ${where}` : ''}); the server log has the details`;
}
