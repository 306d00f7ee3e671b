import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { createS3Client, type S3ClientLike } from './s3-client.js';
import { s3Error } from './s3-errors.js';
import { parseS3Url } from './s3-url.js';

/** One object found by {@link listS3}. */
export interface S3ListEntry {
  /** The full key (prefix included). */
  key: string;
  /** Size in bytes. */
  size: number;
  /** The ETag, quoted as S3 gives it. */
  etag: string;
}

/** Options of {@link listS3}. */
export interface ListS3Options {
  /** Keys per ListObjectsV2 page (1–1000, default 1000: S3's maximum). */
  pageSize?: number;
  /** Only the keys directly under the prefix (no deeper `/`), like a directory listing. Default false. */
  shallow?: boolean;
  signal?: AbortSignal;
}

/**
 * Lists the objects under an `s3://bucket/prefix` (every page of ListObjectsV2), in key order.
 * The prefix is used as given: `s3://b/dir/` lists the "directory" dir, `s3://b/dir` also
 * `dir2/…` and `dir.hxz`.
 * @param client the S3 client (default: {@link createS3Client} from the AWS environment).
 * @example
 * for (const o of await listS3('s3://images/2026/')) console.log(o.key, o.size);
 * @throws UsageError for a bad URL; StoreError when a page cannot be listed (404 for a missing
 *   bucket is permanent, network errors and throttling transient); AbortedError on abort.
 */
export async function listS3(url: string, client?: S3ClientLike, options: ListS3Options = {}): Promise<S3ListEntry[]> {
  const { bucket, key: prefix } = parseS3Url(url, { prefix: true });
  const s3 = client ?? (await createS3Client());
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const entries: S3ListEntry[] = [];
  let token: string | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: options.pageSize, ContinuationToken: token, Delimiter: options.shallow ? '/' : undefined }),
        { abortSignal: options.signal },
      );
    } catch (err) {
      throw s3Error(err, url, 'list', options.signal);
    }
    for (const o of page.Contents ?? []) entries.push({ key: o.Key ?? '', size: o.Size ?? 0, etag: o.ETag ?? '' });
    // IsTruncated with no token would loop for ever on a broken server: stop instead.
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return entries;
}
