import { UsageError } from '../errors.js';

/** A bucket and key (or key prefix) named by an `s3://bucket/key` URL. */
export interface S3Location {
  bucket: string;
  /** The object key, slashes included; for a prefix, possibly empty. */
  key: string;
}

/** Options of {@link parseS3Url}. */
export interface ParseS3UrlOptions {
  /**
   * The URL names a key prefix (for listing), so `s3://bucket` and `s3://bucket/` are valid
   * with an empty key. Default false: an object URL needs a non-empty key.
   */
  prefix?: boolean;
}

// Bucket names (AWS rules, loosened to allow the upper case and underscores older buckets and
// other S3 servers such as radosgw accept): 3–255 of letters, digits, dot, hyphen, underscore.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
/** S3's limit on a key: 1024 bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

/**
 * Splits `s3://bucket/key/with/slashes` into bucket and key. Percent escapes in the key are
 * decoded (`my%20disk.hxz` → `my disk.hxz`), because locations hexz derives itself (a thin
 * archive's parent resolved against its child's URL) go through `URL` and come back encoded; a
 * key with no valid escapes is taken literally, as the AWS CLI takes it.
 * @example parseS3Url('s3://images/2026/disk.hxz') // → { bucket: 'images', key: '2026/disk.hxz' }
 * @throws UsageError when the URL is not `s3://`, the bucket name is invalid, or the key is
 *   empty (unless `options.prefix`) or longer than 1024 bytes.
 */
export function parseS3Url(url: string, options: ParseS3UrlOptions = {}): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/is.exec(url);
  if (!m) throw new UsageError(`${url}: not an S3 URL (expected s3://bucket/key)`);
  const bucket = m[1]!;
  const key = decodeKey(m[2] ?? '');
  if (!BUCKET.test(bucket)) throw new UsageError(`${url}: invalid bucket name ${JSON.stringify(bucket)}`);
  if (!options.prefix && key === '') throw new UsageError(`${url}: no object key (expected s3://bucket/key)`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new UsageError(`${url}: the key is longer than ${MAX_KEY_BYTES} bytes`);
  return { bucket, key };
}

/** The `s3://bucket/key` form of a location, used as a source name in messages. */
export function formatS3Url(location: S3Location): string {
  return `s3://${location.bucket}/${location.key}`;
}

function decodeKey(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // a lone `%` (not an escape) is part of the key
  }
}
