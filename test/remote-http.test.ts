/**
 * Archives served by a real nginx: every golden vector read back and verified through http://
 * (thin chains find their parents beside them by URL), the cost of opening a never-seen archive
 * and reading 4 KiB (requests and bytes, counted below the wrappers and in nginx's own log),
 * and the CLI reading URLs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Archive } from '../src/index.ts';
import { verify } from '../src/ops/verify.ts';
import { HttpSource } from '../src/store/http-source.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { wrapRemote } from '../src/store/open-source.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';
import { assertBytes, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.ts';

const vectors = new URL('./vectors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(vectors, 'vectors.json'), 'utf8')) as {
  vectors: Record<string, { archive: string; password?: string; streams: Record<string, { file: string }> }>;
};
const tmp = tempDir('hexz-remote-http-');
after(() => tmp.cleanup());

describe('archives over HTTP (nginx)', { skip: nginxSkip() }, () => {
  let nginx: NginxServer;
  const root = tmp.path('www');
  // 24 MiB in 64 KiB blocks with zero runs and duplicates: an index of a few hundred entries.
  const disk = mixedData(24 << 20, { unit: 65536, seed: 17 });

  before(async () => {
    mkdirSync(root);
    for (const f of readdirSync(vectors).filter((n) => n.endsWith('.hxz'))) copyFileSync(join(vectors, f), join(root, f));
    await packSmall({ disk: writeData(tmp.path('disk.raw'), disk), output: join(root, 'medium.hxz') });
    nginx = await startNginx({ root });
  });

  after(async () => {
    await nginx?.close();
  });

  test('every golden vector reads back and verifies through http://', async () => {
    for (const [name, v] of Object.entries(manifest.vectors)) {
      const url = nginx.url(v.archive);
      const a = await Archive.open(url, { password: v.password });
      try {
        for (const [stream, s] of Object.entries(v.streams)) {
          assertBytes(await a.readAt(stream as 'disk', 0, a.size(stream as 'disk')), readFileSync(join(vectors, s.file)), `${name} ${stream}`);
        }
      } finally {
        await a.close();
      }
      const r = await verify(url, { password: v.password });
      assert.equal(r.ok, true, `${name}: ${JSON.stringify(r.error)}`);
    }
  });

  test('open + first 4 KiB read of a never-seen archive: at most 3 requests', async () => {
    const counted = new CountingSource(new HttpSource(nginx.url('medium.hxz')));
    const a = await Archive.open(wrapRemote(counted));
    try {
      const at = 5 << 20;
      assertBytes(await a.readAt('disk', at, 4096), disk.subarray(at, at + 4096), 'first read');
      assert.ok(counted.requests <= 3, `${counted.requests} requests`);
      // The first 64 KiB, the index (a few KiB here) and one block of at most 64 KiB, each
      // widened by at most a page or two of the range cache: no more.
      assert.ok(counted.bytesRead < 65536 + a.header.streams[0].stats.indexBytes + 65536 + 4 * 16384, `${counted.bytesRead} bytes`);
      console.log(`# open + first 4 KiB read: ${counted.requests} requests, ${counted.bytesRead} bytes (file ${a.fileSize} bytes)`);
    } finally {
      await a.close();
    }
  });

  test('the CLI reads URLs: cat costs 3 requests in nginx\'s log; inspect and verify work', () => {
    const log = () => readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter((l) => l.includes('/medium.hxz')).length;
    const before = log();
    const r = runCli(['cat', nginx.url('medium.hxz'), '--offset', '7M', '--length', '4K']);
    assert.equal(r.status, 0, r.stderr.toString());
    assertBytes(r.stdout, disk.subarray(7 << 20, (7 << 20) + 4096), 'cat');
    assert.ok(log() - before <= 3, `${log() - before} requests`);
    const i = runCli(['inspect', nginx.url('thin-grandchild.hxz'), '--json']);
    assert.equal(i.status, 0, i.stderr.toString());
    assert.deepEqual(JSON.parse(i.stdout.toString()).thin.parents.map((p: { status: string }) => p.status), ['found', 'found']);
    const missing = runCli(['cat', nginx.url('no-such.hxz')]);
    assert.equal(missing.status, 6);
    assert.match(missing.stderr.toString(), /not found \(404/);
  });
});
