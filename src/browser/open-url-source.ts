import { HttpSource } from '../store/http-source.js';
import type { SourceOptions } from '../store/open-source.js';
import type { ByteSource } from '../store/types.js';
import { wrapRemote } from '../store/wrap-remote.js';
import { absoluteUrl } from './url-places.js';

/**
 * Opens an http(s) URL (absolute, or relative to the page) for reading in a page: plain
 * `Range: bytes=a-b` requests only (a suffix range or an `If-Match` header would cost a CORS
 * preflight per request), the size from the first answer's Content-Range, every answer checked
 * against the first one's validator; wrapped like every remote source (retry, concurrency
 * limit, coalescing, page cache: store/wrap-remote.ts).
 * @throws UsageError when `location` is not an http(s) URL.
 */
export async function openUrlSource(location: string, options: SourceOptions = {}): Promise<ByteSource> {
  const url = absoluteUrl(location);
  // A bare reference to the page's fetch: called as a method of another object it throws "Illegal invocation".
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return wrapRemote(new HttpSource(url, { fetch: fetchFn, headers: options.headers, pinRequests: false }), options);
}
