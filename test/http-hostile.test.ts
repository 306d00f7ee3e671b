/**
 * Hostile input for the HTTP export server: (a) the pure parsers — `Range` against a brute-force
 * reading of RFC 9110 §14 (numbers compared exactly, as BigInt), `If-Range`, entity tags and
 * lists, HTTP-dates in their three forms, the preconditions of §13.2.2, and the multipart layout
 * re-parsed from the bytes it describes; (b) raw-socket clients sending garbage request lines,
 * huge headers, 10 000 ranges, overflowing numbers, Range on HEAD and OPTIONS, pipelined mixes
 * and abrupt closes — every answer is a well-formed status line (or the connection closes), and
 * a correct client is served byte for byte afterwards.
 *
 * Seeded: `HEXZ_HOSTILE_SEED=N` reruns a campaign; failures name the seed and case.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect } from 'node:net';
import { Archive } from '../src/node/archive.ts';
import { archiveExports } from '../src/serve/archive-exports.ts';
import { startHttpServer, type HttpExportServer } from '../src/serve/http/http-export-server.ts';
import { contentRange, ifRangeAllows, parseRange, type RangeRequest } from '../src/serve/http/byte-range.ts';
import { formatHttpDate, parseEntityTag, parseEntityTagList, parseHttpDate, toHttpSeconds, type Validators } from '../src/serve/http/http-validators.ts';
import { evaluatePreconditions, type ConditionalFields } from '../src/serve/http/preconditions.ts';
import { multipartByteranges } from '../src/serve/http/multipart-byteranges.ts';
import { assertBytes, mixedData, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const SEED = Number(process.env.HEXZ_HOSTILE_SEED ?? 0x47f9) >>> 0;
const where = (n: number) => `[seed ${SEED}, case ${n}]`;
const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

// ---------------------------------------------------------------------------------------------
// A model of RFC 9110 §14.1.1/§14.2 for Range, written from the RFC with exact (BigInt) numbers.

function modelRange(header: string | undefined, size: number, maxRanges = 100): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const eq = header.indexOf('=');
  if (eq < 0) return { kind: 'none' };
  if (header.slice(0, eq).trim().toLowerCase() !== 'bytes' || !/^[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*$/.test(header.slice(0, eq))) return { kind: 'none' };
  const big = BigInt(size);
  const picked: { start: bigint; end: bigint; first: number }[] = [];
  let specs = 0;
  for (const raw of header.slice(eq + 1).split(',')) {
    const el = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (el === '') continue;
    if (++specs > maxRanges) return { kind: 'none' };
    let m = /^([0-9]+)-([0-9]*)$/.exec(el);
    if (m) {
      const first = BigInt(m[1]);
      const last = m[2] === '' ? undefined : BigInt(m[2]);
      if (last !== undefined && last < first) return { kind: 'none' };
      if (first < big) picked.push({ start: first, end: last === undefined || last + 1n > big ? big : last + 1n, first: picked.length });
      continue;
    }
    m = /^-([0-9]+)$/.exec(el);
    if (!m) return { kind: 'none' };
    const n = BigInt(m[1]);
    if (n > 0n && big > 0n) picked.push({ start: n >= big ? 0n : big - n, end: big, first: picked.length });
  }
  if (specs === 0) return { kind: 'none' };
  if (picked.length === 0) return { kind: 'unsatisfiable' };
  // Coalesce overlapping and touching ranges; each merged range takes its earliest member's place.
  const sorted = [...picked].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const merged: typeof picked = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) {
      if (r.end > last.end) last.end = r.end;
      last.first = Math.min(last.first, r.first);
    } else merged.push({ ...r });
  }
  merged.sort((a, b) => a.first - b.first);
  return { kind: 'satisfiable', ranges: merged.map((r) => ({ start: Number(r.start), end: Number(r.end) })) };
}

function randomNumber(rng: Rng, size: number): string {
  return pick(rng, [
    () => String(rng.int(size + 2)), () => String(size), () => String(size - 1), () => '0', () => '00' + String(rng.int(100)),
    () => '99999999999999999999', () => '9007199254740992', () => '9007199254740993', () => '18446744073709551616', () => String(2 ** 53 - 1),
    () => '1'.repeat(1 + rng.int(400)),
  ])();
}

function randomRangeHeader(rng: Rng, size: number): string {
  const specs: string[] = [];
  for (let k = 0, n = pick(rng, [1, 1, 2, 3, 5, 100, 101, 200]); k < n; k++) {
    const a = randomNumber(rng, size);
    const b = randomNumber(rng, size);
    specs.push(pick(rng, [`${a}-${b}`, `${a}-`, `-${b}`, `${a}-${a}`, '', ' ', `${b}-${a}`, `${a}`, `-`, `--${a}`, `${a}-${b}-`, `+${a}-`, `${a} -${b}`, `\t${a}-${b} `]));
  }
  const unit = pick(rng, ['bytes', 'bytes', 'bytes', 'BYTES', 'Bytes', 'items', '', ' bytes', 'bytes ', 'by tes']);
  return `${unit}${pick(rng, ['=', '=', '= ', ' =', ':', ''])}${specs.join(pick(rng, [',', ',', ', ', ' ,', ',,']))}`;
}

function mutateString(rng: Rng, s: string): string {
  const chars = [...s];
  for (let k = 0, n = 1 + rng.int(3); k < n; k++) {
    const at = rng.int(chars.length + 1);
    switch (rng.int(3)) {
      case 0: chars.splice(at, 1); break;
      case 1: chars.splice(at, 0, pick(rng, ['-', ',', '=', ' ', '\t', '"', 'W/', '0', '9', 'x', '\u00ff', '\u0000'])); break;
      default: if (chars.length) chars[rng.int(chars.length)] = String.fromCharCode(rng.int(256));
    }
  }
  return chars.join('');
}

describe('HTTP parsers under random and mutated input', () => {
  test('parseRange agrees with an exact model of RFC 9110 §14', () => {
    const rng = new Rng(SEED);
    for (let n = 0; n < 20000; n++) {
      const size = pick(rng, [0, 1, 2, 10, 1000, 3 * 2 ** 20 + 12345, 2 ** 53 - 1]);
      let header = randomRangeHeader(rng, size);
      if (rng.int(4) === 0) header = mutateString(rng, header);
      const got = parseRange(header, size);
      assert.deepEqual(got, modelRange(header, size), `parseRange(${JSON.stringify(header.slice(0, 200))}, ${size}) ${where(n)}`);
      if (got.kind === 'satisfiable') {
        for (const r of got.ranges) assert.ok(Number.isSafeInteger(r.start) && r.start >= 0 && r.start < r.end && r.end <= size, `range inside the size ${where(n)}`);
        const sorted = [...got.ranges].sort((a, b) => a.start - b.start);
        for (let k = 1; k < sorted.length; k++) assert.ok(sorted[k].start > sorted[k - 1].end, `ranges disjoint and not touching ${where(n)}`);
        assert.ok(got.ranges.length <= 100);
      }
    }
  });

  test('parseRange on a brute-force byte set for small sizes', () => {
    const rng = new Rng(SEED + 1);
    for (let n = 0; n < 5000; n++) {
      const size = rng.int(12);
      const specs = Array.from({ length: 1 + rng.int(4) }, () => pick(rng, [`${rng.int(14)}-${rng.int(14)}`, `${rng.int(14)}-`, `-${rng.int(14)}`]));
      const header = `bytes=${specs.join(',')}`;
      // Brute force: the set of selected bytes, or invalid when some a-b has b < a.
      const selected = new Set<number>();
      let invalid = false;
      for (const s of specs) {
        const [a, b] = s.split('-');
        if (a === '') for (let i = Math.max(0, size - Number(b)); i < size; i++) { if (Number(b) > 0) selected.add(i); }
        else if (b !== '' && Number(b) < Number(a)) invalid = true;
        else for (let i = Number(a); i <= (b === '' ? size - 1 : Math.min(Number(b), size - 1)); i++) selected.add(i);
      }
      const got = parseRange(header, size);
      if (invalid) assert.equal(got.kind, 'none', `${header} ${where(n)}`);
      else if (selected.size === 0) assert.equal(got.kind, 'unsatisfiable', `${header} size ${size} ${where(n)}`);
      else {
        assert.equal(got.kind, 'satisfiable', `${header} ${where(n)}`);
        const covered = new Set<number>();
        if (got.kind === 'satisfiable') for (const r of got.ranges) for (let i = r.start; i < r.end; i++) covered.add(i);
        assert.deepEqual([...covered].sort((a, b) => a - b), [...selected].sort((a, b) => a - b), `${header} size ${size} ${where(n)}`);
      }
    }
  });

  test('entity tags, tag lists, HTTP-dates and If-Range: a value or undefined, never a throw; valid ones round-trip', () => {
    const rng = new Rng(SEED + 2);
    const etagChars = '!#$%&\'()*+,-./0123456789:;<=>?@ABCZ[\\]^_`abcz{|}~\u0080\u00ff';
    for (let n = 0; n < 5000; n++) {
      const opaque = `"${Array.from({ length: rng.int(20) }, () => etagChars[rng.int(etagChars.length)]).join('')}"`;
      const weak = rng.int(2) === 1;
      const tag = `${weak ? 'W/' : ''}${opaque}`;
      assert.deepEqual(parseEntityTag(` ${tag}\t`), { weak, opaque }, `tag ${tag} ${where(n)}`);
      const list = Array.from({ length: 1 + rng.int(4) }, () => `${rng.int(2) ? 'W/' : ''}"${rng.int(1000)}"`);
      const parsedList = parseEntityTagList(list.join(pick(rng, [',', ', ', ' ,', ',,'])));
      assert.ok(Array.isArray(parsedList) && parsedList.length === list.length, `list ${list} ${where(n)}`);
      for (const s of [mutateString(rng, tag), mutateString(rng, list.join(',')), '"'.repeat(rng.int(50)), 'W/'.repeat(rng.int(50))]) {
        const t = parseEntityTag(s);
        if (t) assert.ok(t.opaque.startsWith('"') && t.opaque.endsWith('"') && t.opaque.length >= 2 && `${t.weak ? 'W/' : ''}${t.opaque}` === s.trim());
        const l = parseEntityTagList(s);
        assert.ok(l === undefined || l === '*' || (Array.isArray(l) && l.length > 0));
      }
      // Dates: the three forms of one random second, and mutations of them.
      const ms = Date.UTC(1970 + rng.int(8000), rng.int(12), 1 + rng.int(28), rng.int(24), rng.int(60), rng.int(60));
      const d = new Date(ms);
      const imf = formatHttpDate(d);
      assert.equal(parseHttpDate(imf), ms, `${imf} ${where(n)}`);
      const mon = imf.slice(8, 11);
      const wday = imf.slice(0, 3);
      const asctime = `${wday} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${imf.slice(17, 25)} ${d.getUTCFullYear()}`;
      assert.equal(parseHttpDate(asctime), ms, `${asctime} ${where(n)}`);
      for (const s of [mutateString(rng, imf), mutateString(rng, asctime), `${imf.slice(0, 12)}${'9'.repeat(rng.int(30))}${imf.slice(16)}`]) {
        const t = parseHttpDate(s);
        if (t !== undefined) assert.ok(Number.isFinite(t) && t % 1000 === 0, `parseHttpDate(${JSON.stringify(s)}) = ${t} ${where(n)}`);
      }
      const validators: Validators = { etag: '"abc-disk"', lastModified: d };
      assert.equal(ifRangeAllows(imf, validators), true);
      assert.equal(ifRangeAllows('"abc-disk"', validators), true);
      assert.equal(ifRangeAllows('W/"abc-disk"', validators), false, 'a weak tag never matches');
      assert.equal(typeof ifRangeAllows(mutateString(rng, pick(rng, [imf, '"abc-disk"'])), validators), 'boolean');
    }
  });

  test('preconditions: any field values give one of the three outcomes, following §13.2.2 on simple cases', () => {
    const rng = new Rng(SEED + 3);
    const lm = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    const v: Validators = { etag: '"cur"', lastModified: lm };
    const dates = [formatHttpDate(lm), formatHttpDate(new Date(lm.getTime() - 1000)), formatHttpDate(new Date(lm.getTime() + 1000)), 'garbage', ''];
    const tags = ['"cur"', 'W/"cur"', '"old"', '*', '"old", "cur"', 'junk', '', ',,,'];
    for (let n = 0; n < 5000; n++) {
      const method = pick(rng, ['GET', 'HEAD', 'POST', 'OPTIONS']);
      const f: ConditionalFields = {};
      if (rng.int(2)) f['if-match'] = rng.int(4) ? pick(rng, tags) : mutateString(rng, pick(rng, tags));
      if (rng.int(2)) f['if-none-match'] = rng.int(4) ? pick(rng, tags) : mutateString(rng, pick(rng, tags));
      if (rng.int(2)) f['if-modified-since'] = rng.int(4) ? pick(rng, dates) : mutateString(rng, pick(rng, dates));
      if (rng.int(2)) f['if-unmodified-since'] = rng.int(4) ? pick(rng, dates) : mutateString(rng, pick(rng, dates));
      const got = evaluatePreconditions(method, f, v);
      assert.ok(['proceed', 'not-modified', 'precondition-failed'].includes(got), where(n));
      if (got === 'not-modified') assert.ok(method === 'GET' || method === 'HEAD', `304 only for GET/HEAD ${where(n)}`);
      // Simple model of the four steps with exactly-known values.
      const list = (s: string) => parseEntityTagList(s);
      const im = f['if-match'] === undefined ? undefined : list(f['if-match']);
      const inm = f['if-none-match'] === undefined ? undefined : list(f['if-none-match']);
      const date = (s?: string) => (s === undefined ? undefined : parseHttpDate(s));
      let want: typeof got = 'proceed';
      if (f['if-match'] !== undefined && !(im === '*' || (Array.isArray(im) && im.some((t) => !t.weak && t.opaque === '"cur"')))) want = 'precondition-failed';
      else if (f['if-match'] === undefined && date(f['if-unmodified-since']) !== undefined && toHttpSeconds(lm) > date(f['if-unmodified-since'])!) want = 'precondition-failed';
      else if (f['if-none-match'] !== undefined && (inm === '*' || (Array.isArray(inm) && inm.some((t) => t.opaque === '"cur"')))) want = method === 'GET' || method === 'HEAD' ? 'not-modified' : 'precondition-failed';
      else if (f['if-none-match'] === undefined && (method === 'GET' || method === 'HEAD') && date(f['if-modified-since']) !== undefined && toHttpSeconds(lm) <= date(f['if-modified-since'])!) want = 'not-modified';
      assert.equal(got, want, `${method} ${JSON.stringify(f)} ${where(n)}`);
    }
  });

  test('multipart layout: the exact Content-Length, and the body re-parses to the ranges', () => {
    const rng = new Rng(SEED + 4);
    for (let n = 0; n < 2000; n++) {
      const size = 1 + rng.int(1 << 20);
      const ranges = Array.from({ length: 1 + rng.int(6) }, () => {
        const start = rng.int(size);
        return { start, end: start + 1 + rng.int(Math.min(50, size - start)) };
      });
      const boundary = `hexz-${rng.next().toString(16)}`;
      const layout = multipartByteranges(ranges, size, boundary, 'application/octet-stream');
      const data = (r: { start: number; end: number }) => 'x'.repeat(r.end - r.start);
      const body = layout.parts.map((p) => p.head + data(p.range)).join('') + layout.tail;
      assert.equal(Buffer.byteLength(body, 'latin1'), layout.contentLength, `Content-Length ${where(n)}`);
      const parts = body.split(`--${boundary}`);
      assert.equal(parts[0], '', 'no preamble');
      assert.equal(parts[parts.length - 1], '--\r\n', 'close delimiter');
      parts.slice(1, -1).forEach((p, k) => {
        const m = /^\r\nContent-Type: application\/octet-stream\r\nContent-Range: bytes (\d+)-(\d+)\/(\d+)\r\n\r\n(x*)\r\n$/.exec(p);
        assert.ok(m, `part ${k} ${JSON.stringify(p.slice(0, 120))} ${where(n)}`);
        assert.deepEqual([Number(m[1]), Number(m[2]) + 1, Number(m[3]), m[4].length], [ranges[k].start, ranges[k].end, size, ranges[k].end - ranges[k].start]);
      });
      assert.equal(contentRange(ranges[0], size), `bytes ${ranges[0].start}-${ranges[0].end - 1}/${size}`);
      const bad = mutateString(rng, boundary);
      if (!/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/.test(bad)) assert.throws(() => multipartByteranges(ranges, size, bad, 'x'), RangeError);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// (b) the server against malformed requests

const BS = 65536;
const SIZE = 20 * BS + 4321;

/** Sends `bytes` on a raw connection; the status lines of what comes back, and whether it closed. */
function rawExchange(port: number, chunks: (string | Buffer)[], o: { abruptAfterMs?: number; waitMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => { clearTimeout(timer); s.destroy(); resolve({ text: Buffer.concat(got).toString('latin1'), closed }); };
    const quiet = () => { clearTimeout(timer); timer = setTimeout(done, o.waitMs ?? 300); };
    s.on('data', (c) => { got.push(c); quiet(); });
    s.on('error', () => {});
    s.on('close', () => { closed = true; done(); });
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      if (o.abruptAfterMs !== undefined) setTimeout(() => { s.destroy(); done(); }, o.abruptAfterMs);
      else quiet();
    });
  });
}

/** Every response in `text` starts with a well-formed status line; returns the statuses. */
function statuses(text: string, what: string): number[] {
  const out: number[] = [];
  // Unanchored: a response follows the previous body directly (which may not end in CRLF).
  const re = /HTTP\/1\.[01] (\d{3}) [^\r\n]*\r\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(Number(m[1]));
  if (text.length > 0) assert.match(text, /^HTTP\/1\.[01] \d{3} /, `${what}: the answer starts with a status line: ${JSON.stringify(text.slice(0, 80))}`);
  for (const s of out) assert.ok(s >= 200 && s < 600, `${what}: status ${s}`);
  return out;
}

function fetchAll(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), headers: res.headers }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('HTTP server against malformed requests', { timeout: 120_000 }, () => {
  const tmp = tempDir('hexz-http-hostile-');
  const raw = mixedData(SIZE, { unit: BS, seed: 51 });
  let archive: Archive;
  let server: HttpExportServer;
  const log: string[] = [];

  before(async () => {
    await packSmall({ disk: writeData(tmp.path('d.raw'), raw), output: tmp.path('a.hxz'), blockSize: BS });
    archive = await Archive.open(tmp.path('a.hxz'));
    server = await startHttpServer({ exports: archiveExports([{ name: 'a', archive }]), chunkSize: 100_000, log: (l) => log.push(l) });
  });
  after(async () => {
    await server?.close();
    await archive?.close();
    tmp.cleanup();
  });

  test('fixed hostile requests get sane answers', async () => {
    const port = server.port;
    const many = (n: number) => Array.from({ length: n }, (_, k) => `${2 * k}-${2 * k}`).join(',');
    // `orClose`: Node answers a parse error after a response on the connection by closing it, or
    // with 400 when nothing was sent yet: either is fine.
    const cases: { what: string; send: (string | Buffer)[]; want?: number[]; orClose?: number[] }[] = [
      { what: 'garbage request line', send: ['\x00\x01\x02 garbage\r\n\r\n'], want: [400] },
      { what: 'no version', send: ['GET /disk\r\n\r\n'] },
      { what: 'huge header', send: [`GET /disk HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 << 10)}\r\n\r\n`], want: [431] },
      { what: '10 000 ranges (too long a field)', send: [`GET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=${many(10000)}\r\n\r\n`], want: [431] },
      { what: '1500 ranges (past maxRanges, ignored)', send: [`HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=${many(1500).slice(0, 15000).replace(/,[^,]*$/, '')}\r\n\r\n`], want: [200] },
      { what: 'overflowing start', send: ['GET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999999999999999-\r\n\r\n'], want: [416] },
      { what: 'overflowing end', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99999999999999999999\r\n\r\n'], want: [206] },
      { what: 'negative', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=-5-10\r\n\r\n'], want: [200] },
      { what: 'last < first past 2^53', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=9007199254740993-9007199254740992\r\n\r\n'], want: [200] },
      { what: 'suffix past 2^64', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=-18446744073709551617\r\n\r\n'], want: [206] },
      { what: 'Range on OPTIONS', send: ['OPTIONS /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n'], want: [204] },
      { what: 'Range on HEAD, several', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0,5-9,3-3\r\n\r\n'], want: [206] },
      { what: 'two Range fields', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nRange: bytes=5-9\r\n\r\n'] },
      { what: 'bad percent-encoding', send: ['GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n'], want: [400] },
      { what: 'absolute-form garbage', send: ['GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n'] },
      { what: 'unknown method', send: ['BREW /disk HTTP/1.1\r\nHost: x\r\n\r\n'] },
      { what: 'lying Content-Length on GET', send: ['GET /disk HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc'] },
      { what: 'chunked body garbage', send: ['POST /disk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'] },
      { what: 'If-Range garbage', send: [`HEAD /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nIf-Range: ${'W/'.repeat(3000)}\r\n\r\n`], want: [200] },
      { what: 'If-None-Match of many tags', send: [`HEAD /disk HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${Array.from({ length: 1500 }, (_, k) => `"${k}"`).join(',')}\r\n\r\n`], want: [200] },
      { what: 'pipelined mix', send: ['GET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nGET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=-3,0-0\r\n\r\n'], want: [206, 200, 404, 204, 206] },
      { what: 'pipelined then garbage', send: ['HEAD /disk HTTP/1.1\r\nHost: x\r\n\r\n\x7f\x7f\x7f\r\n\r\n'], want: [200], orClose: [200, 400] },
    ];
    const results = await Promise.all(cases.map((c) => rawExchange(port, c.send)));
    for (const [k, c] of cases.entries()) {
      const r = results[k];
      const got = statuses(r.text, c.what);
      if (c.orClose && String(got) === String(c.orClose)) continue;
      if (c.want) assert.deepEqual(got, c.want, `${c.what}: ${JSON.stringify(r.text.slice(0, 200))}`);
      if (c.orClose) assert.ok(r.closed, `${c.what}: closed after the garbage`);
      else assert.ok(got.length > 0 || r.closed, `${c.what}: neither an answer nor a close`);
    }
  });

  test(`200 random malformed and abruptly closed requests (seed ${SEED}), then a correct client`, async () => {
    const port = server.port;
    const rng = new Rng(SEED + 10);
    const rss0 = process.memoryUsage().rss;
    const work = Array.from({ length: 200 }, (_, n) => async () => {
      const method = pick(rng, ['GET', 'HEAD', 'OPTIONS', 'POST', 'GET', 'GET']);
      const path = pick(rng, ['/disk', '/disk', '/', '/nope', '/disk?x=1', '*', '/%2e%2e/disk']);
      const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
      if (rng.int(3)) lines.push(`Range: ${rng.int(4) ? randomRangeHeader(rng, SIZE) : mutateString(rng, randomRangeHeader(rng, SIZE))}`.slice(0, 8000));
      if (rng.int(4) === 0) lines.push(`If-Range: ${pick(rng, ['"x"', 'garbage', formatHttpDate(new Date(0)), mutateString(rng, '"abc"')])}`);
      if (rng.int(4) === 0) lines.push(`If-None-Match: ${mutateString(rng, '"a", W/"b"')}`);
      let req = `${lines.join('\r\n')}\r\n\r\n`;
      if (rng.int(5) === 0) req = mutateString(rng, req);
      const pipelined = rng.int(4) === 0 ? req + req : req;
      const abrupt = rng.int(4) === 0 ? rng.int(20) : undefined;
      const cut = rng.int(6) === 0 ? rng.int(pipelined.length) : pipelined.length;
      const r = await rawExchange(port, [Buffer.from(pipelined.slice(0, cut), 'latin1')], { abruptAfterMs: abrupt, waitMs: 150 });
      statuses(r.text, `case ${n}: ${JSON.stringify(req.slice(0, 120))} ${where(n)}`);
    });
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => { while (next < work.length) await work[next++](); }));
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MiB`);
    assert.deepEqual(log.filter((l) => /internal error/.test(l)), [], 'no request reached the internal-error path');

    // A correct client: the whole export, a range and a multipart answer, byte for byte.
    const whole = await fetchAll(port, '/disk');
    assert.equal(whole.status, 200);
    assertBytes(whole.body, raw, 'GET /disk after the campaign');
    const part = await fetchAll(port, '/disk', { Range: 'bytes=70000-140000' });
    assert.equal(part.status, 206);
    assertBytes(part.body, raw.subarray(70000, 140001), 'ranged GET');
    const multi = await fetchAll(port, '/disk', { Range: 'bytes=0-9,-5' });
    assert.equal(multi.status, 206);
    assert.match(String(multi.headers['content-type']), /^multipart\/byteranges; boundary=/);
    assert.equal(Number(multi.headers['content-length']), multi.body.length);
  });
});
