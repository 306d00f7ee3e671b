/**
 * HttpSource against a real nginx (test/servers/nginx.ts): exact bytes, what the first contact
 * costs, an object replaced while open (never mixed bytes), 404 not retried, a server ignoring
 * Range (`max_ranges 0`) read without buffering the body, nginx stopped and restarted under a
 * sequence of reads through the composed remote stack; and, with a small node:http server that
 * misbehaves on cue, a connection cut mid-body, wrong ranges and encodings, aborts.
 */
import assert from 'node:assert/strict';
import { renameSync, utimesSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { AbortedError, StoreError } from '../src/errors.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { nodeHttpFetch } from '../src/store/node-http-fetch.ts';
import { HttpSource, type HttpSourceOptions } from '../src/store/http-source.ts';
import { FIRST_CONTACT_BYTES } from '../src/store/first-contact.ts';
import { wrapRemote } from '../src/store/wrap-remote.ts';
import { RetryingSource } from '../src/store/retrying-source.ts';
import { Rng, assertBytes, randomData, tempDir } from './helpers.ts';
import { startFaultyHttp } from './servers/faulty-http.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';

const KiB = 1 << 10;
const MiB = 1 << 20;
const noSleep = async () => {};

/** A fetch that records each request's headers and counts the body bytes the caller pulls. */
function recordingFetch(rewrite?: (headers: Headers) => void) {
  const log = { requests: [] as Headers[], answered: 0, bodyBytes: 0 };
  const fn: typeof fetch = async (input, init) => {
    log.requests.push(new Headers(init?.headers));
    const res = await fetch(input, init);
    log.answered++;
    const headers = new Headers(res.headers);
    rewrite?.(headers);
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        log.bodyBytes += chunk.length;
        controller.enqueue(chunk);
      },
    });
    return new Response(res.body?.pipeThrough(counter) ?? null, { status: res.status, statusText: res.statusText, headers });
  };
  return { fetch: fn, log };
}

/** Asserts `p` rejects with a StoreError of the given transience (and message). */
async function rejectsStore(p: Promise<unknown>, transient: boolean, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `a StoreError, got ${err}`);
    assert.equal(err.transient, transient, `transient: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('HttpSource against nginx', { skip: nginxSkip() }, () => {
  const tmp = tempDir('hexz-http-');
  const data = randomData(3 * MiB + 123, 21);
  let nginx: NginxServer;
  let whole: NginxServer; // max_ranges 0: every answer is 200 with the whole body
  before(async () => {
    writeFileSync(tmp.path('data.bin'), data);
    writeFileSync(tmp.path('empty.bin'), new Uint8Array(0));
    nginx = await startNginx({ root: tmp.dir });
    whole = await startNginx({ root: tmp.dir, serverConfig: ['max_ranges 0;'] });
  });
  after(async () => {
    await nginx?.close();
    await whole?.close();
    tmp.cleanup();
  });

  test('reads equal the file: inside and beyond the first 256 KiB, past the end, zero-length', async () => {
    const s = new HttpSource(nginx.url('data.bin'));
    assert.equal(await s.size(), data.length);
    const rng = new Rng(3);
    const cases: [number, number][] = [[0, 100], [65_000, 1000], [FIRST_CONTACT_BYTES - 1, 2], [FIRST_CONTACT_BYTES, 1], [MiB, 64 * KiB], [0, data.length]];
    for (let i = 0; i < 30; i++) cases.push([rng.int(data.length), 1 + rng.int(300 * KiB)]);
    for (const [o, l] of cases) assertBytes(await s.read(o, l), data.subarray(o, o + l), `read(${o}, ${l})`);
    assertBytes(await s.read(data.length - 5, 100), data.subarray(data.length - 5), 'straddling the end');
    assert.equal((await s.read(data.length, 10)).length, 0);
    assert.equal((await s.read(data.length + MiB, 10)).length, 0);
    assert.equal((await s.read(100 * KiB, 0)).length, 0);
  });

  test('readInto fills the caller\'s buffer exactly as read does, over every transport; past the head straight into it', async () => {
    for (const [transport, options] of TRANSPORTS) {
      for (const server of [nginx, whole]) {
        const s = new HttpSource(server.url('data.bin'), options);
        const rng = new Rng(5);
        const cases: [number, number][] = [[0, 100], [FIRST_CONTACT_BYTES - 10, 20], [FIRST_CONTACT_BYTES, 600 * KiB], [data.length - 5, 100], [data.length, 10]];
        for (let i = 0; i < 12; i++) cases.push([rng.int(data.length), 1 + rng.int(900 * KiB)]);
        for (const [o, l] of cases) {
          const target = new Uint8Array(new SharedArrayBuffer(l + 3), 3, l).fill(0xee);
          const n = await s.readInto(o, target);
          const want = data.subarray(o, Math.min(data.length, o + l));
          assert.equal(n, want.length, `${transport}: readInto(${o}, ${l}) count`);
          assertBytes(target.subarray(0, n), want, `${transport}: readInto(${o}, ${l})`);
          assert.ok(target.subarray(n).every((b) => b === 0xee), `${transport}: nothing past the count`);
        }
      }
    }
  });

  test('an empty file (nginx answers 200 with no body) has size 0', async () => {
    const s = new HttpSource(nginx.url('empty.bin'));
    assert.equal(await s.size(), 0);
    assert.equal((await s.read(0, 100)).length, 0);
  });

  test('the first contact serves size() and the reads inside the first 256 KiB; later reads are pinned with If-Match', async () => {
    const { fetch, log } = recordingFetch();
    const s = new CountingSource(new HttpSource(nginx.url('data.bin'), { fetch }));
    await s.size();
    assertBytes(await s.read(0, 4096), data.subarray(0, 4096));
    assertBytes(await s.read(FIRST_CONTACT_BYTES - 5536, 5536), data.subarray(FIRST_CONTACT_BYTES - 5536, FIRST_CONTACT_BYTES));
    assert.equal(s.requests, 2, 'two reads');
    assert.equal(log.requests.length, 1, 'one HTTP request for size + both reads');
    assert.equal(log.requests[0].get('range'), `bytes=0-${FIRST_CONTACT_BYTES - 1}`);
    assertBytes(await s.read(FIRST_CONTACT_BYTES, 10), data.subarray(FIRST_CONTACT_BYTES, FIRST_CONTACT_BYTES + 10));
    assert.equal(log.requests.length, 2);
    assert.equal(log.requests[1].get('range'), `bytes=${FIRST_CONTACT_BYTES}-${FIRST_CONTACT_BYTES + 9}`);
    // A read straddling the kept head fetches only the part past it.
    assertBytes(await s.read(FIRST_CONTACT_BYTES - 100, 200), data.subarray(FIRST_CONTACT_BYTES - 100, FIRST_CONTACT_BYTES + 100));
    assert.equal(log.requests[2].get('range'), `bytes=${FIRST_CONTACT_BYTES}-${FIRST_CONTACT_BYTES + 99}`);
    assert.match(log.requests[1].get('if-match') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, 'pinned to nginx\'s strong ETag');
  });

  describe('an object replaced while open fails permanently, never mixes bytes', () => {
    const replaced = randomData(data.length, 99);
    /** Writes new content beside the file and renames it over, as a publisher would. */
    const replace = (name: string, bytes: Uint8Array, mtimeShift: number) => {
      const next = tmp.path(`.${name}.new`);
      writeFileSync(next, bytes);
      // nginx's ETag is mtime (seconds) + size: a same-size replacement must land in another second.
      const t = Date.now() / 1000 + mtimeShift;
      utimesSync(next, t, t);
      renameSync(next, tmp.path(name));
    };
    const cases = [
      { what: 'same size, new mtime (ETag, If-Match)', bytes: replaced, rewrite: undefined },
      { what: 'another size (ETag, If-Match)', bytes: replaced.subarray(0, 2 * MiB), rewrite: undefined },
      { what: 'no ETag: Last-Modified, If-Unmodified-Since', bytes: replaced, rewrite: (h: Headers) => h.delete('etag') },
      { what: 'weak ETag only: Last-Modified, If-Unmodified-Since', bytes: replaced, rewrite: (h: Headers) => h.has('etag') && h.set('etag', `W/${h.get('etag')}`) },
    ];
    cases.forEach(({ what, bytes, rewrite }, i) => test(what, async () => {
      const name = `replaced-${i}.bin`;
      writeFileSync(tmp.path(name), data);
      utimesSync(tmp.path(name), Date.now() / 1000 - 100, Date.now() / 1000 - 100);
      const { fetch, log } = recordingFetch(rewrite ? (h) => void rewrite(h) : undefined);
      const s = new HttpSource(nginx.url(name), { fetch });
      assertBytes(await s.read(100, 1000), data.subarray(100, 1100));
      assertBytes(await s.read(MiB, 1000), data.subarray(MiB, MiB + 1000));
      replace(name, bytes, 0);
      for (const offset of [300_000, MiB, 2 * MiB + 5]) await rejectsStore(s.read(offset, 1000), false, /changed while open/);
      // The pinned first bytes are still the old object's, consistent with everything read before.
      assertBytes(await s.read(100, 1000), data.subarray(100, 1100));
      if (rewrite) assert.ok(log.requests.slice(1).every((h) => h.has('if-unmodified-since') && !h.has('if-match')), 'pinned by date');
      // Through the remote stack it is not retried either: one request per read.
      writeFileSync(tmp.path(name), data);
      utimesSync(tmp.path(name), Date.now() / 1000 - 50, Date.now() / 1000 - 50);
      const counted = recordingFetch(rewrite ? (h) => void rewrite(h) : undefined);
      const remote = wrapRemote(new HttpSource(nginx.url(name), { fetch: counted.fetch }), { retry: { sleep: noSleep } });
      assertBytes(await remote.read(0, 10), data.subarray(0, 10));
      replace(name, bytes, 0);
      await rejectsStore(remote.read(2 * MiB, 10), false, /changed while open/);
      // Answered ones: nginx closes the connection after a 412, and a request the client sends on
      // it before seeing the close fails unanswered (a transient error, rightly retried).
      assert.equal(counted.log.answered, 2, 'first contact + one failed read, no retries');
    }));
  });

  test('404 is a permanent StoreError, not retried', async () => {
    const { fetch, log } = recordingFetch();
    const s = new RetryingSource(new HttpSource(nginx.url('missing.bin'), { fetch }), { sleep: noSleep });
    await rejectsStore(s.read(0, 10), false, /not found/);
    await rejectsStore(s.size(), false, /not found/);
    assert.equal(log.requests.length, 2, 'one request per call');
    const remote = recordingFetch();
    await rejectsStore(wrapRemote(new HttpSource(nginx.url('missing.bin'), { fetch: remote.fetch }), { retry: { sleep: noSleep } }).read(0, 10), false);
    assert.equal(remote.log.requests.length, 1);
  });

  test('a server ignoring Range (max_ranges 0): correct bytes, the body streamed and cut, not buffered', async () => {
    const big = randomData(64 * MiB, 5);
    writeFileSync(tmp.path('big.bin'), big);
    const { fetch, log } = recordingFetch();
    const s = new HttpSource(whole.url('big.bin'), { fetch });
    assert.equal(await s.size(), big.length);
    assert.ok(log.bodyBytes < 4 * MiB, `first contact pulled ${log.bodyBytes} bytes of a 64 MiB 200 answer`);
    assertBytes(await s.read(1000, 10), big.subarray(1000, 1010), 'from the first bytes');
    const before = log.bodyBytes;
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
    const offset = 16 * MiB + 17;
    try {
      assertBytes(await s.read(offset, 300 * KiB), big.subarray(offset, offset + 300 * KiB), 'deep read');
    } finally {
      clearInterval(sampler);
    }
    const pulled = log.bodyBytes - before;
    assert.ok(pulled < offset + 300 * KiB + 4 * MiB, `the deep read pulled ${pulled} bytes: the body is cancelled once the range is in`);
    assertBytes(await s.read(big.length - 100, 1000), big.subarray(big.length - 100), 'the last bytes');
    assert.equal(log.requests.length, 3);
    console.log(`# max_ranges 0: deep read pulled ${(pulled / MiB).toFixed(1)} MiB, ArrayBuffers peak +${((peak - base) / MiB).toFixed(1)} MiB`);
    // A buffered 64 MiB body would show as ≥ 64 MiB of ArrayBuffers at once.
    assert.ok(peak - base < 48 * MiB, `ArrayBuffer memory grew by ${((peak - base) / MiB).toFixed(1)} MiB`);
  });

  test('nginx stopped mid-sequence and restarted: every read is right or a StoreError, never wrong bytes, never a hang', { timeout: 60_000 }, async () => {
    const flaky = await startNginx({ root: tmp.dir });
    let restarted: Promise<void> | undefined;
    try {
      const s = wrapRemote(new HttpSource(flaky.url('data.bin')), { retry: { retries: 6, baseDelayMs: 50, maxDelayMs: 400 }, cacheBytes: 0 });
      const rng = new Rng(77);
      let ok = 0;
      const failures: string[] = [];
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      for (let round = 0; round < 40; round++) {
        // Eight concurrent reads per round: through the limit, coalescing and retry wrappers.
        const reads = Array.from({ length: 8 }, () => {
          const o = rng.int(data.length);
          return [o, 1 + rng.int(512 * KiB)] as const;
        });
        const pending = reads.map(([o, l]) => s.read(o, l));
        // Stopped while this round's reads are in flight (nginx's fast shutdown cuts them), back
        // in 300 ms: within the retry budget (≈1.5 s), so the reads wait and succeed.
        if (round === 10) restarted = flaky.stop().then(() => sleep(300)).then(() => flaky.restart());
        // Down for longer than the retries last: reads in that window fail, cleanly.
        if (round === 25) restarted = restarted!.then(() => flaky.stop()).then(() => sleep(3000)).then(() => flaky.restart());
        const results = await Promise.allSettled(pending);
        results.forEach((r, i) => {
          const [o, l] = reads[i];
          if (r.status === 'fulfilled') {
            assertBytes(r.value, data.subarray(o, o + l), `round ${round} read(${o}, ${l})`);
            ok++;
          } else {
            assert.ok(r.reason instanceof StoreError, `round ${round}: ${r.reason}`);
            failures.push(r.reason.message);
          }
        });
      }
      await restarted;
      console.log(`# nginx stop/restart: ${ok} reads right, ${failures.length} StoreErrors (${[...new Set(failures.map((m) => m.replace(/^\S+: /, '')))].join('; ')})`);
      assertBytes(await s.read(2 * MiB, 1000), data.subarray(2 * MiB, 2 * MiB + 1000), 'after the restart');
      assert.ok(ok >= 200, `${ok} reads right, ${failures.length} failed`);
      assert.ok(failures.length > 0, 'the long outage made some reads fail');
    } finally {
      await restarted?.catch(() => {});
      await flaky.close();
    }
  });
});

// Every transport: the global fetch (HttpSource's default), node:http (openSource's in Node), and
// the global fetch with bodies read as byte streams (the browser's, `streamBodies`).
const TRANSPORTS: [string, HttpSourceOptions][] = [['global fetch', {}], ['node:http', { fetch: nodeHttpFetch }], ['streamed bodies', { streamBodies: true, pinRequests: false }]];
for (const [transport, transportOptions] of TRANSPORTS) describe(`HttpSource against a misbehaving server (${transport})`, () => {
  // Reads at 400 KiB and beyond are past the 256 KiB first contact: each is a request of its own.
  const data = randomData(700 * KiB + 7, 8);

  test('a connection cut mid-body is a transient StoreError; a RetryingSource recovers', async () => {
    // First contact cut twice, then a later read cut once.
    const server = await startFaultyHttp(data, (n) => (n < 2 || n === 3 ? { cutAfter: 1000 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await rejectsStore(s.read(0, 10), true, /reading the answer failed|ended after|bytes, expected/);
      const retried = new RetryingSource(s, { sleep: noSleep });
      assertBytes(await retried.read(100, 100), data.subarray(100, 200));
      assert.equal(server.requests, 3, 'second cut, then the first contact succeeded');
      assertBytes(await retried.read(500 * KiB, 50 * KiB), data.subarray(500 * KiB, 550 * KiB));
      assert.equal(server.requests, 5, 'one cut read, one retry');
    } finally {
      await server.close();
    }
  });

  test('a 200 whole-body answer cut before the range is transient; retried it recovers', async () => {
    const server = await startFaultyHttp(data, (n) => ({ ignoreRange: true, ...(n === 1 ? { cutAfter: 100 * KiB } : {}) }));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      assert.equal(await s.size(), data.length);
      await rejectsStore(s.read(500 * KiB, 10), true);
      assertBytes(await new RetryingSource(s, { sleep: noSleep }).read(500 * KiB, 10), data.subarray(500 * KiB, 500 * KiB + 10));
    } finally {
      await server.close();
    }
  });

  test('a 206 of another range than asked is a permanent error, never its bytes', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 1 ? { shiftRange: 4096 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await s.size();
      await rejectsStore(s.read(400 * KiB, 10), false, /asked for bytes 409600-409609/);
    } finally {
      await server.close();
    }
  });

  test('a body longer than its Content-Range (chunked, no Content-Length) is an error, never its bytes', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 1 ? { overlong: 5000 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await s.size();
      await rejectsStore(s.read(400 * KiB, 100 * KiB), true);
      assertBytes(await s.read(400 * KiB, 100 * KiB), data.subarray(400 * KiB, 500 * KiB), 'the next answer, correct, is read');
    } finally {
      await server.close();
    }
  });

  test('large answers (read into shared memory where the transport can): cut mid-body or overlong is an error, never their bytes', async () => {
    // 300 KiB reads: over the size that node:http's transport reads into a SharedArrayBuffer.
    const server = await startFaultyHttp(data, (n) => (n === 1 ? { cutAfter: 100 * KiB } : n === 2 ? { overlong: 5000 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await s.size();
      await rejectsStore(s.read(400 * KiB, 300 * KiB), true, /reading the answer failed|ended after|bytes, expected/);
      await rejectsStore(s.read(400 * KiB, 300 * KiB), true);
      const got = await s.read(400 * KiB, 300 * KiB);
      assertBytes(got, data.subarray(400 * KiB, 700 * KiB), 'the next answer, correct');
      if (transport === 'node:http') assert.ok(got.buffer instanceof SharedArrayBuffer, 'a large answer lands in shared memory');
    } finally {
      await server.close();
    }
  });

  test('readInto of a large answer cut mid-body or overlong is an error; retried, the buffer holds the right bytes', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 1 ? { cutAfter: 100 * KiB } : n === 2 ? { overlong: 5000 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await s.size();
      const target = new Uint8Array(new SharedArrayBuffer(300 * KiB));
      await rejectsStore(s.readInto(400 * KiB, target), true, /reading the answer failed|ended after|bytes, expected|more than/);
      await rejectsStore(s.readInto(400 * KiB, target), true);
      assert.equal(await new RetryingSource(s, { sleep: noSleep }).readInto(400 * KiB, target), 300 * KiB);
      assertBytes(target, data.subarray(400 * KiB, 700 * KiB), 'the next answer, correct');
    } finally {
      await server.close();
    }
  });

  test('a 206 wider than asked gives the right slice (first contact and later reads)', async () => {
    const server = await startFaultyHttp(data, () => ({ widen: true }));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      assert.equal(await s.size(), data.length);
      assertBytes(await s.read(10, 100), data.subarray(10, 110));
      assertBytes(await s.read(500 * KiB + 3, 5000), data.subarray(500 * KiB + 3, 500 * KiB + 5003));
      assert.equal(server.requests, 2);
    } finally {
      await server.close();
    }
  });

  test('a compressed answer is refused (fetch would decode it and shift the offsets)', async () => {
    const server = await startFaultyHttp(data, () => ({ contentEncoding: 'br' }));
    try {
      await rejectsStore(new HttpSource(server.url, { ...transportOptions }).size(), false, /Content-Encoding/);
    } finally {
      await server.close();
    }
  });

  test('5xx is transient and retried; 403 is permanent', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 0 ? { status: 503 } : n === 2 ? { status: 403 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      await rejectsStore(s.size(), true, /503/);
      assert.equal(await new RetryingSource(s, { sleep: noSleep }).size(), data.length);
      await rejectsStore(new RetryingSource(s, { sleep: noSleep }).read(400 * KiB, 10), false, /forbidden/);
      assert.equal(server.requests, 3);
    } finally {
      await server.close();
    }
  });

  test('an abort during the shared first contact ends only that caller\'s read', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 0 ? { delayMs: 200 } : {}));
    try {
      const s = new HttpSource(server.url, { ...transportOptions });
      const controller = new AbortController();
      const aborted = s.read(0, 10, { signal: controller.signal });
      const other = s.read(10, 10);
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(aborted, AbortedError);
      assertBytes(await other, data.subarray(10, 20));
      assert.equal(server.requests, 1, 'the first contact was neither cancelled nor repeated');
    } finally {
      await server.close();
    }
  });

  test('through the remote stack (wrapRemote) an abort ends a slow read at once', async () => {
    const server = await startFaultyHttp(data, (n) => (n === 1 ? { delayMs: 1500 } : {}));
    try {
      const s = wrapRemote(new HttpSource(server.url, { ...transportOptions }));
      await s.size();
      const controller = new AbortController();
      const started = Date.now();
      const slow = s.read(500 * KiB, 10, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(slow, AbortedError);
      assert.ok(Date.now() - started < 1000, `aborted after ${Date.now() - started} ms`);
    } finally {
      await server.close();
    }
  });
});
