import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { S3ClientLike } from './s3-client.js';
import { S3Upload } from './s3-upload.js';
import { parseS3Url } from './s3-url.js';
import { tempPathFor } from './temp-path.js';
import type { ByteSink } from './types.js';

/** Options of {@link S3Output.create}. */
export interface S3OutputOptions {
  client?: S3ClientLike;
  /** Replace an existing object (default: refuse). */
  force?: boolean;
  /** Bytes of the start patched last, held back in the first part (default 4096: an archive header). */
  headBytes?: number;
  signal?: AbortSignal;
}

/**
 * A {@link ByteSink} that streams into an S3 object with a multipart upload: writes must come
 * in order from `headBytes` on, and the first `headBytes` (an archive's header, known last) may
 * be written at any time; they go out with part 1, uploaded last. Memory stays bounded (a few
 * parts); nothing is visible under the key unless {@link commit} succeeds.
 */
export class S3Output implements ByteSink {
  private next: number;
  private head: Uint8Array;
  readonly scratchPath: string;

  private constructor(readonly path: string, private readonly upload: S3Upload, headBytes: number) {
    this.next = headBytes;
    this.head = new Uint8Array(headBytes);
    this.scratchPath = tempPathFor(join(tmpdir(), 'hexz-s3-output'));
  }

  /**
   * Prepares the upload to `url` (s3://bucket/key).
   * @throws UsageError when the object exists and `force` is not set.
   */
  static async create(url: string, options: S3OutputOptions = {}): Promise<S3Output> {
    const { bucket, key } = parseS3Url(url);
    const client = options.client ?? (await (await import('./s3-client.js')).createS3Client());
    if (!options.force && (await exists(client, bucket, key))) throw new UsageError(`${url}: output exists (use --force to overwrite)`, { archive: url });
    const headBytes = options.headBytes ?? 4096;
    const upload = await S3Upload.create({ bucket, key, client, holdFirstPart: true, signal: options.signal });
    const out = new S3Output(url, upload, headBytes);
    // The head's place in part 1, filled in at commit.
    await upload.write(new Uint8Array(headBytes));
    return out;
  }

  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    if (position + bytes.length <= this.head.length) {
      this.head.set(bytes, position);
      return;
    }
    if (position !== this.next) throw new UsageError(`${this.path}: S3 output is sequential: write at ${position}, expected ${this.next}`);
    await this.upload.write(bytes);
    this.next += bytes.length;
  }

  async commit(): Promise<void> {
    await this.upload.complete(this.head);
  }

  async abort(): Promise<void> {
    await this.upload.abort().catch(() => {});
  }
}

async function exists(client: S3ClientLike, bucket: string, key: string): Promise<boolean> {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound') return false;
    const { s3Error } = await import('./s3-errors.js');
    throw s3Error(err, `s3://${bucket}/${key}`, 'HeadObject');
  }
}
