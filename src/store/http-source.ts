import { AbortedError, StoreError } from '../errors.js';
import type { ByteSource, ReadOptions } from './types.js';
import { copyInto } from './source-wrapper.js';
import { FIRST_CONTACT_BYTES, FirstContact, type ObjectHead } from './first-contact.js';

/**
 * The part of a fetch `Response` an {@link HttpSource} uses: a real `Response` is one, and so is
 * what a lighter transport (node/http-fetch.ts) returns.
 */
export interface HttpAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  /** The body as a stream (read for answers holding more than asked for), or null without one. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The whole body. */
  arrayBuffer(): Promise<ArrayBuffer>;
  /**
   * Copies the body into `target` as it arrives and resolves with the bytes copied. Optional (a
   * transport that offers it lets an answer land in the caller's buffer of
   * {@link HttpSource.readInto}, and large answers of `read` in shared memory, which a decoder
   * on another thread reads in place instead of being sent a copy).
   * @throws Error when the body holds more than `target.length` bytes or the connection fails.
   */
  bodyInto?(target: Uint8Array): Promise<number>;
}

/**
 * Answers of at least this many bytes are read into shared memory (a SharedArrayBuffer) when
 * the transport can ({@link HttpAnswer.bodyInto}): they are the coalesced reads of stored blocks,
 * which the worker pool then decodes without copying each block's bytes into a message first.
 */
const SHARED_BODY_MIN = 256 << 10;

/** The fetch an {@link HttpSource} calls: the global `fetch` is one. */
export type HttpFetch = (url: string, init: { headers: Record<string, string>; signal?: AbortSignal }) => Promise<HttpAnswer>;

/** Options of {@link HttpSource}. */
export interface HttpSourceOptions {
  /** The fetch to use (default: the global one); injectable for tests, custom agents and faster transports. */
  fetch?: HttpFetch;
  /** Extra request headers (authorization, …), sent with every request. */
  headers?: Record<string, string>;
  /** Bytes asked for on first contact, which also tells the size and validator (default {@link FIRST_CONTACT_BYTES}, 256 KiB). */
  firstReadBytes?: number;
  /**
   * Send the validator with every request (`If-Match` / `If-Unmodified-Since`, default true), so
   * the server itself refuses a replaced object. A browser sends those headers only after a CORS
   * preflight (they are not CORS-safelisted), one more round trip per request; with false only
   * `Range: bytes=a-b` is sent and each answer is still checked against the pinned validator.
   */
  pinRequests?: boolean;
  /**
   * Read each answer's body as a stream into a buffer of its known length instead of with
   * `arrayBuffer()` (default false). Chromium's `arrayBuffer()` grows its result chunk by chunk:
   * measured here on 4 MiB ranges, the stream was 1.6–2.8x faster; Node's transports have no
   * such cost.
   */
  streamBodies?: boolean;
}

/** What the first response told about the object (size, first bytes, validator), pinned for the source's lifetime. */
interface ObjectInfo extends ObjectHead {
  /** Strong ETag, if the server gave one. */
  etag?: string;
  lastModified?: string;
}

/**
 * A {@link ByteSource} over an HTTP(S) URL with `Range: bytes=a-b` requests (built-in fetch).
 *
 * The first request (a range of the first `firstReadBytes`, kept: reads inside it cost nothing
 * more, see {@link FirstContact}) learns the size and a validator
 * (strong ETag, else Last-Modified); every later request is pinned to it (`If-Match` /
 * `If-Unmodified-Since`) and its answer checked against it, so an object replaced while open is
 * a clear permanent StoreError ("changed while open"), never a mix of two archives. A server
 * that ignores Range (200 with the whole body) is still read correctly: the body is streamed,
 * bytes before the range skipped and the rest cancelled, never held whole in memory.
 * Network errors, 408, 429 and 5xx are transient StoreErrors (a RetryingSource retries them);
 * 401, 403, 404, 410, 412, 416 are permanent.
 *
 * Every 206 must say (Content-Range) that it holds the bytes asked for, of an object of the
 * pinned size, and every answer must be unencoded (fetch would silently decompress a
 * `Content-Encoding: gzip` body, shifting every offset): anything else is a permanent error,
 * never bytes from the wrong place. Servers whose validators have one-second resolution
 * (nginx's ETag is mtime-size) cannot tell an object replaced by one of the same size within
 * the same second; nothing on the client can.
 */
export class HttpSource implements ByteSource {
  readonly name: string;
  private readonly first: FirstContact<ObjectInfo>;
  private readonly fetchFn: HttpFetch;
  private readonly headers: Record<string, string>;
  private readonly firstBytes: number;
  private readonly pinRequests: boolean;
  private readonly streamBodies: boolean;

  constructor(readonly url: string, options: HttpSourceOptions = {}) {
    this.name = displayUrl(url);
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.headers = options.headers ?? {};
    this.firstBytes = options.firstReadBytes ?? FIRST_CONTACT_BYTES;
    this.pinRequests = options.pinRequests ?? true;
    this.streamBodies = options.streamBodies ?? false;
    this.first = new FirstContact(() => this.firstContact());
  }

  async size(): Promise<number> {
    return (await this.first.get()).size;
  }

  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    return this.first.read(offset, length, options.signal, (info, from, end, signal) => this.fetchRange(info, from, end, signal));
  }

  /**
   * {@link read} into `target`: a range past the kept head is one request whose body lands in
   * `target` as it arrives when the transport can ({@link HttpAnswer.bodyInto}), else is copied.
   * @throws as {@link read}.
   */
  async readInto(offset: number, target: Uint8Array, options: ReadOptions = {}): Promise<number> {
    const info = await this.first.get(options.signal);
    const end = Math.min(offset + target.length, info.size);
    if (end <= offset) return 0;
    if (offset < info.head.length) return copyInto(await this.read(offset, target.length, options), target);
    const into = target.subarray(0, end - offset);
    const bytes = await this.fetchRange(info, offset, end, options.signal, into);
    return bytes.buffer === into.buffer && bytes.byteOffset === into.byteOffset ? bytes.length : copyInto(bytes, into);
  }

  /**
   * GET of bytes [offset, end), pinned to the validator and checked against the pinned size;
   * with `into` (end - offset bytes) an exact answer's body is read into it when the transport can.
   */
  private async fetchRange(info: ObjectInfo, offset: number, end: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    const pin: Record<string, string> = !this.pinRequests ? {} : info.etag ? { 'if-match': info.etag } : info.lastModified ? { 'if-unmodified-since': info.lastModified } : {};
    const res = await this.request(offset, end - 1, pin, signal);
    if (res.status === 206) {
      this.checkSame(res, info);
      const range = this.rangeOf(res, info.size);
      if (range.first > offset || range.last < end - 1) throw this.wrongRange(res, range, offset, end - 1);
      if (range.first === offset && range.last === end - 1) return this.body(res, end - offset, signal, into);
      // More than asked for (allowed): streamed and cut like a 200, never buffered whole.
      return this.sliceWholeBody(res, offset - range.first, end - offset, signal);
    }
    if (res.status === 200) {
      this.checkSame(res, info);
      return this.sliceWholeBody(res, offset, end - offset, signal);
    }
    // We only ask for ranges inside the pinned size: "not satisfiable" means the object shrank.
    if (res.status === 416) {
      res.body?.cancel().catch(() => {});
      throw this.changed();
    }
    throw this.statusError(res, `range ${offset}-${end - 1}`);
  }

  /** First contact: a range request for the first bytes, which also gives the size and validator (shared, see {@link FirstContact}). */
  private async firstContact(): Promise<ObjectInfo> {
    const res = await this.request(0, this.firstBytes - 1, {});
    this.checkEncoding(res);
    const etag = strongEtag(res.headers.get('etag'));
    const lastModified = res.headers.get('last-modified') ?? undefined;
    if (res.status === 206) {
      const range = this.rangeOf(res);
      const size = range.total;
      const want = Math.min(this.firstBytes, size) - 1;
      if (range.first !== 0 || range.last < want) throw this.wrongRange(res, range, 0, want);
      const head = range.last === want ? await this.body(res, want + 1) : await this.sliceWholeBody(res, 0, want + 1);
      return { size, etag, lastModified, head };
    }
    if (res.status === 200) {
      const size = Number(res.headers.get('content-length') ?? NaN);
      if (!Number.isSafeInteger(size) || size < 0) {
        await res.body?.cancel().catch(() => {});
        throw new StoreError(`${this.name}: the server ignores Range requests and gives no Content-Length; it cannot be read randomly`, { archive: this.name, stage: 'read' });
      }
      return { size, etag, lastModified, head: await this.sliceWholeBody(res, 0, Math.min(this.firstBytes, size)) };
    }
    if (res.status === 416) {
      // An empty object has no byte 0: 416 with `bytes */0` (nginx answers 200 with no body).
      await res.body?.cancel().catch(() => {});
      if (totalOf(res.headers.get('content-range')) === 0) return { size: 0, etag, lastModified, head: new Uint8Array(0) };
    }
    throw this.statusError(res, 'first request');
  }

  private async request(first: number, last: number, extra: Record<string, string>, signal?: AbortSignal): Promise<HttpAnswer> {
    try {
      return await this.fetchFn(this.url, { headers: { ...this.headers, ...extra, range: `bytes=${first}-${last}` }, signal });
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('read cancelled', { archive: this.name }, { cause: err });
      throw new StoreError(`${this.name}: request failed: ${describe(err)}`, { archive: this.name, stage: 'read' }, { cause: err, transient: true });
    }
  }

  /** The validator and size of an answer must be the pinned ones, and its body unencoded. */
  private checkSame(res: HttpAnswer, info: ObjectInfo): void {
    this.checkEncoding(res);
    const etag = strongEtag(res.headers.get('etag'));
    const lastModified = res.headers.get('last-modified') ?? undefined;
    // A 206's total is checked with its Content-Range (rangeOf); a 200's body is the whole object.
    const sizeDiffers = res.status === 200 && Number(res.headers.get('content-length') ?? NaN) !== info.size;
    if ((info.etag && etag !== info.etag) || (!info.etag && info.lastModified && lastModified !== info.lastModified) || sizeDiffers) {
      res.body?.cancel().catch(() => {});
      throw this.changed();
    }
  }

  /**
   * fetch decodes a compressed body by itself, so its bytes would not be the object's bytes at
   * the offsets asked for. fetch sends `Accept-Encoding: identity` with every Range request;
   * a server that compresses anyway cannot be read randomly.
   */
  private checkEncoding(res: HttpAnswer): void {
    const encoding = res.headers.get('content-encoding');
    if (encoding && encoding.trim().toLowerCase() !== 'identity') {
      res.body?.cancel().catch(() => {});
      throw new StoreError(`${this.name}: the server sent the object with Content-Encoding: ${encoding}; serve it unencoded`, { archive: this.name, stage: 'read' });
    }
  }

  /** The `first-last/total` of a 206 answer; a missing or malformed one is a permanent error. */
  private rangeOf(res: HttpAnswer, size?: number): ContentRange {
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || (size !== undefined && range.total !== size)) {
      res.body?.cancel().catch(() => {});
      // A 206 without one (e.g. multipart/byteranges) cannot be placed; a wrong total is a changed object.
      if (range) throw this.changed();
      throw new StoreError(`${this.name}: 206 answer without a valid Content-Range (read from another origin, the server must expose it: Access-Control-Expose-Headers: Content-Range, ETag)`, { archive: this.name, stage: 'read' });
    }
    return range;
  }

  private wrongRange(res: HttpAnswer, got: ContentRange, first: number, last: number): StoreError {
    res.body?.cancel().catch(() => {});
    return new StoreError(`${this.name}: asked for bytes ${first}-${last}, the server answered ${got.first}-${got.last}`, { archive: this.name, stage: 'read' });
  }

  private changed(): StoreError {
    return new StoreError(`${this.name}: the object changed while open (its validator or size differs); reopen it`, { archive: this.name, stage: 'read' });
  }

  /**
   * Reads exactly `expect` bytes of a body (into `into`, of that length, when the transport can);
   * fewer is a transient error (the connection was cut).
   */
  private async body(res: HttpAnswer, expect: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) !== expect) {
      res.body?.cancel().catch(() => {});
      throw new StoreError(`${this.name}: the answer declares ${declared} bytes, its Content-Range ${expect}`, { archive: this.name, stage: 'read' });
    }
    let bytes: Uint8Array;
    try {
      if (into && res.bodyInto) {
        bytes = into.subarray(0, await res.bodyInto(into));
      } else if (res.bodyInto && expect >= SHARED_BODY_MIN && typeof SharedArrayBuffer === 'function') {
        const shared = new Uint8Array(new SharedArrayBuffer(expect));
        bytes = shared.subarray(0, await res.bodyInto(shared));
      } else {
        bytes = this.streamBodies && res.body ? await readExactly(res.body, expect, declared !== null) : new Uint8Array(await res.arrayBuffer());
      }
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('read cancelled', { archive: this.name }, { cause: err });
      throw new StoreError(`${this.name}: reading the answer failed: ${describe(err)}`, { archive: this.name, stage: 'read' }, { cause: err, transient: true });
    }
    if (bytes.length !== expect) {
      throw new StoreError(`${this.name}: the answer had ${bytes.length} bytes, expected ${expect}`, { archive: this.name, stage: 'read' }, { transient: true });
    }
    return bytes;
  }

  /**
   * From an answer holding more than asked for (a 200 that ignored Range, or a wider 206): skips
   * `offset` bytes of the streamed body, keeps `length`, cancels the rest.
   */
  private async sliceWholeBody(res: HttpAnswer, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    if (length === 0) {
      res.body?.cancel().catch(() => {});
      return out;
    }
    if (!res.body) throw new StoreError(`${this.name}: empty answer`, { archive: this.name, stage: 'read' }, { transient: true });
    const reader = res.body.getReader();
    let pos = 0;
    let filled = 0;
    try {
      while (filled < length) {
        const { done, value } = await reader.read();
        if (done) break;
        const from = Math.max(offset - pos, 0);
        if (from < value.length) {
          const take = value.subarray(from, Math.min(value.length, from + length - filled));
          out.set(take, filled);
          filled += take.length;
        }
        pos += value.length;
      }
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('read cancelled', { archive: this.name }, { cause: err });
      throw new StoreError(`${this.name}: reading the answer failed: ${describe(err)}`, { archive: this.name, stage: 'read' }, { cause: err, transient: true });
    } finally {
      reader.cancel().catch(() => {});
    }
    if (filled !== length) throw new StoreError(`${this.name}: the answer ended after ${filled} of ${length} bytes`, { archive: this.name, stage: 'read' }, { transient: true });
    return out;
  }

  private statusError(res: HttpAnswer, what: string): StoreError {
    res.body?.cancel().catch(() => {});
    const s = res.status;
    if (s === 412) return this.changed();
    const transient = s === 408 || s === 429 || s >= 500;
    const reason = s === 404 ? 'not found' : s === 403 ? 'forbidden' : s === 401 ? 'unauthorized' : s === 416 ? 'range not satisfiable' : `HTTP ${s}`;
    return new StoreError(`${this.name}: ${what}: ${reason} (${s} ${res.statusText})`.replace(/ \(\d+ \)$/, ` (${s})`), { archive: this.name, stage: 'read' }, { transient });
  }
}

/** The parts of a `Content-Range: bytes first-last/total` header. */
interface ContentRange {
  first: number;
  last: number;
  total: number;
}

/** Parses `bytes first-last/total`; undefined for anything else (an unknown total `/*` included). */
function parseContentRange(header: string | null): ContentRange | undefined {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+)$/i.exec(header.trim()) : null;
  if (!m) return undefined;
  const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![first, last, total].every(Number.isSafeInteger) || first > last || last >= total) return undefined;
  return { first, last, total };
}

/** The total size in a `Content-Range: bytes a-b/total` header (or its unsatisfied-range form, star then the total). */
function totalOf(header: string | null): number | undefined {
  const m = header ? /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(header.trim()) : null;
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A strong ETag, or undefined for none or a weak one (`W/…` never matches If-Match). */
function strongEtag(etag: string | null): string | undefined {
  return etag && !etag.startsWith('W/') ? etag : undefined;
}

/** The URL without credentials or query string (a presigned URL's query is a secret). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return url;
  }
}

function describe(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

/**
 * The body of an answer declared to hold `expect` bytes, read as a stream into one buffer of
 * that size; shorter when the body ended early (the caller's length check reports it).
 * `framed`: the answer's Content-Length says `expect`, so the transport ends the body there and
 * no read past it is needed to tell that it holds no more (one read less: ~0.5 ms in Chromium).
 * @throws Error when the body holds more than `expect` bytes (never written past the buffer).
 */
async function readExactly(body: ReadableStream<Uint8Array>, expect: number, framed: boolean): Promise<Uint8Array> {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    // Not a byte stream: chunks are copied into the buffer.
  }
  if (byob) return readInto(byob, expect, framed);
  const out = new Uint8Array(expect);
  const reader = body.getReader();
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > expect) {
        await reader.cancel().catch(() => {});
        throw new Error(`the answer holds more than its declared ${expect} bytes`);
      }
      out.set(value, filled);
      filled += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  return filled === expect ? out : out.subarray(0, filled);
}

/** {@link readExactly} with a BYOB reader: the body is read straight into the result, no copy. */
async function readInto(reader: ReadableStreamBYOBReader, expect: number, framed: boolean): Promise<Uint8Array> {
  let buffer = new ArrayBuffer(expect);
  let filled = 0;
  try {
    while (filled < expect) {
      const { done, value } = await reader.read(new Uint8Array(buffer, filled, expect - filled));
      if (!value) break;
      // The buffer comes back (transferred) with the bytes written into it.
      buffer = value.buffer as ArrayBuffer;
      filled += value.length;
      if (done) break;
    }
    if (filled === expect && !framed) {
      // One more read must find the end: a body longer than declared is an error, not truncated.
      const { done, value } = await reader.read(new Uint8Array(1));
      if (!done || (value && value.length > 0)) {
        await reader.cancel().catch(() => {});
        throw new Error(`the answer holds more than its declared ${expect} bytes`);
      }
    }
  } finally {
    reader.releaseLock();
  }
  return new Uint8Array(buffer, 0, filled);
}
