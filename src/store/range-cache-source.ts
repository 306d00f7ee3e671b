import { LruCache } from '../util/lru.js';
import { raceAbort } from '../util/race-abort.js';
import { SourceWrapper } from './source-wrapper.js';
import type { ByteSource, ReadOptions } from './types.js';

/** How {@link RangeCacheSource} caches. */
export interface RangeCacheOptions {
  /** Most bytes held (default 16 MiB; 0 turns the cache off). */
  budgetBytes?: number;
  /** Caching unit in bytes: reads are widened to whole pages (default 16 KiB, a power of two). */
  pageSize?: number;
  /**
   * Reads of at least this many bytes bypass the cache (default 4 pages): large reads (blocks of
   * a sequential read, a whole index) are not worth widening or keeping.
   */
  bypassBytes?: number;
}

/**
 * A byte-budgeted LRU of fixed-size pages of the wrapped source. A read is widened to whole
 * pages; the pages it lacks are fetched in one request per contiguous run (and shared with any
 * read already fetching them), so repeated and neighbouring small reads — the header, index
 * nodes, the metadata — cost one round trip to a remote store, not one each.
 */
export class RangeCacheSource extends SourceWrapper {
  private readonly pages: LruCache<number, Uint8Array>;
  private readonly inflight = new Map<number, Promise<Uint8Array>>();
  private readonly page: number;
  private readonly bypass: number;

  constructor(inner: ByteSource, options: RangeCacheOptions = {}) {
    super(inner);
    this.page = options.pageSize ?? 16 << 10;
    this.bypass = options.bypassBytes ?? 4 * this.page;
    if (this.page <= 0 || (this.page & (this.page - 1)) !== 0) throw new RangeError(`page size must be a power of two, got ${this.page}`);
    this.pages = new LruCache(options.budgetBytes ?? 16 << 20);
  }

  /** Large reads go straight into `target` (they bypass the cache, see {@link read}); small ones are copied from the cached pages. */
  override async readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    if (target.length >= this.bypass || this.pages.budget === 0) return this.readIntoInner(offset, target, options);
    return super.readInto(offset, target, options);
  }

  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    if (length === 0 || length >= this.bypass || this.pages.budget === 0) return this.inner.read(offset, length, options);
    const first = Math.floor(offset / this.page);
    const last = Math.floor((offset + length - 1) / this.page);
    const parts: (Uint8Array | Promise<Uint8Array>)[] = [];
    let runStart = -1;
    const flushRun = (upTo: number) => {
      if (runStart < 0) return;
      const start = runStart;
      const run = this.fetchRun(start, upTo);
      for (let p = start; p < upTo; p++) parts[p - first] = run.then((pages) => pages[p - start]);
      runStart = -1;
    };
    for (let p = first; p <= last; p++) {
      const hit = this.pages.get(p) ?? this.inflight.get(p);
      if (hit) {
        flushRun(p);
        parts[p - first] = hit;
      } else if (runStart < 0) runStart = p;
    }
    flushRun(last + 1);
    // The fetches are shared with other readers and get no signal; an abort only stops this
    // caller waiting (without it, the outermost wrapper of openSource would ignore aborts).
    const got = await raceAbort(Promise.all(parts), options?.signal);
    const out = new Uint8Array(length);
    let n = 0;
    for (let i = 0; i < got.length; i++) {
      const pageStart = (first + i) * this.page;
      const from = Math.max(offset, pageStart) - pageStart;
      const to = Math.min(offset + length - pageStart, got[i].length);
      if (to <= from) break;
      out.set(got[i].subarray(from, to), n);
      n += to - from;
      // A short page is the end of the source: nothing after it.
      if (got[i].length < this.page) break;
    }
    return n === length ? out : out.subarray(0, n);
  }

  /**
   * Fetches pages [from, to) with one request; each page is cached and shared while in flight.
   * No caller's signal is passed down: other readers may be waiting for the same pages.
   */
  private fetchRun(from: number, to: number): Promise<Uint8Array[]> {
    const request = this.inner.read(from * this.page, (to - from) * this.page).then((bytes) => {
      const pages: Uint8Array[] = [];
      for (let p = from; p < to; p++) {
        // Copies, so that a page does not keep the whole request's buffer alive.
        const page = bytes.slice(Math.min((p - from) * this.page, bytes.length), Math.min((p - from + 1) * this.page, bytes.length));
        pages.push(page);
        this.pages.set(p, page, page.length);
      }
      return pages;
    });
    for (let p = from; p < to; p++) {
      const one = request.then((pages) => pages[p - from]);
      one.catch(() => {});
      this.inflight.set(p, one);
      one.finally(() => this.inflight.delete(p)).catch(() => {});
    }
    return request;
  }
}
