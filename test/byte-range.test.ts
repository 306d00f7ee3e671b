/**
 * The pure HTTP pieces of `hexz serve`: Range parsing (RFC 9110 §14), If-Range, the other
 * preconditions (§13.2.2), HTTP-dates and entity tags, and the multipart/byteranges layout.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { contentRange, ifRangeAllows, parseRange, unsatisfiedRange } from '../src/serve/http/byte-range.ts';
import { evaluatePreconditions } from '../src/serve/http/preconditions.ts';
import { formatHttpDate, parseEntityTag, parseEntityTagList, parseHttpDate, strongMatch, weakMatch } from '../src/serve/http/http-validators.ts';
import { multipartByteranges } from '../src/serve/http/multipart-byteranges.ts';

const r = (start: number, end: number) => ({ start, end });
const ok = (...ranges: { start: number; end: number }[]) => ({ kind: 'satisfiable', ranges });
const NONE = { kind: 'none' };
const UNSAT = { kind: 'unsatisfiable' };

describe('parseRange', () => {
  test('the three forms, clipped to the size', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), ok(r(0, 100)));
    assert.deepEqual(parseRange('bytes=0-0', 1000), ok(r(0, 1)));
    assert.deepEqual(parseRange('bytes=999-999', 1000), ok(r(999, 1000)));
    assert.deepEqual(parseRange('bytes=500-', 1000), ok(r(500, 1000)));
    assert.deepEqual(parseRange('bytes=900-5000', 1000), ok(r(900, 1000)), 'last-pos past the end is clipped');
    assert.deepEqual(parseRange('bytes=-10', 1000), ok(r(990, 1000)));
    assert.deepEqual(parseRange('bytes=-1000', 1000), ok(r(0, 1000)));
    assert.deepEqual(parseRange('bytes=-5000', 1000), ok(r(0, 1000)), 'a suffix longer than the representation is all of it');
    assert.deepEqual(parseRange('bytes=0-', 1), ok(r(0, 1)));
  });

  test('no field, another unit, malformed or invalid fields are ignored (none)', () => {
    for (const h of [undefined, '', 'bytes', 'bytes=', 'bytes=,', 'bytes=-', 'bytes=abc', 'bytes=1-2-3', 'bytes=5-2', 'bytes=0-1,5-2',
      'bytes=0-1,x', 'bytes=+1-2', 'bytes=1.5-2', 'bytes=0x10-', 'items=0-9', '=0-9', 'bytes 0-9', 'bytes=0 -9', 'bytes=--1', 'bytes=1--2']) {
      assert.deepEqual(parseRange(h, 1000), NONE, String(h));
    }
  });

  test('unit case, whitespace and empty list elements are tolerated', () => {
    assert.deepEqual(parseRange('Bytes=0-9', 1000), ok(r(0, 10)));
    assert.deepEqual(parseRange('BYTES = 0-9', 1000), ok(r(0, 10)));
    assert.deepEqual(parseRange('bytes=0-9 , ,\t20-29,', 1000), ok(r(0, 10), r(20, 30)));
    assert.deepEqual(parseRange('bytes=007-008', 1000), ok(r(7, 9)), 'leading zeros');
  });

  test('unsatisfiable: every range starts at or past the end, or is -0', () => {
    assert.deepEqual(parseRange('bytes=1000-', 1000), UNSAT);
    assert.deepEqual(parseRange('bytes=1000-2000', 1000), UNSAT);
    assert.deepEqual(parseRange('bytes=-0', 1000), UNSAT);
    assert.deepEqual(parseRange('bytes=5000-6000,-0', 1000), UNSAT);
    assert.deepEqual(parseRange('bytes=0-', 0), UNSAT, 'an empty representation has no byte to send');
    assert.deepEqual(parseRange('bytes=-5', 0), UNSAT);
  });

  test('unsatisfiable ranges in a list are dropped', () => {
    assert.deepEqual(parseRange('bytes=5000-,0-9', 1000), ok(r(0, 10)));
    assert.deepEqual(parseRange('bytes=-0,990-', 1000), ok(r(990, 1000)));
  });

  test('several ranges keep the client order; overlapping and touching ones are merged in place of the first', () => {
    assert.deepEqual(parseRange('bytes=500-599,0-9,-10', 1000), ok(r(500, 600), r(0, 10), r(990, 1000)));
    assert.deepEqual(parseRange('bytes=0-99,50-149', 1000), ok(r(0, 150)));
    assert.deepEqual(parseRange('bytes=0-9,10-19', 1000), ok(r(0, 20)), 'touching');
    assert.deepEqual(parseRange('bytes=0-9,11-19', 1000), ok(r(0, 10), r(11, 20)), 'a one-byte gap stays');
    assert.deepEqual(parseRange('bytes=700-799,100-199,150-250,0-0', 1000), ok(r(700, 800), r(100, 251), r(0, 1)));
    assert.deepEqual(parseRange('bytes=300-400,100-200,190-310', 1000), ok(r(100, 401)), 'a bridge merges three; placed at the first listed');
    assert.deepEqual(parseRange('bytes=0-0,0-0,0-0,0-0', 1000), ok(r(0, 1)));
    assert.deepEqual(parseRange('bytes=-500,0-', 1000), ok(r(0, 1000)));
  });

  test('huge positions compare as past the end instead of losing precision', () => {
    const big = '99999999999999999999999999';
    assert.deepEqual(parseRange(`bytes=${big}-`, 1000), UNSAT);
    assert.deepEqual(parseRange(`bytes=10-${big}`, 1000), ok(r(10, 1000)));
    assert.deepEqual(parseRange(`bytes=-${big}`, 1000), ok(r(0, 1000)));
    const tb10 = 10 * 2 ** 40; // 10 TiB: far beyond 32-bit, exact in a double
    assert.deepEqual(parseRange(`bytes=${tb10 - 5}-`, tb10), ok(r(tb10 - 5, tb10)));
    assert.equal(contentRange(r(tb10 - 5, tb10), tb10), `bytes ${tb10 - 5}-${tb10 - 1}/${tb10}`);
  });

  test('more range-specs than maxRanges: the field is ignored', () => {
    const many = `bytes=${Array.from({ length: 101 }, (_, i) => `${i * 2}-${i * 2}`).join(',')}`;
    assert.deepEqual(parseRange(many, 1000), NONE);
    assert.equal((parseRange(many, 1000, { maxRanges: 200 }) as { ranges: unknown[] }).ranges.length, 101);
    assert.deepEqual(parseRange('bytes=0-1,4-5', 1000, { maxRanges: 1 }), NONE);
  });

  test('Content-Range values', () => {
    assert.equal(contentRange(r(0, 10), 1000), 'bytes 0-9/1000');
    assert.equal(unsatisfiedRange(1000), 'bytes */1000');
  });
});

describe('If-Range', () => {
  const modified = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)); // sub-second part is not in the header
  const v = { etag: '"abc-disk"', lastModified: modified };
  test('absent: Range applies', () => assert.equal(ifRangeAllows(undefined, v), true));
  test('the same strong ETag: Range applies', () => assert.equal(ifRangeAllows('"abc-disk"', v), true));
  test('another ETag, a weak one, or garbage: the whole representation', () => {
    for (const h of ['"abc-memory"', 'W/"abc-disk"', '"abc-disk', 'abc-disk', '', '"abc-disk", "x"']) assert.equal(ifRangeAllows(h, v), false, h);
  });
  test('an HTTP-date equal to Last-Modified (to the second): Range applies', () => {
    assert.equal(ifRangeAllows(formatHttpDate(modified), v), true);
    assert.equal(ifRangeAllows('Friday, 02-Jan-26 03:04:05 GMT', v), true, 'RFC 850 form');
    assert.equal(ifRangeAllows('Fri Jan  2 03:04:05 2026', v), true, 'asctime form');
  });
  test('an earlier or later date: the whole representation', () => {
    assert.equal(ifRangeAllows(formatHttpDate(new Date(modified.getTime() - 1000)), v), false);
    assert.equal(ifRangeAllows(formatHttpDate(new Date(modified.getTime() + 1000)), v), false);
    assert.equal(ifRangeAllows('yesterday', v), false);
  });
});

describe('preconditions', () => {
  const lastModified = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 600));
  const v = { etag: '"abc-disk"', lastModified };
  const at = (s: number) => formatHttpDate(new Date(Date.UTC(2026, 0, 2, 3, 4, 5 + s)));
  const ev = (fields: Record<string, string>, method = 'GET') => evaluatePreconditions(method, fields, v);

  test('no conditional field: proceed', () => assert.equal(ev({}), 'proceed'));
  test('If-None-Match: a (weakly) matching tag or * is 304 for GET/HEAD, 412 otherwise', () => {
    assert.equal(ev({ 'if-none-match': '"abc-disk"' }), 'not-modified');
    assert.equal(ev({ 'if-none-match': 'W/"abc-disk"' }), 'not-modified', 'weak comparison');
    assert.equal(ev({ 'if-none-match': '"x", "abc-disk"' }), 'not-modified');
    assert.equal(ev({ 'if-none-match': '*' }), 'not-modified');
    assert.equal(ev({ 'if-none-match': '"abc-disk"' }, 'HEAD'), 'not-modified');
    assert.equal(ev({ 'if-none-match': '"abc-disk"' }, 'DELETE'), 'precondition-failed');
    assert.equal(ev({ 'if-none-match': '"abc-memory"' }), 'proceed');
    assert.equal(ev({ 'if-none-match': 'garbage' }), 'proceed', 'a malformed list matches nothing');
  });
  test('If-Match: strong comparison, * matches; otherwise 412', () => {
    assert.equal(ev({ 'if-match': '"abc-disk"' }), 'proceed');
    assert.equal(ev({ 'if-match': '"x" , "abc-disk"' }), 'proceed');
    assert.equal(ev({ 'if-match': '*' }), 'proceed');
    assert.equal(ev({ 'if-match': 'W/"abc-disk"' }), 'precondition-failed');
    assert.equal(ev({ 'if-match': '"abc-memory"' }), 'precondition-failed');
    assert.equal(ev({ 'if-match': 'abc-disk' }), 'precondition-failed');
  });
  test('If-Modified-Since (GET/HEAD only, ignored beside If-None-Match or when not a date)', () => {
    assert.equal(ev({ 'if-modified-since': at(0) }), 'not-modified', 'equal to the second');
    assert.equal(ev({ 'if-modified-since': at(10) }), 'not-modified');
    assert.equal(ev({ 'if-modified-since': at(-1) }), 'proceed');
    assert.equal(ev({ 'if-modified-since': 'not a date' }), 'proceed');
    assert.equal(ev({ 'if-modified-since': at(10), 'if-none-match': '"other"' }), 'proceed');
    assert.equal(ev({ 'if-modified-since': at(10) }, 'POST'), 'proceed');
  });
  test('If-Unmodified-Since (ignored beside If-Match or when not a date)', () => {
    assert.equal(ev({ 'if-unmodified-since': at(0) }), 'proceed');
    assert.equal(ev({ 'if-unmodified-since': at(-1) }), 'precondition-failed');
    assert.equal(ev({ 'if-unmodified-since': 'garbage' }), 'proceed');
    assert.equal(ev({ 'if-unmodified-since': at(-1), 'if-match': '"abc-disk"' }), 'proceed');
  });
  test('If-Match is evaluated before If-None-Match', () => {
    assert.equal(ev({ 'if-match': '"other"', 'if-none-match': '"abc-disk"' }), 'precondition-failed');
    assert.equal(ev({ 'if-match': '"abc-disk"', 'if-none-match': '"abc-disk"' }), 'not-modified');
  });
});

describe('HTTP validators', () => {
  test('HTTP-dates in the three forms, UTC; invalid ones are undefined', () => {
    const ms = Date.UTC(1994, 10, 6, 8, 49, 37);
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), ms);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2026, 0, 1)), ms);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), ms);
    assert.equal(parseHttpDate(formatHttpDate(new Date(ms))), ms);
    assert.equal(formatHttpDate(new Date(ms)), 'Sun, 06 Nov 1994 08:49:37 GMT');
    // A two-digit year more than 50 years ahead is in the past century.
    assert.equal(parseHttpDate('Saturday, 01-Jan-77 00:00:00 GMT', Date.UTC(2026, 0, 1)), Date.UTC(1977, 0, 1));
    assert.equal(parseHttpDate('Sunday, 01-Jan-70 00:00:00 GMT', Date.UTC(2026, 0, 1)), Date.UTC(2070, 0, 1), 'within 50 years ahead stays ahead');
    assert.equal(parseHttpDate('Monday, 01-Jan-30 00:00:00 GMT', Date.UTC(2026, 0, 1)), Date.UTC(2030, 0, 1));
    for (const bad of ['', 'Sun, 06 Nov 1994 08:49:37', 'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT',
      '1994-11-06T08:49:37Z', 'Sun, 6 Nov 1994 08:49:37 GMT', '784111777']) {
      assert.equal(parseHttpDate(bad), undefined, bad);
    }
  });

  test('entity tags and lists', () => {
    assert.deepEqual(parseEntityTag(' "a" '), { weak: false, opaque: '"a"' });
    assert.deepEqual(parseEntityTag('W/"a"'), { weak: true, opaque: '"a"' });
    assert.deepEqual(parseEntityTag('""'), { weak: false, opaque: '""' });
    for (const bad of ['a', '"a', 'w/"a"', '"a" "b"', '"a b"', '"a"x']) assert.equal(parseEntityTag(bad), undefined, bad);
    assert.deepEqual(parseEntityTagList('"a", W/"b",,"c,d"'), [
      { weak: false, opaque: '"a"' }, { weak: true, opaque: '"b"' }, { weak: false, opaque: '"c,d"' },
    ], 'a comma inside the quotes belongs to the tag');
    assert.equal(parseEntityTagList(' * '), '*');
    assert.equal(parseEntityTagList('"a" x'), undefined);
    assert.equal(parseEntityTagList(''), undefined);
    const [a, wa] = [{ weak: false, opaque: '"a"' }, { weak: true, opaque: '"a"' }];
    assert.equal(strongMatch(a, a), true);
    assert.equal(strongMatch(a, wa), false);
    assert.equal(weakMatch(a, wa), true);
    assert.equal(weakMatch(a, { weak: false, opaque: '"b"' }), false);
  });
});

describe('multipart/byteranges layout', () => {
  test('heads, tail and the exact length', () => {
    const data = Buffer.from('0123456789abcdefghij');
    const ranges = [r(15, 20), r(0, 3)];
    const layout = multipartByteranges(ranges, data.length, 'B0UND', 'application/octet-stream');
    assert.equal(layout.contentType, 'multipart/byteranges; boundary=B0UND');
    const body = layout.parts.map((p) => p.head + data.subarray(p.range.start, p.range.end).toString()).join('') + layout.tail;
    assert.equal(body, [
      '--B0UND', 'Content-Type: application/octet-stream', 'Content-Range: bytes 15-19/20', '', 'fghij',
      '--B0UND', 'Content-Type: application/octet-stream', 'Content-Range: bytes 0-2/20', '', '012',
      '--B0UND--', '',
    ].join('\r\n'));
    assert.equal(layout.contentLength, Buffer.byteLength(body));
  });

  test('bad boundaries and an empty range list are refused', () => {
    assert.throws(() => multipartByteranges([r(0, 1)], 1, '', 'x'), RangeError);
    assert.throws(() => multipartByteranges([r(0, 1)], 1, 'a b', 'x'), RangeError);
    assert.throws(() => multipartByteranges([r(0, 1)], 1, 'x'.repeat(71), 'x'), RangeError);
    assert.throws(() => multipartByteranges([], 1, 'ok', 'x'), RangeError);
  });
});
