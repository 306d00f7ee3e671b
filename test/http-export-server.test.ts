/**
 * The HTTP server of `hexz serve`, judged by real clients: curl for every Range form (bodies
 * checked byte for byte against the source, statuses and headers checked), HEAD, If-Range and
 * the other conditionals, multipart/byteranges, CORS preflight, the JSON listing, 404/405;
 * qemu's curl block driver (`qemu-img convert`, `qemu-io read -P`); several archives; and bad
 * clients — one that disconnects mid-body, one that stops reading a 10 GiB range, garbage,
 * HTTP/1.0, pipelining, keep-alive — and a corrupt block, which must cut the body short or
 * become an error status, never send wrong bytes.
 *
 * Every client program runs asynchronously (the server shares this process). Missing curl or
 * qemu skip their tests with a message, except with CI=true, where that is a failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Archive, CorruptArchiveError, StoreError, type IndexEntry } from '../src/index.ts';
import { EntryKind } from '../src/format/constants.ts';
import { archiveExports } from '../src/serve/archive-exports.ts';
import { startRunDecoderPool } from '../src/node/run-decoder-pool.ts';
import type { ServeExport } from '../src/serve/serve-export.ts';
import { startHttpServer, type HttpExportServer } from '../src/serve/http/http-export-server.ts';
import { assertBytes, mixedData, packSmall, tempDir, writeData } from './helpers.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const BS = 64 * KiB;
const CI = process.env.CI === 'true';

const hasCurl = spawnSync('curl', ['--version']).status === 0;
const hasQemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-io', ['--version']).status === 0;
if (!hasCurl && !CI) console.log('# curl not installed (Debian package curl): curl tests skipped');
if (!hasQemu && !CI) console.log('# qemu-img/qemu-io not installed (Debian package qemu-utils): qemu tests skipped');
const curlSkip = hasCurl || CI ? false : 'curl not installed';
const qemuSkip = hasQemu || CI ? false : 'qemu-utils not installed';

const tmp = tempDir('hexz-http-');
after(() => tmp.cleanup());

// 3 MiB + a partial block: random, text, zero, duplicate and half-zero blocks, one block of 7s.
const DISK_SIZE = 3 * MiB + 12345;
const disk = mixedData(DISK_SIZE, { unit: BS, seed: 21 });
const SEVENS = 16 * BS; // 1 MiB
disk.fill(7, SEVENS, SEVENS + BS);
const ZEROS = 2 * BS; // mixedData's third unit is all zeros
const memory = mixedData(512 * KiB + 7, { unit: BS, seed: 22 });
const other = mixedData(300 * KiB, { unit: BS, seed: 23 });
/** Small chunks so a few-MiB body takes many reads, aligned and not. */
const CHUNK = 256 * KiB;

// ---------------------------------------------------------------------------------------------
// Clients

interface Run { code: number | string | null; stdout: Buffer; stderr: string }

/** Runs a program without blocking the event loop (the server is in this process). */
function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 256 * MiB, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as NodeJS.ErrnoException).code ?? null) : 0, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

interface CurlResult { exit: number | string | null; status: number; headers: Map<string, string>; body: Buffer; stderr: string }

let seq = 0;
/** curl `url` with `args`; the last response head (status, lower-case header names) and body. */
async function curl(url: string, ...args: string[]): Promise<CurlResult> {
  const headerFile = tmp.path(`head-${seq++}.txt`);
  const r = await run('curl', ['-sS', '-D', headerFile, '-o', '-', ...args, url]);
  let head = '';
  try {
    head = readFileSync(headerFile, 'latin1');
  } catch { /* no response at all */ }
  const blocks = head.split('\r\n\r\n').filter((b) => b.length > 0);
  const [statusLine = '', ...lines] = (blocks[blocks.length - 1] ?? '').split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { exit: r.code, status: Number(statusLine.split(' ')[1]), headers, body: r.stdout, stderr: r.stderr };
}

/** Sends `data` on a new connection; resolves with everything received until the server closes it (or `timeoutMs`). */
function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (d) => parts.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    socket.write(data);
  });
}

/** Splits HTTP/1.1 responses received back to back (Content-Length framed, `head` says which answer HEAD). */
function splitResponses(bytes: Buffer, heads: boolean[]): { status: number; headers: Map<string, string>; body: Buffer }[] {
  const out = [];
  let at = 0;
  for (const isHead of heads) {
    const end = bytes.indexOf('\r\n\r\n', at);
    assert.ok(end >= 0, `response ${out.length + 1} is missing`);
    const [statusLine, ...lines] = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = isHead ? 0 : Number(headers.get('content-length') ?? 0);
    out.push({ status: Number(statusLine.split(' ')[1]), headers, body: bytes.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  assert.equal(at, bytes.length, 'bytes after the last expected response');
  return out;
}

/** Parses a multipart/byteranges body into its parts' Content-Range and bytes. */
function parseMultipart(body: Buffer, contentType: string): { range: string; type: string; data: Buffer }[] {
  const m = /^multipart\/byteranges; boundary=(.+)$/.exec(contentType);
  assert.ok(m, `Content-Type ${contentType}`);
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: { range: string; type: string; data: Buffer }[] = [];
  let at: number = body.indexOf(delimiter);
  assert.equal(at, 0, 'the body starts with the first delimiter');
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 4).toString() === '--\r\n') {
      assert.equal(at + 4, body.length, 'nothing after the close delimiter');
      break;
    }
    const headEnd: number = body.indexOf('\r\n\r\n', at);
    const fields = new Map(body.subarray(at + 2, headEnd).toString('latin1').split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const range = fields.get('content-range')!;
    const [, first, last] = /^bytes (\d+)-(\d+)\/\d+$/.exec(range)!;
    const dataStart: number = headEnd + 4;
    const dataEnd: number = dataStart + Number(last) - Number(first) + 1;
    parts.push({ range, type: fields.get('content-type')!, data: body.subarray(dataStart, dataEnd) });
    assert.equal(body.subarray(dataEnd, dataEnd + 2).toString(), '\r\n', 'CRLF before the next delimiter');
    at = dataEnd + 2;
    assert.equal(body.indexOf(delimiter, at), at, 'a delimiter follows each part');
  }
  return parts;
}

/** GET with node:http (a keep-alive agent when given), body collected. */
function get(url: string, headers: Record<string, string> = {}, agent?: Agent): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ res, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until reads have started and then made no progress for 200 ms (at most 5 s). */
async function settled(probe: Probe): Promise<void> {
  const deadline = Date.now() + 5000;
  let last = -1;
  while (Date.now() < deadline) {
    if (probe.reads > 0 && probe.bytes === last && probe.inFlight === 0) return;
    last = probe.bytes;
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic exports (no archive): large, patterned, instrumented.

/** Byte at offset o is o mod 251: any window can be checked without a copy of the source. */
const PATTERN = Uint8Array.from({ length: 8 * MiB + 251 }, (_, i) => i % 251);
function patternAt(offset: number, length: number): Uint8Array {
  return PATTERN.subarray(offset % 251, (offset % 251) + length);
}

interface Probe { reads: number; bytes: number; inFlight: number; lastSignal?: AbortSignal }

/** A patterned export of `size` bytes that counts its reads. */
function patternExport(name: string, size: number, probe: Probe, fail?: (offset: number) => Error | undefined): ServeExport {
  return {
    name, description: `pattern ${name}`, size, blockSize: BS, archiveId: '00'.repeat(16), etag: `"pattern-${name}"`, modified: new Date(Date.UTC(2026, 0, 1)),
    async read(offset, length, signal) {
      probe.reads++;
      probe.inFlight++;
      probe.lastSignal = signal;
      try {
        await new Promise((r) => setImmediate(r));
        const err = fail?.(offset);
        if (err) throw err;
        probe.bytes += length;
        return patternAt(offset, length);
      } finally {
        probe.inFlight--;
      }
    },
    async extents(offset, length) {
      return [{ offset, length, zero: false }];
    },
  };
}

function checkPattern(data: Uint8Array, offset: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== (offset + i) % 251) assert.fail(`${what}: byte ${offset + i} is ${data[i]}, expected ${(offset + i) % 251}`);
  }
}

// ---------------------------------------------------------------------------------------------

let archive: Archive;
let exportsA: ServeExport[];

before(async () => {
  await packSmall({ disk: writeData(tmp.path('disk.raw'), disk), memory: writeData(tmp.path('memory.raw'), memory), output: tmp.path('a.hxz'), blockSize: BS });
  await packSmall({ disk: writeData(tmp.path('other.raw'), other), output: tmp.path('b.hxz'), blockSize: BS });
  archive = await Archive.open(tmp.path('a.hxz'));
  exportsA = archiveExports([{ name: 'a', archive }]);
});
after(async () => {
  await archive?.close();
});

describe('one archive over HTTP, read with curl', { skip: curlSkip }, () => {
  let server: HttpExportServer;
  let url: string;
  const logs: string[] = [];

  before(async () => {
    server = await startHttpServer({ exports: exportsA, host: '127.0.0.1', port: 0, chunkSize: CHUNK, log: (l) => logs.push(l) });
    url = `http://127.0.0.1:${server.port}/disk`;
  });
  after(async () => {
    await server?.close();
    assert.deepEqual(logs, [], 'nothing went wrong on the server');
  });

  const diskExport = () => exportsA.find((e) => e.name === 'disk')!;
  /** The fields every answer of the disk export carries. */
  const checkValidators = (r: CurlResult) => {
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    assert.equal(r.headers.get('etag'), diskExport().etag);
    assert.match(r.headers.get('etag')!, /^"[0-9a-f]{32}-disk"$/, 'a strong ETag');
    assert.equal(r.headers.get('last-modified'), diskExport().modified.toUTCString());
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
  };

  test('urls() and the port', () => {
    assert.ok(server.port > 0);
    assert.deepEqual(server.urls(), [`http://127.0.0.1:${server.port}/disk`, `http://127.0.0.1:${server.port}/memory`]);
  });

  test('GET without Range: 200 and the whole stream', async () => {
    const r = await curl(url);
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.status, 200);
    checkValidators(r);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    assert.equal(r.headers.get('content-length'), String(DISK_SIZE));
    assert.equal(r.headers.has('content-range'), false);
    assertBytes(r.body, disk, 'disk');
    const m = await curl(`http://127.0.0.1:${server.port}/memory`);
    assertBytes(m.body, memory, 'memory');
  });

  test('every Range form: 206, Content-Range, Content-Length and the bytes', async () => {
    const size = DISK_SIZE;
    const cases: [string, number, number][] = [ // header, first byte, end (exclusive)
      ['bytes=0-0', 0, 1],
      ['bytes=0-99', 0, 100],
      ['bytes=100-199', 100, 200],
      [`bytes=${CHUNK - 10}-${CHUNK + 9}`, CHUNK - 10, CHUNK + 10], // across a chunk boundary
      [`bytes=${ZEROS}-${ZEROS + BS - 1}`, ZEROS, ZEROS + BS], // a zero block
      [`bytes=${SEVENS - 1}-${SEVENS + BS}`, SEVENS - 1, SEVENS + BS + 1],
      ['bytes=12345-2999999', 12345, 3000000], // many chunks, unaligned both ends
      [`bytes=${size - 1}-${size - 1}`, size - 1, size],
      [`bytes=${size - 100}-`, size - 100, size],
      ['bytes=777-', 777, size],
      ['bytes=0-', 0, size],
      ['bytes=-1', size - 1, size],
      ['bytes=-70000', size - 70000, size],
      [`bytes=-${size}`, 0, size],
      [`bytes=-${size * 10}`, 0, size], // suffix longer than the stream: all of it
      [`bytes=${size - 5}-${size * 10}`, size - 5, size], // last-pos past the end: clipped
      ['bytes=5-99999999999999999999', 5, size],
    ];
    for (const [range, start, end] of cases) {
      const r = await curl(url, '-H', `Range: ${range}`);
      assert.equal(r.exit, 0, `${range}: ${r.stderr}`);
      assert.equal(r.status, 206, range);
      checkValidators(r);
      assert.equal(r.headers.get('content-type'), 'application/octet-stream', range);
      assert.equal(r.headers.get('content-range'), `bytes ${start}-${end - 1}/${size}`, range);
      assert.equal(r.headers.get('content-length'), String(end - start), range);
      assertBytes(r.body, disk.subarray(start, end), range);
    }
    // curl's own -r option sends the same forms.
    const r = await curl(url, '-r', '-10');
    assertBytes(r.body, disk.subarray(DISK_SIZE - 10), 'curl -r -10');
  });

  test('unsatisfiable ranges: 416 with Content-Range bytes */size', async () => {
    for (const range of [`bytes=${DISK_SIZE}-`, `bytes=${DISK_SIZE}-${DISK_SIZE + 10}`, 'bytes=-0', `bytes=${DISK_SIZE + 1}-,-0`]) {
      const r = await curl(url, '-H', `Range: ${range}`);
      assert.equal(r.status, 416, range);
      assert.equal(r.headers.get('content-range'), `bytes */${DISK_SIZE}`, range);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.equal(Number(r.headers.get('content-length')), r.body.length);
    }
  });

  test('malformed or foreign Range fields are ignored: 200 and the whole stream', async () => {
    for (const range of ['bytes=5-2', 'bytes=abc', 'items=0-9', 'bytes=0-1,5-2', 'bytes']) {
      const r = await curl(url, '-H', `Range: ${range}`);
      assert.equal(r.status, 200, range);
      assert.equal(r.headers.get('content-length'), String(DISK_SIZE), range);
      assertBytes(r.body, disk, range);
    }
  });

  test('HEAD: the head GET would send, no body', async () => {
    const r = await curl(url, '-I');
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.status, 200);
    checkValidators(r);
    assert.equal(r.headers.get('content-length'), String(DISK_SIZE));
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const ranged = await curl(url, '-I', '-H', 'Range: bytes=10-19');
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 10-19/${DISK_SIZE}`);
    assert.equal(ranged.headers.get('content-length'), '10');
  });

  test('If-Range: a matching ETag or date gives the range, a mismatch the whole stream', async () => {
    const etag = diskExport().etag;
    const date = diskExport().modified.toUTCString();
    for (const ifRange of [etag, date]) {
      const r = await curl(url, '-H', 'Range: bytes=100-199', '-H', `If-Range: ${ifRange}`);
      assert.equal(r.status, 206, ifRange);
      assertBytes(r.body, disk.subarray(100, 200), ifRange);
    }
    const earlier = new Date(diskExport().modified.getTime() - 60_000).toUTCString();
    for (const ifRange of ['"0000-disk"', `W/${etag}`, earlier, 'garbage']) {
      const r = await curl(url, '-H', 'Range: bytes=100-199', '-H', `If-Range: ${ifRange}`);
      assert.equal(r.status, 200, ifRange);
      assert.equal(r.headers.has('content-range'), false);
      assertBytes(r.body, disk, ifRange);
    }
  });

  test('If-None-Match and If-Modified-Since give 304; If-Match and If-Unmodified-Since 412', async () => {
    const etag = diskExport().etag;
    for (const args of [['-H', `If-None-Match: ${etag}`], ['-H', 'If-None-Match: "x", ' + etag], ['-H', 'If-None-Match: *'],
      ['-H', `If-Modified-Since: ${diskExport().modified.toUTCString()}`]]) {
      const r = await curl(url, ...args);
      assert.equal(r.status, 304, args.join(' '));
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.get('etag'), etag);
    }
    const fresh = await curl(url, '-H', 'If-None-Match: "other"', '-H', 'Range: bytes=0-9');
    assert.equal(fresh.status, 206);
    const matched = await curl(url, '-H', `If-Match: ${etag}`, '-H', 'Range: bytes=0-9');
    assert.equal(matched.status, 206);
    assertBytes(matched.body, disk.subarray(0, 10));
    for (const args of [['-H', 'If-Match: "other"'], ['-H', `If-Unmodified-Since: ${new Date(0).toUTCString()}`]]) {
      const r = await curl(url, ...args);
      assert.equal(r.status, 412, args.join(' '));
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    }
  });

  test('several ranges: one multipart/byteranges 206 with an exact Content-Length, in the client order', async () => {
    const r = await curl(url, '-H', `Range: bytes=${SEVENS}-${SEVENS + 99},0-9,-50,${CHUNK - 5}-${CHUNK + 4}`);
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.status, 206);
    checkValidators(r);
    assert.equal(r.headers.has('content-range'), false, 'no Content-Range on the whole multipart answer');
    assert.equal(r.headers.get('content-length'), String(r.body.length));
    const parts = parseMultipart(r.body, r.headers.get('content-type')!);
    const expected = [[SEVENS, SEVENS + 100], [0, 10], [DISK_SIZE - 50, DISK_SIZE], [CHUNK - 5, CHUNK + 5]];
    assert.deepEqual(parts.map((p) => p.range), expected.map(([s, e]) => `bytes ${s}-${e - 1}/${DISK_SIZE}`));
    parts.forEach((p, i) => {
      assert.equal(p.type, 'application/octet-stream');
      assertBytes(p.data, disk.subarray(expected[i][0], expected[i][1]), p.range);
    });
    // Overlapping ranges are merged: one range left is a plain 206.
    const merged = await curl(url, '-H', 'Range: bytes=0-99,50-149');
    assert.equal(merged.status, 206);
    assert.equal(merged.headers.get('content-range'), `bytes 0-149/${DISK_SIZE}`);
    assertBytes(merged.body, disk.subarray(0, 150));
    // HEAD announces the same length.
    const head = await curl(url, '-I', '-H', 'Range: bytes=0-9,20-29');
    assert.match(head.headers.get('content-type')!, /^multipart\/byteranges; boundary=/);
    const body = await curl(url, '-H', 'Range: bytes=0-9,20-29');
    assert.equal(head.headers.get('content-length'), String(body.body.length));
  });

  test('CORS: preflight answered 204; every answer readable from another origin', async () => {
    const r = await curl(url, '-X', 'OPTIONS', '-H', 'Origin: http://x', '-H', 'Access-Control-Request-Method: GET', '-H', 'Access-Control-Request-Headers: range');
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS');
    const allowed = r.headers.get('access-control-allow-headers')!.split(',').map((h) => h.trim().toLowerCase());
    for (const h of ['range', 'if-range', 'if-match', 'if-none-match']) assert.ok(allowed.includes(h), `${h} allowed: ${allowed}`);
    assert.ok(Number(r.headers.get('access-control-max-age')) > 0);
    assert.equal(r.body.length, 0);
    // Requested headers are echoed (a read-only server ignores what it does not know).
    const custom = await curl(url, '-X', 'OPTIONS', '-H', 'Origin: http://x', '-H', 'Access-Control-Request-Method: GET', '-H', 'Access-Control-Request-Headers: range, x-trace-id');
    assert.ok(custom.headers.get('access-control-allow-headers')!.toLowerCase().split(', ').includes('x-trace-id'));
    // Even for a path that does not exist, so a page sees the real 404 after the preflight.
    const unknown = await curl(`http://127.0.0.1:${server.port}/nope`, '-X', 'OPTIONS', '-H', 'Origin: http://x', '-H', 'Access-Control-Request-Method: GET');
    assert.equal(unknown.status, 204);
    const got = await curl(url, '-H', 'Origin: http://x', '-H', 'Range: bytes=0-3');
    assert.equal(got.headers.get('access-control-allow-origin'), '*');
    const exposed = got.headers.get('access-control-expose-headers')!.split(',').map((h) => h.trim());
    assert.deepEqual(exposed, ['Content-Range', 'Content-Length', 'ETag', 'Accept-Ranges', 'Last-Modified']);
  });

  test('GET / lists the exports as JSON', async () => {
    const r = await curl(`http://127.0.0.1:${server.port}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^application\/json/);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const list = JSON.parse(r.body.toString('utf8'));
    const id = exportsA[0].archiveId;
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.deepEqual(list, [
      { name: 'disk', size: DISK_SIZE, archiveId: id, url: `http://127.0.0.1:${server.port}/disk` },
      { name: 'memory', size: memory.length, archiveId: id, url: `http://127.0.0.1:${server.port}/memory` },
    ]);
    const head = await curl(`http://127.0.0.1:${server.port}/`, '-I');
    assert.equal(head.headers.get('content-length'), String(r.body.length));
  });

  test('unknown paths 404, other methods 405 with Allow, bad targets 400', async () => {
    for (const path of ['/nope', '/disk/', '/Disk', '/disk/x', '//disk', '/a/disk']) {
      const r = await curl(`http://127.0.0.1:${server.port}${path}`);
      assert.equal(r.status, 404, path);
      assert.match(r.headers.get('content-type')!, /^text\/plain/);
      assert.ok(r.body.length > 0 && r.body.length < 200, 'a short text body');
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/disk', '/']) {
        const r = await curl(`http://127.0.0.1:${server.port}${path}`, '-X', method);
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
      }
    }
    const bad = await curl(`http://127.0.0.1:${server.port}/%E0%A4%A`);
    assert.equal(bad.status, 400);
    // A query string is ignored; percent-encoding is decoded.
    const q = await curl(`http://127.0.0.1:${server.port}/d%69sk?x=1`, '-H', 'Range: bytes=0-9');
    assert.equal(q.status, 206);
    assertBytes(q.body, disk.subarray(0, 10));
  });

  test('keep-alive: many requests on one connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const sockets = new Set<Socket>();
      for (let i = 0; i < 60; i++) {
        const start = (i * 48_271) % (DISK_SIZE - 5000);
        const { res, body } = await get(url, { Range: `bytes=${start}-${start + (i % 7) * 700}` }, agent);
        assert.equal(res.statusCode, 206);
        sockets.add(res.socket);
        assertBytes(body, disk.subarray(start, start + (i % 7) * 700 + 1), `request ${i}`);
      }
      assert.equal(sockets.size, 1, 'one connection served them all');
    } finally {
      agent.destroy();
    }
  });

  test('pipelined requests (HEAD among them) are answered in order on one connection; HTTP/1.0 too', async () => {
    const bytes = await rawExchange(server.port, [
      'GET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n',
      'HEAD /disk HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /memory HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n',
      'GET /disk HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19,30-39\r\nConnection: close\r\n\r\n',
    ].join(''));
    const [a, h, m, multi] = splitResponses(bytes, [false, true, false, false]);
    assert.equal(a.status, 206);
    assertBytes(a.body, disk.subarray(0, 10));
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('content-length'), String(DISK_SIZE));
    assert.equal(m.status, 206);
    assertBytes(m.body, memory.subarray(memory.length - 5));
    assert.deepEqual(parseMultipart(multi.body, multi.headers.get('content-type')!).map((p) => p.data), [disk.subarray(10, 20), disk.subarray(30, 40)].map((d) => Buffer.from(d)));

    const old = await rawExchange(server.port, 'GET /disk HTTP/1.0\r\nRange: bytes=5-14\r\n\r\n');
    const [r10] = splitResponses(old, [false]);
    assert.equal(r10.status, 206);
    assertBytes(r10.body, disk.subarray(5, 15));
  });

  test('garbage and truncated requests get 400 or a closed connection; the server stays up', async () => {
    const garbage = await rawExchange(server.port, 'GARBAGE\r\n\r\n');
    assert.match(garbage.toString('latin1'), /^HTTP\/1\.1 400 /);
    const binary = await rawExchange(server.port, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256)));
    assert.match(binary.toString('latin1'), /^(HTTP\/1\.1 400 |$)/);
    const badVersion = await rawExchange(server.port, 'GET /disk HTTP/9.9\r\n\r\n');
    assert.match(badVersion.toString('latin1'), /^(HTTP\/1\.1 (400|505) |$)/);
    await new Promise<void>((resolve) => {
      const s = connect(server.port, '127.0.0.1', () => {
        s.write('GET /disk HTTP/1.1\r\nHost: x\r\nRan');
        setTimeout(() => s.destroy(), 20);
      });
      s.on('close', () => resolve());
    });
    const r = await curl(url, '-r', '0-9');
    assert.equal(r.status, 206);
    assertBytes(r.body, disk.subarray(0, 10));
  });

  test('a client that disconnects mid-body does not disturb the next one', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(url, (res) => {
        let got = 0;
        res.on('data', (d: Buffer) => {
          got += d.length;
          if (got > 100 * KiB) req.destroy();
        });
        res.on('error', () => {});
        res.on('close', () => resolve());
      });
      req.on('error', () => {}); // our own destroy
      req.on('close', () => resolve());
      req.end();
      setTimeout(() => reject(new Error('no progress')), 10_000).unref();
    });
    const r = await curl(url);
    assert.equal(r.status, 200);
    assertBytes(r.body, disk, 'after a disconnect');
  });
});

describe('pooled reads in recycled memory', () => {
  test('a body the client reads late keeps its bytes: memory goes back only once a chunk is written', async () => {
    // 24 MiB of varied blocks read in 1 MiB chunks decoded on a worker pool into memory the
    // export lends: while the client reads nothing, the kernel's buffers fill and a chunk waits
    // in the response; were its memory given back before it was written, the next chunk's read
    // would overwrite it.
    const big = mixedData(24 * MiB, { unit: BS, seed: 31 });
    await packSmall({ disk: writeData(tmp.path('big.raw'), big), output: tmp.path('big.hxz'), blockSize: BS });
    const a = await Archive.open(tmp.path('big.hxz'));
    const pool = startRunDecoderPool(a, 2);
    const s = await startHttpServer({ exports: archiveExports([{ name: 'big', archive: a, decoder: pool }]), host: '127.0.0.1', port: 0, chunkSize: MiB });
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = request(`http://127.0.0.1:${s.port}/disk`, (res) => {
          res.pause();
          const parts: Buffer[] = [];
          setTimeout(() => {
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve(Buffer.concat(parts)));
            res.resume();
          }, 400);
        });
        req.on('error', reject);
        req.end();
      });
      assertBytes(body, big, 'body read late');
    } finally {
      await s.close();
      await pool.close();
      await a.close();
    }
  });
});

describe('qemu reads the HTTP export with its curl block driver', { skip: qemuSkip || curlSkip }, () => {
  let server: HttpExportServer;
  let url: string;
  /** The size qemu sees: DISK_SIZE rounded up to 512-byte sectors. */
  const SECTORS = Math.ceil(DISK_SIZE / 512) * 512;
  before(async () => {
    server = await startHttpServer({ exports: exportsA, chunkSize: CHUNK });
    url = `http://127.0.0.1:${server.port}/disk`;
  });
  after(async () => {
    await server?.close();
  });

  /** Skips (fails with CI=true) when this qemu has no curl block driver (Debian: qemu-block-extra). */
  async function requireCurlDriver(t: { skip: (why: string) => void }): Promise<boolean> {
    const r = await run('qemu-img', ['info', '-f', 'raw', url]);
    if (r.code !== 0 && /Unknown protocol|Unknown driver|not whitelisted/i.test(r.stderr)) {
      if (CI) assert.fail(`qemu has no curl block driver (install qemu-block-extra): ${r.stderr}`);
      t.skip('qemu has no curl block driver (Debian package qemu-block-extra)');
      return false;
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), new RegExp(`virtual size: .*\\(${SECTORS} bytes\\)`), 'qemu rounds the size up to 512-byte sectors');
    return true;
  }

  test('qemu-img convert of the export equals the source', async (t) => {
    if (!(await requireCurlDriver(t))) return;
    const out = tmp.path('qemu-copy.raw');
    const r = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url, out]);
    assert.equal(r.code, 0, r.stderr);
    // qemu sees whole sectors: the tail sector's read past the end gets the bytes that exist
    // (the range is clipped) and qemu pads them with zeros.
    const copy = readFileSync(out);
    assert.equal(copy.length, SECTORS);
    assertBytes(copy.subarray(0, DISK_SIZE), disk, 'qemu-img convert');
    assert.ok(copy.subarray(DISK_SIZE).every((b) => b === 0), 'zero padding');
  });

  test('qemu-io reads and verifies patterns', async (t) => {
    if (!(await requireCurlDriver(t))) return;
    const ok = await run('qemu-io', ['-r', '-f', 'raw', url, '-c', `read -P 7 ${SEVENS} 64k`, '-c', `read -P 0 ${ZEROS} 4k`, '-c', `read -P 7 ${SEVENS + 4096} 512`]);
    assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}`);
    assert.doesNotMatch(ok.stdout.toString(), /fail/i);
    assert.equal(ok.stdout.toString().match(/^read \d+\/\d+ bytes/gm)?.length, 3);
    // And the check really checks: a wrong pattern fails.
    const bad = await run('qemu-io', ['-r', '-f', 'raw', url, '-c', `read -P 8 ${SEVENS} 4k`]);
    assert.match(`${bad.stdout}${bad.stderr}`, /Pattern verification failed/);
  });
});

describe('several archives: NAME/stream paths', { skip: curlSkip }, () => {
  let b: Archive;
  let server: HttpExportServer;
  let base: string;
  before(async () => {
    b = await Archive.open(tmp.path('b.hxz'));
    server = await startHttpServer({ exports: archiveExports([{ name: 'a', archive }, { name: 'b', archive: b }]) });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server?.close();
    await b?.close();
  });

  test('each export at its path, /-encoded or not; the listing names them all', async () => {
    assert.deepEqual(server.urls(), ['a/disk', 'a/memory', 'b/disk'].map((n) => `${base}/${n}`));
    assertBytes((await curl(`${base}/a/disk`)).body, disk, 'a/disk');
    assertBytes((await curl(`${base}/a/memory`, '-r', '100-')).body, memory.subarray(100), 'a/memory');
    assertBytes((await curl(`${base}/b/disk`, '-r', '-1000')).body, other.subarray(other.length - 1000), 'b/disk');
    assertBytes((await curl(`${base}/b%2Fdisk`, '-r', '0-99')).body, other.subarray(0, 100), 'b%2Fdisk');
    for (const path of ['/disk', '/b', '/b/', '/c/disk', '/b/memory']) assert.equal((await curl(base + path)).status, 404, path);
    const list = JSON.parse((await curl(`${base}/`)).body.toString()) as { name: string; size: number; url: string }[];
    assert.deepEqual(list.map((e) => [e.name, e.size, e.url]), [
      ['a/disk', DISK_SIZE, `${base}/a/disk`], ['a/memory', memory.length, `${base}/a/memory`], ['b/disk', other.length, `${base}/b/disk`],
    ]);
  });

  test('qemu-io reads NAME/disk', { skip: qemuSkip }, async () => {
    const r = await run('qemu-io', ['-r', '-f', 'raw', `${base}/a/disk`, '-c', `read -P 7 ${SEVENS} 64k`]);
    if (/Unknown protocol/i.test(r.stderr) && !CI) return; // reported by the qemu suite above
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  });
});

describe('backpressure and aborts (a patterned export, no archive)', () => {
  test('a 10 GiB range: no size clamp, a stalled client stalls only its response, a disconnect stops the reads', async () => {
    const SIZE = 10 * GiB;
    const probe: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const small: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const server = await startHttpServer({ exports: [patternExport('big', SIZE, probe), patternExport('small', 10 * MiB, small)], chunkSize: MiB });
    try {
      const socket = connect(server.port, '127.0.0.1');
      let received = Buffer.alloc(0);
      socket.on('data', (d) => {
        received = Buffer.concat([received, d]);
        if (received.length > 64 * KiB) socket.pause(); // then stop reading
      });
      socket.write('GET /big HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n');
      await settled(probe);
      const headEnd = received.indexOf('\r\n\r\n');
      const head = received.subarray(0, headEnd).toString('latin1');
      assert.match(head, /^HTTP\/1\.1 206 /);
      assert.match(head, new RegExp(`\r\nContent-Length: ${SIZE}\r\n`));
      assert.match(head, new RegExp(`\r\nContent-Range: bytes 0-${SIZE - 1}/${SIZE}\r\n`));
      checkPattern(received.subarray(headEnd + 4), 0, 'start of the 10 GiB body');

      // Stalled: reads stop at what the socket buffers hold, and do not grow.
      const stalledAt = probe.bytes;
      // What the kernel's socket buffers hold (about 6 MiB on loopback here) plus a chunk or two.
      assert.ok(stalledAt < 64 * MiB, `read ${stalledAt} bytes for a client that stopped reading`);
      await sleep(300);
      assert.ok(probe.bytes === stalledAt, `reads went on while the client did not read: ${stalledAt} → ${probe.bytes}`);

      // Meanwhile another client is served normally.
      const other = await get(`http://127.0.0.1:${server.port}/small`, { Range: 'bytes=1000-1999999' });
      assert.equal(other.res.statusCode, 206);
      checkPattern(other.body, 1000, 'the other client');

      // Reading again resumes the body where it stopped.
      const before = received.length;
      socket.resume();
      await sleep(100);
      socket.pause();
      assert.ok(received.length > before, 'the body resumes');
      checkPattern(received.subarray(headEnd + 4), 0, 'the resumed body');

      // Disconnecting aborts the reads: the last one saw its signal aborted and nothing reads after.
      socket.destroy();
      const deadline = Date.now() + 5000;
      while ((probe.inFlight > 0 || !probe.lastSignal?.aborted) && Date.now() < deadline) await sleep(10);
      assert.equal(probe.inFlight, 0);
      assert.equal(probe.lastSignal?.aborted, true, 'the read signal was aborted');
      const after = probe.reads;
      await sleep(200);
      assert.equal(probe.reads, after, 'no read after the disconnect');
      assert.ok(probe.bytes < SIZE / 10);
    } finally {
      await server.close();
    }
  });

  test('many pipelined GETs of a huge export: only the answer on air reads; a disconnect ends them all', async () => {
    const probe: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const server = await startHttpServer({ exports: [patternExport('big', 4 * GiB, probe)], chunkSize: MiB });
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      let received = 0;
      socket.on('data', (d) => {
        received += d.length;
        if (received > 64 * KiB) socket.pause();
      });
      socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(40));
      await settled(probe);
      assert.ok(probe.bytes < 64 * MiB, `${probe.bytes} bytes read for 40 queued 4 GiB answers`);
      socket.destroy();
      const t = Date.now();
      await server.close(); // resolves only once every handler, queued ones included, has finished
      assert.ok(Date.now() - t < 2000, `close took ${Date.now() - t} ms`);
      assert.equal(probe.inFlight, 0);
    } finally {
      await server.close();
    }
  });

  test('idleTimeoutMs: a client that stops reading for that long is cut off and its reads stop', async () => {
    const probe: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const server = await startHttpServer({ exports: [patternExport('big', 4 * GiB, probe)], idleTimeoutMs: 300 });
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.once('data', () => socket.pause());
      socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      const deadline = Date.now() + 5000;
      while (!probe.lastSignal?.aborted && Date.now() < deadline) await sleep(20);
      assert.equal(probe.lastSignal?.aborted, true, 'the stalled response was cut');
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  test('close() cuts a response a client stopped reading and resolves', async () => {
    const probe: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const server = await startHttpServer({ exports: [patternExport('big', 4 * GiB, probe)] });
    const socket = connect(server.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.once('data', () => socket.pause());
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    while (probe.reads === 0) await sleep(5);
    await sleep(100);
    const t = Date.now();
    await server.close();
    assert.ok(Date.now() - t < 2000, `close took ${Date.now() - t} ms`);
    socket.resume(); // a paused socket never sees the end of the connection
    await closed;
    assert.equal(probe.inFlight, 0);
  });

  test('a read error before the head is 500 (502 for storage); after it, the body is cut short', async () => {
    const probe: Probe = { reads: 0, bytes: 0, inFlight: 0 };
    const logs: string[] = [];
    const failAt = 3 * MiB;
    const server = await startHttpServer({
      exports: [
        patternExport('corrupt', 8 * MiB, probe, (o) => (o >= failAt ? new CorruptArchiveError('bad block', { stream: 'disk', offset: o }) : undefined)),
        patternExport('store', 8 * MiB, probe, (o) => (o >= failAt ? new StoreError('/secret/path: EIO', { archive: '/secret/path' }) : undefined)),
      ],
      chunkSize: MiB,
      log: (l) => logs.push(l),
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const c = await get(`${base}/corrupt`, { Range: `bytes=${failAt}-` });
      assert.equal(c.res.statusCode, 500);
      assert.match(c.body.toString(), /CORRUPT_ARCHIVE.*offset 3145728/);
      const s = await get(`${base}/store`, { Range: `bytes=${failAt + 5}-${failAt + 10}` });
      assert.equal(s.res.statusCode, 502);
      assert.match(s.body.toString(), /STORE/);
      assert.doesNotMatch(s.body.toString(), /secret/, 'no server paths in answers');
      // After the head: the connection is cut; what arrived is a correct prefix.
      const cut = await new Promise<{ status: number; body: Buffer; complete: boolean }>((resolve) => {
        const req = request(`${base}/corrupt`, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('error', () => {});
          res.on('close', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts), complete: res.complete }));
        });
        req.on('error', () => {});
        req.end();
      });
      assert.equal(cut.status, 200);
      assert.equal(cut.complete, false);
      assert.ok(cut.body.length <= failAt, `${cut.body.length} bytes`);
      checkPattern(cut.body, 0, 'the cut body');
      assert.equal(logs.length, 3, logs.join('\n'));
      assert.match(logs[0], /GET \/corrupt: read failed, answered 500: bad block/);
      assert.match(logs[1], /answered 502/);
      assert.match(logs[2], /cut short: bad block/);
    } finally {
      await server.close();
    }
  });
});

describe('a corrupt archive block', { skip: curlSkip }, () => {
  let damaged: Archive;
  let server: HttpExportServer;
  let url: string;
  let bad: IndexEntry;
  const logs: string[] = [];

  before(async () => {
    const entries: IndexEntry[] = [];
    for await (const e of archive.entries('disk')) entries.push(e);
    // The first copy of a stored block past the first MiB: damage shows first at its offset.
    bad = entries.find((e) => e.kind === EntryKind.DATA && e.offset >= 2 * MiB && e.storedLength > 0)!;
    assert.ok(bad, 'a DATA entry to damage');
    const bytes = readFileSync(tmp.path('a.hxz'));
    bytes[bad.storedOffset + (bad.storedLength >> 1)] ^= 0x20;
    writeData(tmp.path('damaged.hxz'), bytes);
    damaged = await Archive.open(tmp.path('damaged.hxz'));
    server = await startHttpServer({ exports: archiveExports([{ name: 'x', archive: damaged }]), chunkSize: CHUNK, log: (l) => logs.push(l) });
    url = `http://127.0.0.1:${server.port}/disk`;
  });
  after(async () => {
    await server?.close();
    await damaged?.close();
  });

  test('the whole stream: 200, then the body stops before the damaged block; no wrong byte', async () => {
    const r = await curl(url);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-length'), String(DISK_SIZE));
    assert.equal(r.exit, 18, `curl reports a partial transfer: ${r.stderr}`);
    assert.ok(r.body.length <= bad.offset, `${r.body.length} bytes arrived, the damage is at ${bad.offset}`);
    assertBytes(r.body, disk.subarray(0, r.body.length), 'the prefix that arrived');
    assert.ok(logs.some((l) => /cut short/.test(l) && /GET \/disk/.test(l)), logs.join('\n'));
  });

  test('a range starting in the damaged block: 500 with a message', async () => {
    const r = await curl(url, '-r', `${bad.offset}-${bad.offset + 99}`);
    assert.equal(r.status, 500);
    assert.match(r.body.toString(), /CORRUPT_ARCHIVE/);
    assert.ok(logs.some((l) => /answered 500/.test(l)), logs.join('\n'));
  });

  test('ranges elsewhere still read, and the server answers after the failures', async () => {
    const r = await curl(url, '-r', '0-65535');
    assert.equal(r.status, 206);
    assertBytes(r.body, disk.subarray(0, 65536));
    const end = await curl(url, '-r', '-1000');
    assertBytes(end.body, disk.subarray(DISK_SIZE - 1000));
  });
});

describe('startHttpServer options', () => {
  test('a port in use or out of range is a UsageError', async () => {
    const s = await startHttpServer({ exports: exportsA });
    try {
      await assert.rejects(startHttpServer({ exports: exportsA, port: s.port }), (e: Error) => e.name === 'UsageError' && /in use/.test(e.message));
    } finally {
      await s.close();
    }
    await assert.rejects(startHttpServer({ exports: exportsA, port: 70000 }), { name: 'UsageError' });
    await assert.rejects(startHttpServer({ exports: exportsA, chunkSize: 0 }), { name: 'UsageError' });
    await assert.rejects(startHttpServer({ exports: [...exportsA, exportsA[0]] }), { name: 'UsageError' });
  });

  test('close() is idempotent', async () => {
    const s = await startHttpServer({ exports: exportsA });
    await Promise.all([s.close(), s.close()]);
    await s.close();
  });
});
