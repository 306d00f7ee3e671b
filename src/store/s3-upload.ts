import { AbortedError, StoreError, UsageError } from '../errors.js';
import { createS3Client, type S3ClientLike } from './s3-client.js';
import { s3Error } from './s3-errors.js';
import { formatS3Url } from './s3-url.js';

/** S3's smallest part but the last (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
export const S3_MIN_PART_BYTES = 5 << 20;
/** S3's largest part. */
export const S3_MAX_PART_BYTES = 5 * 1024 ** 3;
/** S3's most parts per upload. */
export const S3_MAX_PARTS = 10_000;
/** Parts of one size before the size doubles (see {@link S3UploadOptions.partSize}). */
const PARTS_PER_SIZE = 1000;

/** Options of {@link S3Upload.create}. */
export interface S3UploadOptions {
  bucket: string;
  key: string;
  /** The S3 client (default: {@link createS3Client} from the AWS environment). */
  client?: S3ClientLike;
  /**
   * Bytes per part (default 8 MiB, at least 5 MiB). Every 1000 parts the size doubles (up to
   * 5 GiB), so the 10,000-part limit is reached only past ~8 TB at the default, not at 80 GB.
   */
  partSize?: number;
  /** Parts uploaded at once (default 4). Memory: (concurrency + 1) parts, one more with `holdFirstPart`. */
  concurrency?: number;
  /**
   * Keep part 1 in memory and upload it last, in {@link S3Upload.complete}, which may patch
   * its first bytes (a hexz archive's header, written when everything else is). Default false.
   */
  holdFirstPart?: boolean;
  /** Content-Type of the object (default application/octet-stream). */
  contentType?: string;
  /** Cancels the upload's requests (write and complete then throw AbortedError; call abort()). */
  signal?: AbortSignal;
}

/** What {@link S3Upload.complete} made. */
export interface S3UploadResult {
  /** The new object's ETag. */
  etag: string;
  /** Its size in bytes. */
  size: number;
  /** Parts uploaded (1 for a single PutObject). */
  parts: number;
}

type State = 'open' | 'completing' | 'done' | 'aborted';

/**
 * Writes one S3 object sequentially as a multipart upload: bytes are cut into parts, up to
 * `concurrency` of them upload at once, and {@link write} waits when that many are in flight
 * (backpressure, bounded memory). Nothing is visible under the key until {@link complete}
 * succeeds; an object smaller than one part is one PutObject at complete. After a failed write,
 * call {@link abort}, which removes the pending upload and its parts (a failed complete does so
 * itself).
 *
 * hexz archives are written front to back except the 4 KiB header at offset 0, which is
 * known last: with `holdFirstPart`, part 1 stays in memory, and `complete(header)` writes the
 * header over its first bytes and uploads it after all others (parts may upload in any order).
 * @example
 * const up = await S3Upload.create({ bucket: 'images', key: 'disk.hxz', holdFirstPart: true });
 * try {
 *   for await (const chunk of body) await up.write(chunk);
 *   await up.complete(header);
 * } catch (err) {
 *   await up.abort();
 *   throw err;
 * }
 */
export class S3Upload {
  readonly name: string;
  private state: State = 'open';
  private total = 0;
  private current: Uint8Array | undefined;
  private fill = 0;
  private held: Uint8Array | undefined;
  private nextPart = 1;
  private uploadId: Promise<string> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly etags = new Map<number, string>();
  private failure: unknown;
  private readonly stop = new AbortController();
  private readonly signal: AbortSignal;

  private constructor(
    private readonly options: S3UploadOptions & { partSize: number; concurrency: number },
    private readonly client: S3ClientLike,
    private readonly sdk: typeof import('@aws-sdk/client-s3'),
  ) {
    this.name = formatS3Url(options);
    this.signal = options.signal ? AbortSignal.any([this.stop.signal, options.signal]) : this.stop.signal;
  }

  /**
   * Prepares an upload; no request is made until a part is full (or {@link complete}).
   * @throws UsageError for a part size outside [5 MiB, 5 GiB] or a concurrency below 1.
   */
  static async create(options: S3UploadOptions): Promise<S3Upload> {
    const partSize = options.partSize ?? 8 << 20;
    const concurrency = options.concurrency ?? 4;
    if (!Number.isSafeInteger(partSize) || partSize < S3_MIN_PART_BYTES || partSize > S3_MAX_PART_BYTES) {
      throw new UsageError(`S3 part size ${partSize}: must be between ${S3_MIN_PART_BYTES} and ${S3_MAX_PART_BYTES} bytes`);
    }
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new UsageError(`S3 upload concurrency ${concurrency}: must be at least 1`);
    const client = options.client ?? (await createS3Client());
    return new S3Upload({ ...options, partSize, concurrency }, client, await import('@aws-sdk/client-s3'));
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.total;
  }

  /**
   * Appends bytes (copied: the caller may reuse its buffer). Resolves when they are buffered,
   * which waits while `concurrency` parts are uploading. Do not call again before it resolves.
   * @throws StoreError when an earlier part failed; AbortedError once the signal aborted.
   */
  async write(bytes: Uint8Array): Promise<void> {
    this.checkOpen('write');
    let pos = 0;
    while (pos < bytes.length) {
      this.current ??= new Uint8Array(this.partSizeFor(this.nextPart));
      const n = Math.min(this.current.length - this.fill, bytes.length - pos);
      this.current.set(bytes.subarray(pos, pos + n), this.fill);
      this.fill += n;
      pos += n;
      this.total += n;
      if (this.fill === this.current.length) await this.flushPart();
    }
  }

  /**
   * Uploads what is left (with `header` written over the first bytes of part 1, which needs
   * `holdFirstPart`), then completes the upload: the object appears under the key. On failure
   * the upload is aborted (nothing appears) and the error thrown.
   * @param header bytes for offset 0 (e.g. the 4096-byte archive header), at most part 1's length.
   * @throws UsageError for a header without `holdFirstPart`, or longer than part 1; StoreError
   *   when a request fails; AbortedError when the signal aborted.
   */
  async complete(header?: Uint8Array): Promise<S3UploadResult> {
    this.checkOpen('complete');
    this.state = 'completing';
    try {
      const result = await this.finish(header);
      this.state = 'done';
      return result;
    } catch (err) {
      this.state = 'open';
      await this.abort().catch(() => {});
      throw err;
    }
  }

  /**
   * Cancels the upload: stops parts in flight and aborts the multipart upload, so neither an
   * object nor stored parts remain. Idempotent; a no-op after a successful {@link complete}.
   * @throws StoreError when S3 refuses to abort (the pending upload then stays until a bucket
   *   lifecycle rule removes it).
   */
  async abort(): Promise<void> {
    if (this.state === 'done' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.stop.abort();
    await Promise.allSettled([...this.inflight]);
    this.current = this.held = undefined;
    const id = await this.uploadId?.catch(() => undefined);
    if (id === undefined) return;
    try {
      // No signal: the abort must reach S3 even when the caller's signal is what stopped us.
      await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.options.key, UploadId: id }));
    } catch (err) {
      const e = err as { name?: string };
      if (e?.name !== 'NoSuchUpload') throw s3Error(err, this.name, 'AbortMultipartUpload', undefined, 'write');
    }
  }

  private async finish(header: Uint8Array | undefined): Promise<S3UploadResult> {
    const last = this.fill > 0 ? this.current!.subarray(0, this.fill) : undefined;
    if (header) this.patchHeader(header, last);
    const { bucket, key } = this.options;
    if (this.uploadId === undefined && this.inflight.size === 0 && !(this.held && last)) {
      // One part at most: a single PutObject (S3 needs parts but the last to be ≥ 5 MiB anyway).
      const body = this.held ?? last ?? new Uint8Array(0);
      const out = await this.send(new this.sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ContentType: this.contentType }), 'PutObject');
      return { etag: out.ETag ?? '', size: this.total, parts: 1 };
    }
    if (last) {
      this.current = undefined;
      this.fill = 0;
      await this.dispatch(this.nextPart++, last);
    }
    if (this.held) {
      const part1 = this.held;
      this.held = undefined;
      await this.dispatch(1, part1);
    }
    await Promise.all([...this.inflight]);
    this.throwIfFailed();
    const parts = [...this.etags].sort((a, b) => a[0] - b[0]).map(([PartNumber, ETag]) => ({ PartNumber, ETag }));
    const out = await this.send(
      new this.sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: await this.uploadId!, MultipartUpload: { Parts: parts } }),
      'CompleteMultipartUpload',
    );
    return { etag: out.ETag ?? '', size: this.total, parts: parts.length };
  }

  /** Writes `header` over the start of part 1: held, or still the part being filled. */
  private patchHeader(header: Uint8Array, last: Uint8Array | undefined): void {
    if (!this.options.holdFirstPart) throw new UsageError(`${this.name}: complete(header) needs holdFirstPart`);
    if (header.length === 0) return;
    const part1 = this.held ?? (this.nextPart === 1 ? last : undefined);
    if (!part1 || header.length > part1.length) {
      throw new UsageError(`${this.name}: the header (${header.length} bytes) is longer than the ${part1?.length ?? 0} bytes written at offset 0`);
    }
    part1.set(header, 0);
  }

  /** The part being filled is full: part 1 is held back if asked, others start uploading. */
  private async flushPart(): Promise<void> {
    const bytes = this.current!;
    const number = this.nextPart++;
    this.current = undefined;
    this.fill = 0;
    if (number === 1 && this.options.holdFirstPart) this.held = bytes;
    else await this.dispatch(number, bytes);
  }

  /** Starts uploading a part once fewer than `concurrency` are in flight. */
  private async dispatch(number: number, bytes: Uint8Array): Promise<void> {
    if (number > S3_MAX_PARTS) throw new StoreError(`${this.name}: more than ${S3_MAX_PARTS} parts: the object is too large for one S3 upload`, { archive: this.name, stage: 'write' });
    while (this.inflight.size >= this.options.concurrency) await Promise.race(this.inflight);
    this.throwIfFailed();
    // The promise never rejects (the failure is kept and thrown by the next call), so a part
    // failing while nobody awaits it is not an unhandled rejection.
    const task: Promise<void> = this.uploadPart(number, bytes)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.inflight.delete(task));
    this.inflight.add(task);
  }

  private async uploadPart(number: number, bytes: Uint8Array): Promise<void> {
    const { bucket, key } = this.options;
    this.uploadId ??= this.createUpload();
    const id = await this.uploadId;
    const out = await this.send(new this.sdk.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber: number, Body: bytes, ContentLength: bytes.length }), `UploadPart ${number}`);
    if (!out.ETag) throw new StoreError(`${this.name}: UploadPart ${number}: the answer has no ETag`, { archive: this.name, stage: 'write' }, { transient: true });
    this.etags.set(number, out.ETag);
  }

  private async createUpload(): Promise<string> {
    const { bucket, key } = this.options;
    let out;
    try {
      // Without our signal: if abort() raced this request, it must still learn the id to abort it.
      out = await this.client.send(new this.sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: this.contentType }));
    } catch (err) {
      throw s3Error(err, this.name, 'CreateMultipartUpload', undefined, 'write');
    }
    if (!out.UploadId) throw new StoreError(`${this.name}: CreateMultipartUpload: the answer has no UploadId`, { archive: this.name, stage: 'write' });
    return out.UploadId as string;
  }

  private get contentType(): string {
    return this.options.contentType ?? 'application/octet-stream';
  }

  /** Sends a command with the upload's signal; errors become StoreError/AbortedError. */
  private async send(command: unknown, what: string): Promise<{ ETag?: string }> {
    try {
      return await this.client.send(command, { abortSignal: this.signal });
    } catch (err) {
      throw s3Error(err, this.name, what, this.options.signal, 'write');
    }
  }

  /** Part n's size: `partSize`, doubled every 1000 parts, at most 5 GiB. */
  private partSizeFor(number: number): number {
    return Math.min(S3_MAX_PART_BYTES, this.options.partSize * 2 ** Math.floor((number - 1) / PARTS_PER_SIZE));
  }

  private checkOpen(what: string): void {
    if (this.options.signal?.aborted) throw new AbortedError(`${this.name}: upload cancelled`, { archive: this.name, stage: 'write' });
    if (this.state !== 'open') throw new UsageError(`${this.name}: ${what} after the upload was ${this.state === 'done' ? 'completed' : this.state === 'aborted' ? 'aborted' : 'being completed'}`);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw s3Error(this.failure, this.name, 'upload', this.options.signal, 'write');
  }
}
