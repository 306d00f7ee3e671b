import { FIRST_CONTACT_BYTES } from '../format/constants.js';
import { raceAbort } from '../util/race-abort.js';

// The size belongs to the format's reading contract (FORMAT.md §7: the writer lays the top of
// the index out within it); the remote sources take it from here.
export { FIRST_CONTACT_BYTES };

/** What a remote source's first request told about its object, pinned for the source's lifetime. */
export interface ObjectHead {
  /** Size of the object in bytes. */
  size: number;
  /** The object's first bytes (all of them when it is shorter than the first request). */
  head: Uint8Array;
}

/** Fetches bytes [from, end) of the object described by `info` (pinned to its validator). */
export type FetchRange<T extends ObjectHead> = (info: T, from: number, end: number, signal?: AbortSignal) => Promise<Uint8Array>;

/**
 * The first contact of a remote source ({@link HttpSource}, {@link S3Source}): one request for
 * the first {@link FIRST_CONTACT_BYTES} of the object, which also tells its size and validator.
 * It is shared by every caller, so no one caller's signal ends it: each caller only stops
 * waiting when its own signal aborts. A failed attempt is forgotten (the next read tries
 * again); a later one that succeeded never is, since two pins could mix two versions.
 *
 * Reads inside the kept head cost nothing more; the header, the dictionary and the front index
 * area of an archive (§7) are all in it, so opening one costs this single request.
 * @example
 * const contact = new FirstContact(() => fetchFirstBytes());
 * const bytes = await contact.read(offset, length, signal, (info, from, end) => fetchPinned(info, from, end));
 */
export class FirstContact<T extends ObjectHead> {
  private info: Promise<T> | undefined;

  constructor(private readonly contact: () => Promise<T>) {}

  /** The pinned object info, from the shared first request. */
  get(signal?: AbortSignal): Promise<T> {
    if (!this.info) {
      const info = this.contact();
      this.info = info;
      info.catch(() => {
        if (this.info === info) this.info = undefined;
      });
    }
    return raceAbort(this.info, signal);
  }

  /**
   * Reads `length` bytes at `offset`, clamped to the object (fewer at the end, none at or past
   * it): from the kept head when the range lies inside it; otherwise only the part past the head
   * is fetched with `fetch` (pinned, so the two parts are of one version) and joined to it.
   */
  async read(offset: number, length: number, signal: AbortSignal | undefined, fetch: FetchRange<T>): Promise<Uint8Array> {
    const info = await this.get(signal);
    const end = Math.min(offset + length, info.size);
    if (end <= offset) return new Uint8Array(0);
    const head = info.head;
    if (end <= head.length) return head.subarray(offset, end);
    const from = Math.max(offset, head.length);
    const tail = await fetch(info, from, end, signal);
    if (from === offset) return tail;
    const out = new Uint8Array(end - offset);
    out.set(head.subarray(offset));
    out.set(tail, from - offset);
    return out;
  }
}
