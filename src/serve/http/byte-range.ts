/**
 * Pure evaluation of the `Range` and `If-Range` request fields against a representation of a
 * known size (RFC 9110 §14 and §13.1.5). Strings in, plain values out; no I/O.
 */
import type { ByteRange } from '../../util/byte-ranges.js';
import { parseEntityTag, parseHttpDate, strongMatch, toHttpSeconds, type Validators } from './http-validators.js';

export type { ByteRange } from '../../util/byte-ranges.js';

/**
 * What a `Range` field asks of a representation:
 * - `none`: no field, an unknown range unit, a malformed or invalid field, or too many ranges —
 *   all answered with the whole representation (RFC 9110 §14.2 lets a server ignore those);
 * - `satisfiable`: one or more disjoint ranges (`[start, end)`, clipped to the size), overlapping
 *   and touching ranges coalesced, otherwise in the order the client listed them (§14.6);
 * - `unsatisfiable`: a valid field none of whose ranges selects a byte (416).
 */
export type RangeRequest =
  | { kind: 'none' }
  | { kind: 'satisfiable'; ranges: ByteRange[] }
  | { kind: 'unsatisfiable' };

/** Options of {@link parseRange}. */
export interface ParseRangeOptions {
  /**
   * Above this many range-specs the field is ignored (`none`), as nginx's `max_ranges` and
   * Apache's `MaxRanges` do: a long list of tiny ranges is a denial-of-service pattern that
   * RFC 9110 §14.2 allows a server to ignore. Default {@link DEFAULT_MAX_RANGES}.
   */
  maxRanges?: number;
}

/** Default {@link ParseRangeOptions.maxRanges}. */
export const DEFAULT_MAX_RANGES = 100;

const NONE: RangeRequest = { kind: 'none' };
// range-unit "=" range-set (RFC 9110 §14.1.1, §14.2); the unit is a token, compared case-insensitively.
const SPECIFIER = /^[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*=(.*)$/s;
const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;

/**
 * Evaluates a `Range` field value against a representation of `size` bytes (RFC 9110 §14.1.1):
 * `bytes=a-b` (b clipped to the last byte), `bytes=a-`, suffix `bytes=-n` (the last n bytes,
 * the whole representation when n ≥ size), and comma-separated lists of them. Ranges that select
 * nothing (a start at or past the end, `-0`) are dropped; when none remains the result is
 * `unsatisfiable`. A zero-length representation has no satisfiable range.
 *
 * Positions beyond 2^53 lose precision but only ever compare as "past the end", and the
 * validity check (last ≥ first) compares the digits exactly, so huge numbers are still handled
 * correctly.
 *
 * @param header - the field value, or undefined when the request has none.
 * @param size - the representation's length in bytes.
 * @example
 * parseRange('bytes=0-99,-10', 1000) // { kind: 'satisfiable', ranges: [{start: 0, end: 100}, {start: 990, end: 1000}] }
 */
export function parseRange(header: string | undefined, size: number, options: ParseRangeOptions = {}): RangeRequest {
  if (header === undefined) return NONE;
  const spec = SPECIFIER.exec(header);
  if (!spec || spec[1].toLowerCase() !== 'bytes') return NONE;
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_RANGES;
  const picked: ByteRange[] = [];
  let specs = 0;
  for (const raw of spec[2].split(',')) {
    const element = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (element === '') continue; // empty list elements are allowed (RFC 9110 §5.6.1)
    if (++specs > maxRanges) return NONE;
    let m = INT_RANGE.exec(element);
    if (m) {
      const first = Number(m[1]);
      const last = m[2] === '' ? Infinity : Number(m[2]);
      // An invalid range-spec makes the whole field invalid. Compared on the digits: past 2^53
      // Number() rounds, and `9007199254740993-9007199254740992` would pass as valid (416, not 200).
      if (m[2] !== '' && decimalLess(m[2], m[1])) return NONE;
      if (first < size) picked.push({ start: first, end: Math.min(last + 1, size) });
      continue;
    }
    m = SUFFIX_RANGE.exec(element);
    if (!m) return NONE;
    const n = Number(m[1]);
    if (n > 0 && size > 0) picked.push({ start: Math.max(0, size - n), end: size });
  }
  if (specs === 0) return NONE;
  if (picked.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'satisfiable', ranges: coalesce(picked) };
}

/** `a < b` for strings of decimal digits (leading zeros allowed), exactly, whatever their length. */
function decimalLess(a: string, b: string): boolean {
  const x = a.replace(/^0+/, '');
  const y = b.replace(/^0+/, '');
  return x.length !== y.length ? x.length < y.length : x < y;
}

/**
 * Merges overlapping and touching ranges (RFC 9110 §14.2 allows it; it also defuses requests
 * that ask for the same bytes many times). Each merged range takes the place of the earliest
 * listed of its members, so the client's order is kept otherwise (§14.6). O(n log n).
 */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length === 1) return ranges;
  const order = ranges.map((r, i) => ({ start: r.start, end: r.end, first: i }));
  order.sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: typeof order = [];
  for (const r of order) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) {
      last.end = Math.max(last.end, r.end);
      last.first = Math.min(last.first, r.first);
    } else merged.push({ ...r });
  }
  merged.sort((a, b) => a.first - b.first);
  return merged.map(({ start, end }) => ({ start, end }));
}

/**
 * Whether an `If-Range` field lets the `Range` field apply (RFC 9110 §13.1.5): true when there
 * is no `If-Range`, when it is an entity tag that strongly matches the current ETag (a weak tag
 * never matches), or when it is an HTTP-date exactly equal to Last-Modified. Anything else —
 * a different tag or date, a malformed value — means "the client holds another version": the
 * server must then ignore `Range` and send the whole representation.
 */
export function ifRangeAllows(ifRange: string | undefined, validators: Validators): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    const tag = parseEntityTag(v);
    const current = parseEntityTag(validators.etag);
    return tag !== undefined && current !== undefined && strongMatch(tag, current);
  }
  const date = parseHttpDate(v);
  return date !== undefined && date === toHttpSeconds(validators.lastModified);
}

/** The `Content-Range` of a 206 part: `bytes first-last/size` (inclusive positions, RFC 9110 §14.4). */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end - 1}/${size}`;
}

/** The `Content-Range` of a 416 answer: `bytes *\/size` (RFC 9110 §14.4). */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
