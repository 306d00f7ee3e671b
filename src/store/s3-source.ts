import type { GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { StoreError } from '../errors.js';
import { createS3Client, type S3ClientLike } from './s3-client.js';
import { changedWhileOpen, s3Error } from './s3-errors.js';
import { formatS3Url } from './s3-url.js';
import { FIRST_CONTACT_BYTES, FirstContact, type ObjectHead } from './first-contact.js';
import type { ByteSource, ReadOptions } from './types.js';

// Callers import everything S3 from this one module, lazily (`await import('./s3-source.js')`).
export { parseS3Url, formatS3Url, type S3Location } from './s3-url.js';
export { listS3, type S3ListEntry, type ListS3Options } from './s3-list.js';
export type { S3ClientLike } from './s3-client.js';

/** Options of {@link S3Source}. */
export interface S3SourceOptions {
  bucket: string;
  key: string;
  /** The S3 client (default: {@link createS3Client} from the AWS environment, made on first read). */
  client?: S3ClientLike;
  /** Bytes asked for on first contact, which also tells the size and ETag (default {@link FIRST_CONTACT_BYTES}, 256 KiB). */
  firstReadBytes?: number;
}

/** What the first answer told about the object (size, first bytes, ETag), pinned for the source's lifetime. */
interface ObjectInfo extends ObjectHead {
  /** The object's ETag (quoted, as S3 gives it). */
  etag?: string;
}

/**
 * A {@link ByteSource} over one S3 object, read with ranged GetObject requests.
 *
 * The first request (the first `firstReadBytes`, kept: reads inside it cost nothing more, see
 * {@link FirstContact}) learns the size (from Content-Range) and the
 * ETag; every later one carries `If-Match: etag` and its answer's ETag and total size are
 * checked, so an object replaced while open is a permanent StoreError ("changed while open"),
 * never a mix of two versions. 404, 403, 416 and 412 are permanent StoreErrors; network errors,
 * 5xx and SlowDown/throttling transient (a RetryingSource retries them). Reads past the end are
 * clamped. The SDK is loaded only by whoever imports this module.
 * @example
 * const source = new S3Source({ ...parseS3Url('s3://images/disk.hxz'), client: await createS3Client() });
 * const header = await source.read(0, 4096);
 */
export class S3Source implements ByteSource {
  readonly name: string;
  readonly bucket: string;
  readonly key: string;
  private readonly first: FirstContact<ObjectInfo>;
  private clientPromise: Promise<S3ClientLike> | undefined;
  private readonly firstBytes: number;

  constructor(options: S3SourceOptions) {
    this.bucket = options.bucket;
    this.key = options.key;
    this.name = formatS3Url(options);
    this.firstBytes = options.firstReadBytes ?? FIRST_CONTACT_BYTES;
    this.first = new FirstContact(() => this.firstContact());
    if (options.client) this.clientPromise = Promise.resolve(options.client);
  }

  /** @throws StoreError when the object cannot be reached (see the class). */
  async size(): Promise<number> {
    return (await this.first.get()).size;
  }

  /**
   * Reads `length` bytes at `offset` (fewer at the end, none at or past it).
   * @throws StoreError (transient or permanent, see the class); AbortedError when `signal` aborts.
   */
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    return this.first.read(offset, length, options.signal, (info, from, end, signal) => this.fetchRange(info, from, end, signal));
  }

  private client(): Promise<S3ClientLike> {
    this.clientPromise ??= createS3Client();
    return this.clientPromise;
  }

  /**
   * First contact: GetObject of the first bytes, which also gives the size and ETag. Shared by
   * every caller (see {@link FirstContact}), so it runs without any one caller's signal.
   */
  private async firstContact(): Promise<ObjectInfo> {
    const client = await this.client();
    const { GetObjectCommand, HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const what = `range 0-${this.firstBytes - 1}`;
    let out: GetObjectCommandOutput;
    try {
      out = await client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=0-${this.firstBytes - 1}` }));
    } catch (err) {
      if (!isInvalidRange(err)) throw s3Error(err, this.name, what);
      // An empty object has no byte 0; HeadObject tells its ETag.
      const head = await client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key })).catch((e: unknown) => {
        throw s3Error(e, this.name, 'HeadObject');
      });
      if (head.ContentLength !== 0) throw new StoreError(`${this.name}: the object changed during open`, { archive: this.name, stage: 'read' }, { transient: true });
      return { size: 0, etag: head.ETag, head: new Uint8Array(0) };
    }
    // A server that ignores Range answers 200 with the whole object: its length is the size.
    const size = out.ContentRange !== undefined ? totalOf(out.ContentRange) : out.ContentLength;
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      await discard(out.Body);
      throw new StoreError(`${this.name}: ${what}: the answer tells no valid size (Content-Range ${out.ContentRange ?? 'missing'})`, { archive: this.name, stage: 'read' });
    }
    const head = await this.body(out.Body, Math.min(this.firstBytes, size), what);
    return { size, etag: out.ETag, head };
  }

  /** GetObject of [from, end), pinned to the ETag and checked against the size. */
  private async fetchRange(info: ObjectInfo, from: number, end: number, signal?: AbortSignal): Promise<Uint8Array> {
    const client = await this.client();
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const what = `range ${from}-${end - 1}`;
    let out: GetObjectCommandOutput;
    try {
      out = await client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${from}-${end - 1}`, IfMatch: info.etag }), { abortSignal: signal });
    } catch (err) {
      throw s3Error(err, this.name, what, signal);
    }
    const ranged = out.ContentRange !== undefined;
    const total = ranged ? totalOf(out.ContentRange) : out.ContentLength;
    // If-Match already makes S3 refuse a replaced object; the checks catch servers that ignore it.
    if ((info.etag !== undefined && out.ETag !== info.etag) || total !== info.size || (ranged && !startsAt(out.ContentRange!, from))) {
      await discard(out.Body);
      throw changedWhileOpen(this.name);
    }
    return this.body(out.Body, end - from, what, signal, ranged ? 0 : from);
  }

  /** Reads exactly `expect` bytes of a body after skipping `skip`; fewer is transient (the connection was cut). */
  private async body(body: unknown, expect: number, what: string, signal?: AbortSignal, skip = 0): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await readBody(body, skip, expect);
    } catch (err) {
      throw s3Error(err, this.name, `${what}: reading the answer`, signal);
    }
    if (bytes.length !== expect) {
      throw new StoreError(`${this.name}: ${what}: the answer had ${bytes.length} bytes, expected ${expect}`, { archive: this.name, stage: 'read' }, { transient: true });
    }
    return bytes;
  }
}

/**
 * Collects bytes [skip, skip + length) of a GetObject body (a Node Readable in the SDK, any
 * async iterable of byte chunks from a fake client) and stops reading there, so a server that
 * ignores Range is never read whole.
 */
async function readBody(body: unknown, skip: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (length === 0 || body == null) {
    await discard(body);
    return out;
  }
  let pos = 0;
  let filled = 0;
  // Leaving the loop early calls the iterator's return(), which destroys a Node stream.
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    const from = Math.max(skip - pos, 0);
    if (from < chunk.length) {
      const take = chunk.subarray(from, Math.min(chunk.length, from + length - filled));
      out.set(take, filled);
      filled += take.length;
    }
    pos += chunk.length;
    if (filled === length) break;
  }
  return out.subarray(0, filled);
}

/** Releases a body we will not read (frees the connection). */
async function discard(body: unknown): Promise<void> {
  const b = body as { destroy?: () => void } | undefined;
  b?.destroy?.();
}

function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'InvalidRange' || e?.$metadata?.httpStatusCode === 416;
}

/** The total in `bytes a-b/total`. */
function totalOf(contentRange: string | undefined): number | undefined {
  const m = contentRange ? /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(contentRange.trim()) : null;
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** True when `bytes a-b/total` starts at `from` (the server answered the range we asked). */
function startsAt(contentRange: string, from: number): boolean {
  return Number(/^bytes (\d+)-/.exec(contentRange.trim())?.[1]) === from;
}
