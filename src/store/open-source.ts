import { FileSource } from './file-source.js';
// Type only: the HTTP source and node:http are loaded on first use of an http(s):// location.
import type { HttpFetch } from './http-source.js';
import type { RetryOptions } from './retrying-source.js';
import type { ByteSource } from './types.js';
// Type only: the SDK itself is loaded on first use of an s3:// location.
import type { S3ClientLike } from './s3-source.js';
import { UsageError } from '../errors.js';

/** How {@link openSource} reaches a location and which wrappers it composes. */
export interface SourceOptions {
  /** fetch for http(s):// locations (default: `nodeHttpFetch` of node-http-fetch.ts, node:http(s) with keep-alive). */
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
 * Remote sources are wrapped by `wrapRemote` (wrap-remote.ts) as
 * `cache(coalesce(limit(retry(backend))))`: the page cache answers repeated small reads, reads
 * from any callers in the same turn are merged, at most `concurrency` requests run at once, and
 * each request is retried on transient failures only.
 * @throws StoreError when a file cannot be opened; UsageError for an unknown URL scheme.
 */
export async function openSource(location: string, options: SourceOptions = {}): Promise<ByteSource> {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return FileSource.open(location);
  let backend: ByteSource;
  if (/^https?:\/\//i.test(location)) {
    // Loaded only when used: reading a file never pays for node:http.
    const [{ HttpSource }, { nodeHttpFetch }] = await Promise.all([import('./http-source.js'), import('./node-http-fetch.js')]);
    backend = new HttpSource(location, { fetch: options.fetch ?? nodeHttpFetch, headers: options.headers });
  } else if (/^s3:\/\//i.test(location)) {
    // Loaded only when used: local users never pay for the AWS SDK.
    const { S3Source, parseS3Url } = await import('./s3-source.js');
    // RetryingSource below retries transient failures; the SDK's own retries would multiply them.
    const client = options.s3Client ?? (await (await import('./s3-client.js')).createS3Client({ maxAttempts: 1 }));
    backend = new S3Source({ ...parseS3Url(location), client });
  } else throw new UsageError(`${location}: unsupported URL scheme (use a path, http://, https:// or s3://)`);
  const { wrapRemote } = await import('./wrap-remote.js');
  return wrapRemote(backend, options);
}
