/**
 * A tiny node:http server of one object, on 127.0.0.1, that answers Range requests correctly
 * or misbehaves on cue: cuts the connection mid-body, ignores Range, answers a wider or another
 * range than asked, claims a compression, delays, or fails with a status. For the failures nginx cannot be made to
 * produce on demand; correct behaviour is judged against nginx itself (http-source.test.ts).
 */
import { createServer, type IncomingMessage } from 'node:http';

/** How to answer one request; an empty object answers it correctly. */
export interface Answer {
  /** Send the headers (with the full Content-Length) and this many body bytes, then destroy the socket. */
  cutAfter?: number;
  /** Ignore Range: 200 with the whole object. */
  ignoreRange?: boolean;
  /** Answer 206 with the whole object (a wider range than asked, which RFC 9110 allows). */
  widen?: boolean;
  /** Serve the asked range moved by this many bytes, with a Content-Range saying so. */
  shiftRange?: number;
  /** Claim this Content-Encoding (the bytes are sent as they are). */
  contentEncoding?: string;
  /** Wait this long before answering, in ms. */
  delayMs?: number;
  /** Answer with this status and no body. */
  status?: number;
  /** Send this many bytes more than the Content-Range says, chunked (no Content-Length to give it away). */
  overlong?: number;
}

/** A running {@link startFaultyHttp} server. */
export interface FaultyHttp {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** Range headers received, in order. */
  readonly ranges: (string | undefined)[];
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/**
 * Serves `bytes` with a strong ETag; `plan(n, req)` picks how to answer the n-th request
 * (0-based). Answers follow nginx: 206 with Content-Range, 416 past the end, 200 for an empty
 * object.
 */
export async function startFaultyHttp(bytes: Uint8Array, plan: (n: number, req: IncomingMessage) => Answer = () => ({})): Promise<FaultyHttp> {
  let requests = 0;
  const ranges: (string | undefined)[] = [];
  const server = createServer(async (req, res) => {
    const a = plan(requests++, req);
    ranges.push(req.headers.range);
    if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
    if (a.status) {
      res.writeHead(a.status, { 'content-length': 0 }).end();
      return;
    }
    const headers: Record<string, string | number> = { etag: '"v1"', 'last-modified': 'Tue, 01 Dec 2026 00:00:00 GMT', 'content-type': 'application/octet-stream' };
    if (a.contentEncoding) headers['content-encoding'] = a.contentEncoding;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    let status = 200;
    let body = bytes;
    if (m && !a.ignoreRange && bytes.length > 0) {
      const first = a.widen ? 0 : Number(m[1]) + (a.shiftRange ?? 0);
      const last = a.widen ? bytes.length - 1 : Math.min(Number(m[2]) + (a.shiftRange ?? 0), bytes.length - 1);
      if (first >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}`, 'content-length': 0 }).end();
        return;
      }
      status = 206;
      body = bytes.subarray(first, last + 1);
      headers['content-range'] = `bytes ${first}-${last}/${bytes.length}`;
    }
    if (a.overlong) {
      res.writeHead(status, headers);
      res.end(Buffer.concat([body, new Uint8Array(a.overlong).fill(0xee)]));
      return;
    }
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    if (a.cutAfter !== undefined) {
      res.write(body.subarray(0, a.cutAfter), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/object.bin`,
    get requests() {
      return requests;
    },
    ranges,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
