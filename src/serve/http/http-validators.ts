/**
 * Pure parsing and comparison of HTTP validators (RFC 9110 §8.8): entity tags and HTTP-dates,
 * as the conditional request fields (`If-Match`, `If-None-Match`, `If-Range`, `If-Modified-Since`,
 * `If-Unmodified-Since`) carry them. Strings in, plain values out; no I/O.
 */

/** One entity tag (RFC 9110 §8.8.3). */
export interface EntityTag {
  /** True for a weak tag (`W/"…"`). */
  weak: boolean;
  /** The opaque tag including its double quotes, e.g. `"abc"`. */
  opaque: string;
}

/** The validators of one representation, as the server sends them. */
export interface Validators {
  /** The strong entity tag sent as `ETag`, quotes included (e.g. `"0123abcd-disk"`). */
  etag: string;
  /** The time sent as `Last-Modified` (HTTP-dates have whole seconds; the rest is ignored). */
  lastModified: Date;
}

// etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3); obs-text arrives as latin1 from Node.
const ETAG = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")/;

/**
 * Parses a single entity tag such as `"abc"` or `W/"abc"` (surrounding whitespace allowed).
 * @returns undefined when `value` is not exactly one entity tag.
 */
export function parseEntityTag(value: string): EntityTag | undefined {
  const v = value.trim();
  const m = ETAG.exec(v);
  if (!m || m[0].length !== v.length) return undefined;
  return { weak: m[1] !== undefined, opaque: m[2] };
}

/**
 * Parses the value of `If-Match` / `If-None-Match`: `*` or a comma-separated list of entity
 * tags (`#entity-tag`, empty list elements ignored as RFC 9110 §5.6.1 asks).
 * @returns `'*'`, the tags in order, or undefined when the value is malformed (callers treat a
 * malformed list as matching nothing, the conservative reading for every field that uses it).
 */
export function parseEntityTagList(value: string): '*' | EntityTag[] | undefined {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let at = 0;
  for (;;) {
    // Skip OWS and empty list elements.
    while (at < value.length && (value[at] === ' ' || value[at] === '\t' || value[at] === ',')) at++;
    if (at >= value.length) break;
    const m = ETAG.exec(value.slice(at));
    if (!m) return undefined;
    tags.push({ weak: m[1] !== undefined, opaque: m[2] });
    at += m[0].length;
    while (at < value.length && (value[at] === ' ' || value[at] === '\t')) at++;
    if (at < value.length && value[at] !== ',') return undefined;
  }
  return tags.length > 0 ? tags : undefined;
}

/** Strong comparison (RFC 9110 §8.8.3.2): both tags strong and their opaque tags equal. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison (RFC 9110 §8.8.3.2): opaque tags equal, whatever their weakness. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const DAY = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun';
const LONG_DAY = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
// The three forms of RFC 9110 §5.6.7; only the first is generated, all three are accepted.
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d{2}) (${MONTH}) (\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`);
const RFC850_DATE = new RegExp(`^(?:${LONG_DAY}), (\\d{2})-(${MONTH})-(\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) ( \\d|\\d{2}) (\\d{2}):(\\d{2}):(\\d{2}) (\\d{4})$`);

/**
 * Parses an HTTP-date in any of its three forms (IMF-fixdate, obsolete RFC 850, asctime), all
 * in UTC. `Date.parse` is not used because it reads asctime as local time and accepts much
 * that is not an HTTP-date.
 * @param now - the current time in ms, for the century of a two-digit RFC 850 year.
 * @returns milliseconds since the epoch (a whole number of seconds), or undefined when `value`
 * is not a valid HTTP-date.
 */
export function parseHttpDate(value: string, now = Date.now()): number | undefined {
  const v = value.trim();
  let day: string, month: string, year: string, hh: string, mm: string, ss: string;
  let m = IMF_FIXDATE.exec(v);
  if (m) [, day, month, year, hh, mm, ss] = m;
  else if ((m = RFC850_DATE.exec(v))) {
    [, day, month, year, hh, mm, ss] = m;
    // A two-digit year more than 50 years in the future is the most recent past year with
    // those digits (RFC 9110 §5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    let y = Math.floor(thisYear / 100) * 100 + Number(year);
    if (y > thisYear + 50) y -= 100;
    year = String(y);
  } else if ((m = ASCTIME_DATE.exec(v))) [, month, day, hh, mm, ss, year] = m;
  else return undefined;
  const d = Number(day), h = Number(hh), min = Number(mm), s = Number(ss);
  const mon = MONTHS.indexOf(month);
  if (h > 23 || min > 59 || s > 60 || d < 1) return undefined;
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  const date = new Date(Date.UTC(2000, mon, d, h, min, Math.min(s, 59)));
  date.setUTCFullYear(Number(year), mon, d);
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mon) return undefined; // 31 Feb and the like
  return date.getTime();
}

/** `date` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 §5.6.7 requires senders to use. */
export function formatHttpDate(date: Date): string {
  return date.toUTCString();
}

/** `date` in ms truncated to whole seconds: the resolution of an HTTP-date. */
export function toHttpSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000) * 1000;
}
