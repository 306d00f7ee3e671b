import { CoalescingSource } from './coalescing-source.js';
import { LimitedSource } from './limited-source.js';
import type { SourceOptions } from './open-source.js';
import { RangeCacheSource } from './range-cache-source.js';
import { RetryingSource } from './retrying-source.js';
import type { ByteSource } from './types.js';

/**
 * The wrappers of a remote source, composed in one place, as
 * `cache(coalesce(limit(retry(backend))))`: the page cache answers repeated small reads, reads
 * from any callers in the same turn are merged, at most `options.concurrency` requests (default
 * 8) run at once, and each request is retried on transient failures only. Its own module, loaded
 * by openSource for URLs only, so that reading a file never loads the wrappers.
 */
export function wrapRemote(backend: ByteSource, options: SourceOptions = {}): ByteSource {
  const retried = new RetryingSource(backend, options.retry);
  const limited = new LimitedSource(retried, options.concurrency ?? 8);
  const coalesced = new CoalescingSource(limited);
  return new RangeCacheSource(coalesced, { budgetBytes: options.cacheBytes ?? 8 << 20 });
}
