import { CoalescingSource } from './coalescing-source.js';
import { FileSource } from './file-source.js';
import { HttpSource, type HttpFetch } from './http-source.js';
import { nodeHttpFetch } from './node-http-fetch.js';
import { LimitedSource } from './limited-source.js';
import { RangeCacheSource } from './range-cache-source.js';
import { RetryingSource, type RetryOptions } from './retrying-source.js';
import type { ByteSource } from './types.js';
// Type only: the SDK itself is loaded on first use of an s3:// location.
import type { S3ClientLike } from './s3-source.js';
import { UsageError } from '../errors.js';

/** How {@link openSource} reaches a location and which wrappers it composes. */
export interface SourceOptions {
  /** fetch for http(s):// locations (default: {@link nodeHttpFetch}, node:http(s) with keep-alive). */
  fetch?: HttpFetch;
  /** Extra HTTP request headers. */
  headers?: Record<string, string>;
  /** An `@aws-sdk/client-s3` S3Client for s3:// locations (default: one built from the AWS environment). */
  s3Client?: S3ClientLike;
  /** Retry of transient failures of remote sources. */
  retry?: RetryOptions;
  /** Most requests in flight to one remote object (default 8). */
  concurrency?: number;
  /** Byte budget of the page cache in front of a remote object (default 8 MiB; 0 disables). */
  cacheBytes?: number;
}

/** True for locations read over the network (http://, https://, s3://) rather than from a file. */
export function isRemote(location: string): boolean {
  return /^(https?|s3):\/\//i.test(location);
}

/**
 * Opens a path, an http(s):// URL or an s3://bucket/key location as a {@link ByteSource}.
 * Remote sources are wrapped, in this one place, as
 * `cache(coalesce(limit(retry(backend))))`: the page cache answers repeated small reads, reads
 * from any callers in the same turn are merged, at most `concurrency` requests run at once, and
 * each request is retried on transient failures only.
 * @throws StoreError when a file cannot be opened; UsageError for an unknown URL scheme.
 */
export async function openSource(location: string, options: SourceOptions = {}): Promise<ByteSource> {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return FileSource.open(location);
  let backend: ByteSource;
  if (/^https?:\/\//i.test(location)) backend = new HttpSource(location, { fetch: options.fetch ?? nodeHttpFetch, headers: options.headers });
  else if (/^s3:\/\//i.test(location)) {
    // Loaded only when used: local users never pay for the AWS SDK.
    const { S3Source, parseS3Url } = await import('./s3-source.js');
    // RetryingSource below retries transient failures; the SDK's own retries would multiply them.
    const client = options.s3Client ?? (await (await import('./s3-client.js')).createS3Client({ maxAttempts: 1 }));
    backend = new S3Source({ ...parseS3Url(location), client });
  } else throw new UsageError(`${location}: unsupported URL scheme (use a path, http://, https:// or s3://)`);
  return wrapRemote(backend, options);
}

/** The wrappers of a remote source, composed in one place (see {@link openSource}). */
export function wrapRemote(backend: ByteSource, options: SourceOptions = {}): ByteSource {
  const retried = new RetryingSource(backend, options.retry);
  const limited = new LimitedSource(retried, options.concurrency ?? 8);
  const coalesced = new CoalescingSource(limited);
  return new RangeCacheSource(coalesced, { budgetBytes: options.cacheBytes ?? 8 << 20 });
}
