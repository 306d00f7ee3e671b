/**
 * What opening a never-seen archive over HTTP and reading 4 KiB at a far offset costs, counted
 * in HTTP requests and body bytes (a counting fetch) and in nginx's own access log: the
 * requirement "open + first random 4 KiB read of a never-seen remote archive: at most 3 requests
 * whatever its size" (docs/FORMAT.md §7, the front index area of version 7).
 *
 * - A small index (384 entries, all in the front area): 2 requests, the first contact (header
 *   and whole index in its 256 KiB) and the block. Version 6 needed 3 (a 64 KiB first contact,
 *   then the index after the data region, then the block).
 * - An index above 4 MiB (100,000 entries, 6.4 MB: too big to preload): 3 requests, the first
 *   contact (header and root), one leaf, the block. Version 6 needed 4 (its root was at the end).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Archive } from '../src/index.ts';
import { HttpSource } from '../src/store/http-source.ts';
import { wrapRemote } from '../src/store/wrap-remote.ts';
import { DEFAULT_PRELOAD_INDEX } from '../src/archive/open-archive-parts.ts';
import { FIRST_CONTACT_BYTES } from '../src/format/constants.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';
import { assertBytes, mixedData, packSmall, randomData, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-open-cost-');
after(() => tmp.cleanup());

/** 100,000 blocks of 4 KiB: 1024 random ones, then copies of one block (DEDUP entries), one more random one far in. */
const BIG_BLOCKS = 100_000;
const FAR = 90_000;
const random = randomData(1025 * 4096, 5);
function bigBlock(i: number): Uint8Array {
  if (i < 1024) return random.subarray(i * 4096, (i + 1) * 4096);
  return i === FAR ? random.subarray(1024 * 4096) : new Uint8Array(4096).fill(0x5a);
}

/** A fetch that counts requests and the body bytes received. */
function countingFetch() {
  const log = { requests: 0, bytes: 0 };
  const fn: typeof fetch = async (input, init) => {
    log.requests++;
    const res = await fetch(input, init);
    const body = new Uint8Array(await res.arrayBuffer());
    log.bytes += body.length;
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { fetch: fn, log };
}

describe('open + first 4 KiB read of a never-seen archive over HTTP (nginx)', { skip: nginxSkip() }, () => {
  let nginx: NginxServer;
  const root = tmp.path('www');
  const small = mixedData(24 << 20, { unit: 65536, seed: 17 });

  before(async () => {
    mkdirSync(root);
    await packSmall({ disk: writeData(tmp.path('small.raw'), small), output: join(root, 'small.hxz') });
    // A pipe: its size unknown, the writer reserves the largest front area.
    const blocks = Readable.from((function* () {
      for (let i = 0; i < BIG_BLOCKS; i += 256) yield Buffer.concat(Array.from({ length: Math.min(256, BIG_BLOCKS - i) }, (_, k) => bigBlock(i + k)));
    })());
    await packSmall({ disk: blocks, output: join(root, 'big.hxz'), blockSize: 4096, workers: 2 });
    nginx = await startNginx({ root });
  }, { timeout: 120_000 });

  after(async () => {
    await nginx?.close();
  });

  const logLines = (name: string) => readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter((l) => l.includes(`/${name} `)).length;

  /** Opens `name` fresh, reads 4 KiB at `at`; the requests and bytes it took, checked against nginx's log. */
  async function openAndRead(name: string, at: number, expected: Uint8Array): Promise<{ requests: number; bytes: number; archive: { index: number; file: number; dataOffset: number } }> {
    const { fetch, log } = countingFetch();
    const logged = logLines(name);
    const a = await Archive.open(wrapRemote(new HttpSource(nginx.url(name), { fetch })));
    try {
      assertBytes(await a.readAt('disk', at, 4096), expected, `${name} at ${at}`);
      assert.equal(logLines(name) - logged, log.requests, 'nginx saw every request the client counted');
      console.log(`# ${name}: open + first 4 KiB read: ${log.requests} requests, ${log.bytes} bytes (file ${a.fileSize} bytes, index ${a.header.streams[0].stats.indexBytes} bytes)`);
      return { ...log, archive: { index: a.header.streams[0].stats.indexBytes, file: a.fileSize, dataOffset: a.header.data.offset } };
    } finally {
      await a.close();
    }
  }

  test('a small index, all of it in the front area: 2 requests (first contact, block)', async () => {
    const at = 5 << 20;
    const r = await openAndRead('small.hxz', at, small.subarray(at, at + 4096));
    assert.ok(r.archive.dataOffset < FIRST_CONTACT_BYTES, 'the whole index is in front');
    assert.equal(r.requests, 2);
    // The first 256 KiB, then one 64 KiB block (random: stored raw), nothing else.
    assert.equal(r.bytes, FIRST_CONTACT_BYTES + 65536);
  });

  test('an index above 4 MiB: 3 requests (first contact with header and root, one leaf, the block)', async () => {
    const at = FAR * 4096 + 100;
    const expected = new Uint8Array(4096);
    expected.set(bigBlock(FAR).subarray(100));
    expected.set(bigBlock(FAR + 1).subarray(0, 100), 4096 - 100);
    const r = await openAndRead('big.hxz', at, expected);
    assert.ok(r.archive.index > DEFAULT_PRELOAD_INDEX, `index ${r.archive.index} bytes: too big to preload`);
    assert.equal(r.requests, 3);
    // 256 KiB, a full leaf (16 + 1024 × 64 bytes: the range cache does not widen reads that big),
    // and the 4 KiB block (stored raw) widened to two 16 KiB pages of the range cache at most.
    assert.ok(r.bytes <= FIRST_CONTACT_BYTES + 65552 + 2 * 16384, `${r.bytes} bytes`);
  });

  test('the CLI: cat of the small archive is 2 requests in nginx\'s log, of the big one 3', () => {
    // (Both offsets hold stored blocks: a zero run would need no block request.)
    for (const [name, requests, offset, bytes] of [['small.hxz', 2, 6 << 20, small.subarray(6 << 20, (6 << 20) + 4096)], ['big.hxz', 3, FAR * 4096, bigBlock(FAR)]] as const) {
      const logged = logLines(name);
      const r = runCli(['cat', nginx.url(name), '--offset', String(offset), '--length', '4K']);
      assert.equal(r.status, 0, r.stderr.toString());
      assertBytes(r.stdout, bytes, `cat ${name}`);
      assert.equal(logLines(name) - logged, requests, name);
    }
  });
});
