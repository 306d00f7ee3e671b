/**
 * Archives served by a real nginx: every golden vector read back and verified through http://
 * (thin chains find their parents beside them by URL), the cost of opening a never-seen archive
 * and reading 4 KiB (requests and bytes, counted below the wrappers and in nginx's own log),
 * and the CLI reading URLs: `extract` and `verify` of an encrypted URL read its header once (the
 * password is asked for by the open itself), with the password from HEXZ_PASSWORD, a file or
 * the terminal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Archive } from '../src/index.ts';
import { extract } from '../src/ops/extract.ts';
import { verify } from '../src/ops/verify.ts';
import { HttpSource } from '../src/store/http-source.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { FIRST_CONTACT_BYTES } from '../src/store/first-contact.ts';
import { wrapRemote } from '../src/store/wrap-remote.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';
import { HEXZ_BIN, assertBytes, assertNoNodeWarning, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.ts';

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

  test('open + first 4 KiB read of a never-seen archive: 2 HTTP requests (its whole index is in the front area)', async () => {
    // nginx's log lines for medium.hxz: status and body bytes of each.
    const served = () => readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter((l) => l.includes('/medium.hxz'))
      .map((l) => Number(/" \d{3} (\d+) /.exec(l)![1]));
    const before = served().length;
    const counted = new CountingSource(new HttpSource(nginx.url('medium.hxz')));
    const a = await Archive.open(wrapRemote(counted));
    try {
      const at = 5 << 20;
      assertBytes(await a.readAt('disk', at, 4096), disk.subarray(at, at + 4096), 'first read');
      const requests = served().slice(before);
      // The first 256 KiB (header and the whole index, in the front area) and one 64 KiB block
      // (random: stored raw); reads reaching the backend include those its first bytes answered.
      assert.deepEqual(requests, [FIRST_CONTACT_BYTES, 65536], 'body bytes of each request nginx served');
      assert.ok(counted.requests <= 3, `${counted.requests} reads below the wrappers`);
      console.log(`# open + first 4 KiB read: ${requests.length} requests, ${requests.reduce((n, b) => n + b, 0)} bytes (${counted.requests} reads below the wrappers; file ${a.fileSize} bytes)`);
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

  describe('extract and verify of an encrypted URL: the header is read once, by the open', () => {
    const PW = 'url secret';
    const enc = mixedData(6 << 20, { unit: 65536, seed: 23 });
    const vector = manifest.vectors['encrypted-zstd'];
    let pwFile: string;
    /** Requests for `/name` in nginx's access log that `fn` caused. */
    const requestsOf = async (name: string, fn: () => unknown) => {
      const count = () => readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter((l) => l.includes(`/${name} `)).length;
      const start = count();
      await fn();
      return count() - start;
    };
    /** The CLI in a new session: no controlling terminal, so no prompt can be shown. */
    const withoutTerminal = (args: string[]) => {
      const env = { ...process.env };
      delete env.HEXZ_PASSWORD;
      const r = spawnSync('setsid', ['-w', process.execPath, HEXZ_BIN, ...args], { env, timeout: 60_000 });
      const stderr = r.stderr.toString();
      assertNoNodeWarning(stderr, `hexz ${args.join(' ')}`);
      return { status: r.status, stderr };
    };

    before(async () => {
      await packSmall({ disk: writeData(tmp.path('url-enc.raw'), enc), output: join(root, 'url-enc.hxz'), encrypt: { password: PW, kdf: { memoryKiB: 256, iterations: 1, lanes: 1 } } });
      pwFile = writeData(tmp.path('url.pw'), new TextEncoder().encode(`${PW}\n`));
    });

    test('an archive smaller than the first read costs one request per command (two with a header read of its own)', async () => {
      const url = nginx.url(vector.archive);
      const env = { HEXZ_PASSWORD: vector.password };
      let r: ReturnType<typeof runCli> | undefined;
      const out = tmp.path('small.raw');
      assert.equal(await requestsOf(vector.archive, () => (r = runCli(['extract', url, '-o', out, '--silent'], { env }))), 1, 'extract');
      assert.equal(r!.status, 0, r!.stderr);
      assertBytes(readFileSync(out), readFileSync(join(vectors, vector.streams.disk.file)), 'extracted');
      assert.equal(await requestsOf(vector.archive, () => (r = runCli(['verify', url, '--silent'], { env }))), 1, 'verify');
      assert.equal(r!.status, 0, r!.stderr);
    });

    test('extract and verify cost no more requests than the library given the password', async () => {
      const url = nginx.url('url-enc.hxz');
      const counts: Record<string, number> = {};
      counts.libExtract = await requestsOf('url-enc.hxz', () => extract(url, { password: PW, output: tmp.path('lib.raw') }));
      counts.libVerify = await requestsOf('url-enc.hxz', async () => assert.equal((await verify(url, { password: PW })).ok, true));
      let r: ReturnType<typeof runCli> | undefined;
      const out = tmp.path('cli.raw');
      counts.cliExtract = await requestsOf('url-enc.hxz', () => (r = runCli(['extract', url, '-o', out, '--silent'], { env: { HEXZ_PASSWORD: PW } })));
      assert.equal(r!.status, 0, r!.stderr);
      assertBytes(readFileSync(out), enc, 'extract URL');
      counts.cliVerify = await requestsOf('url-enc.hxz', () => (r = runCli(['verify', url, '--password-file', pwFile, '--json'])));
      assert.equal(r!.status, 0, r!.stderr);
      assert.equal(JSON.parse(r!.stdout.toString()).ok, true);
      console.log(`# encrypted URL, requests: ${JSON.stringify(counts)}`);
      assert.ok(counts.cliExtract <= counts.libExtract, `hexz extract: ${counts.cliExtract} requests, the library ${counts.libExtract}`);
      assert.ok(counts.cliVerify <= counts.libVerify, `hexz verify: ${counts.cliVerify} requests, the library ${counts.libVerify}`);
    });

    test('a wrong password exits 7; none and no terminal exits 2 naming the ways; a plain URL needs none', () => {
      const url = nginx.url('url-enc.hxz');
      for (const cmd of [['extract', url, '-o', tmp.path('wrong.raw')], ['verify', url]]) {
        const wrong = runCli(cmd, { env: { HEXZ_PASSWORD: 'not it' } });
        assert.equal(wrong.status, 7, `${cmd[0]}: ${wrong.stderr}`);
        assert.match(wrong.stderr, /wrong password/);
        const none = withoutTerminal(cmd);
        assert.equal(none.status, 2, `${cmd[0]}: ${none.stderr}`);
        assert.equal(none.stderr, `hexz: ${url} is encrypted: give the password with --password-file FILE or HEXZ_PASSWORD, or run on a terminal to be asked\n`);
      }
      const plain = withoutTerminal(['verify', nginx.url('medium.hxz'), '--silent']);
      assert.equal(plain.status, 0, plain.stderr);
    });

    test('the terminal prompt is shown once, naming the URL', (t) => {
      if (spawnSync('script', ['--version']).status !== 0) {
        if (process.env.CI === 'true') throw new Error('CI: script(1) (bsdutils) is missing');
        return t.skip('script(1) is missing');
      }
      const url = nginx.url('url-enc.hxz');
      const out = tmp.path('prompted.raw');
      const cmd = [process.execPath, HEXZ_BIN, 'extract', url, '-o', out, '--silent'].map((a) => `'${a}'`).join(' ');
      const env = { ...process.env };
      delete env.HEXZ_PASSWORD;
      // The answer is typed 2 s in; should the prompt come later (a loaded machine), the terminal
      // keeps the line for it (echoed then: no-echo is checked in encryption.test.ts).
      const r = spawnSync('sh', ['-c', `(sleep 2; printf '%s\\r' '${PW}'; sleep 1) | script -qec "${cmd}" /dev/null`], { env, timeout: 30_000 });
      const screen = r.stdout.toString();
      assert.equal(screen.split(`Password for ${url}: `).length - 1, 1, `one prompt: ${JSON.stringify(screen)}`);
      assertBytes(readFileSync(out), enc, 'extracted after the prompt');
    });
  });
});
