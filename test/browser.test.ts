/**
 * hexz in a real browser: headless Chromium loads the viewer page from `hexz web` (one origin)
 * and reads archives served by nginx on another origin, with CORS configured as the README says.
 * Every golden vector (plain, lz4, dictionary, encrypted, signed, CDC, thin chains) is read in
 * the page and compared with its source; random ranges and a ReadableStream of a larger archive
 * too; open + first read costs ≤ 3 requests and no CORS preflight; the page shows the header, a
 * picture whose regions have the expected colours (read from a screenshot), a hex view, a
 * download, the parents of a thin archive, a password prompt, and errors as messages (404, CORS
 * refused, corrupt block, missing parent) — never a blank page.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { PNG } from 'pngjs';
import { Archive } from '../src/index.ts';
import { EntryKind } from '../src/format/constants.ts';
import { hexDump } from '../src/web/hex-dump.ts';
import { REGION_COLOURS } from '../src/web/stream-picture.ts';
import { CORS_CONFIG, nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';
import { startWeb, type WebServer } from './servers/hexz-web.ts';
import { chromiumSkip, launchChromium } from './servers/chromium.ts';
import { mixedData, packSmall, randomData, runCli, tempDir, writeData } from './helpers.ts';

const vectors = new URL('./vectors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(vectors, 'vectors.json'), 'utf8')) as {
  vectors: Record<string, { archive: string; password?: string; streams: Record<string, { file: string }> }>;
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tmp = tempDir('hexz-browser-');
after(() => tmp.cleanup());



const skip = nginxSkip() || chromiumSkip();

describe('hexz in headless Chromium', { skip }, () => {
  let nginx: NginxServer;
  let web: WebServer;
  let browser: Browser;
  const root = tmp.path('www');
  // 24 MiB in 64 KiB blocks with zero runs and duplicates.
  const medium = mixedData(24 << 20, { unit: 65536, seed: 23 });
  // The picture's archive: a thin child whose four 4 MiB quarters are own data, zeros, a copy
  // of the first quarter (deduplicated), and the parent's content (referenced in the parent).
  const Q = 4 << 20;
  const parentDisk = randomData(Q, 5);
  const pictureDisk = new Uint8Array(4 * Q);
  pictureDisk.set(randomData(Q, 6), 0);
  pictureDisk.set(pictureDisk.subarray(0, Q), 2 * Q);
  pictureDisk.set(parentDisk, 3 * Q);
  let corruptAt = 0;
  const tree = tmp.path('tree');
  const treeFile = mixedData(3 << 20, { unit: 4096, seed: 31 });

  before(async () => {
    mkdirSync(root);
    mkdirSync(join(root, 'nocors'));
    mkdirSync(join(root, 'lonely'));
    for (const f of readdirSync(vectors).filter((n) => n.endsWith('.hxz'))) copyFileSync(join(vectors, f), join(root, f));
    copyFileSync(join(vectors, 'thin-child.hxz'), join(root, 'lonely/thin-child.hxz'));
    await packSmall({ disk: writeData(tmp.path('medium.raw'), medium), output: join(root, 'medium.hxz') });
    copyFileSync(join(root, 'medium.hxz'), join(root, 'nocors/medium.hxz'));
    await packSmall({ disk: writeData(tmp.path('parent.raw'), parentDisk), output: join(root, 'picture-parent.hxz') });
    await packSmall({ disk: writeData(tmp.path('picture.raw'), pictureDisk), output: join(root, 'picture.hxz'), parent: join(root, 'picture-parent.hxz') });
    // corrupt.hxz: medium.hxz with one byte of a stored block past 1 MiB flipped.
    const a = await Archive.open(join(root, 'medium.hxz'));
    let victim: { offset: number; storedOffset: number } | undefined;
    for await (const e of a.entries('disk')) if (!victim && e.kind === EntryKind.DATA && e.offset >= 1 << 20) victim = e;
    await a.close();
    const bytes = readFileSync(join(root, 'medium.hxz'));
    bytes[victim!.storedOffset + 100] ^= 0x40;
    writeFileSync(join(root, 'corrupt.hxz'), bytes);
    corruptAt = victim!.offset;
    // files.hxz: a GPT + ext4 disk built by `hexz build` from a small tree.
    mkdirSync(join(tree, 'etc/app'), { recursive: true });
    writeFileSync(join(tree, 'etc/app/config.toml'), 'name = "hexz"\n');
    writeFileSync(join(tree, 'big.bin'), treeFile);
    symlinkSync('etc/app/config.toml', join(tree, 'link'));
    const built = runCli(['build', tree, '-o', join(root, 'files.hxz'), '--silent']);
    assert.equal(built.status, 0, built.stderr);
    nginx = await startNginx({ root, serverConfig: CORS_CONFIG });
    web = await startWeb();
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await web?.stop();
    await nginx?.close();
  });

  /** A fresh page of the viewer (optionally opening `archive` by ?url=), with the library loaded. */
  async function viewer(archive?: string): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    // tsx compiles this file's functions with esbuild's name helper; those passed to
    // page.evaluate run in the page, which has none.
    await page.evaluateOnNewDocument('globalThis.__name = (f) => f;');
    await page.goto(archive ? `${web.url}?url=${encodeURIComponent(archive)}` : web.url);
    await page.waitForFunction(() => (globalThis as { hexz?: unknown }).hexz !== undefined);
    assert.deepEqual(errors, [], 'no uncaught error in the page');
    return page;
  }

  const settled = (page: Page) => page.waitForFunction(() => !['idle', 'loading'].includes(document.body.dataset.state!), { timeout: 60_000 })
    .then(() => page.evaluate(() => document.body.dataset.state));

  test('every golden vector reads back in the page, byte for byte (thin chains found by URL, passwords unlocked with WebCrypto + Argon2id)', async () => {
    const page = await viewer();
    try {
      for (const [name, v] of Object.entries(manifest.vectors)) {
        const got = await page.evaluate(async (url: string, password: string | undefined) => {
          const { Archive } = (globalThis as unknown as { hexz: typeof import('../src/browser/index.ts') }).hexz;
          const a = await Archive.open(url, { password });
          const out: Record<string, string> = {};
          for (const s of a.streams) {
            const bytes = await a.readAt(s, 0, a.size(s));
            out[s] = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');
          }
          await a.close();
          return out;
        }, nginx.url(v.archive), v.password);
        for (const [stream, s] of Object.entries(v.streams)) assert.equal(got[stream], sha256(readFileSync(join(vectors, s.file))), `${name} ${stream}`);
      }
    } finally {
      await page.close();
    }
  });

  test('random ranges and a ReadableStream of a 24 MiB archive match the source; open + first 4 KiB read: ≤ 3 requests, no preflight', async () => {
    const page = await viewer();
    const logBefore = readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').length - 1;
    try {
      const ranges: [number, number][] = [[5 << 20, 4096], [0, 512], [(24 << 20) - 100, 100], [3 << 20, 3 << 20], [12345678, 70000]];
      const got = await page.evaluate(async (url: string, ranges: [number, number][]) => {
        const { Archive } = (globalThis as unknown as { hexz: typeof import('../src/browser/index.ts') }).hexz;
        const hex = async (b: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>))].map((x) => x.toString(16).padStart(2, '0')).join('');
        const a = await Archive.open(url);
        const out: string[] = [];
        for (const [at, n] of ranges) out.push(await hex(await a.readAt('disk', at, n)));
        const body = new Uint8Array(await new Response(a.readableStream('disk', { start: 1000, end: (20 << 20) + 7 })).arrayBuffer());
        out.push(await hex(body));
        await a.close();
        return out;
      }, nginx.url('medium.hxz'), ranges);
      ranges.forEach(([at, n], i) => assert.equal(got[i], sha256(medium.subarray(at, at + n)), `range ${at}+${n}`));
      assert.equal(got[ranges.length], sha256(medium.subarray(1000, (20 << 20) + 7)), 'ReadableStream of a range');
      // That long read was decoded on the page's Web Workers.
      assert.ok(browser.targets().some((t) => t.url().endsWith('/decode-worker.js')), 'a decode worker ran');
      const lines = readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').slice(logBefore).filter((l) => l.includes('/medium.hxz'));
      assert.equal(lines.filter((l) => l.includes('"OPTIONS ')).length, 0, 'no CORS preflight: only plain Range requests');
      assert.ok(lines.length >= 2, 'requests were logged');
      assert.ok(lines.slice(0, 3).some((l) => / 206 /.test(l)), 'range answers');
    } finally {
      await page.close();
    }
    // The open + first read alone, in a fresh page.
    const fresh = await viewer();
    try {
      const before = readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').length - 1;
      await fresh.evaluate(async (url: string) => {
        const { Archive } = (globalThis as unknown as { hexz: typeof import('../src/browser/index.ts') }).hexz;
        const a = await Archive.open(url);
        await a.readAt('disk', 5 << 20, 4096);
      }, nginx.url('medium.hxz'));
      const lines = readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').slice(before).filter((l) => l.includes('/medium.hxz'));
      assert.ok(lines.length <= 3, `open + first 4 KiB read: ${lines.length} requests\n${lines.join('\n')}`);
    } finally {
      await fresh.close();
    }
  });

  test('files inside a disk archive are listed and read in the page (ext4 in a GPT disk built by hexz build)', async () => {
    const page = await viewer();
    try {
      const got = await page.evaluate(async (url: string) => {
        const { Archive, listFiles, readFile } = (globalThis as unknown as { hexz: typeof import('../src/browser/index.ts') }).hexz;
        const a = await Archive.open(url);
        const listing = await listFiles(a);
        const entries: string[] = [];
        for await (const e of listing.entries) entries.push(`${e.path} ${e.type} ${e.type === 'file' ? e.size : ''}${e.target ? ` -> ${e.target}` : ''}`);
        const read = async (path: string) => {
          const f = await readFile(a, path);
          const parts: Uint8Array[] = [];
          for await (const c of f.chunks) parts.push(c);
          const all = new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer());
          return [...new Uint8Array(await crypto.subtle.digest('SHA-256', all))].map((b) => b.toString(16).padStart(2, '0')).join('');
        };
        const out = { fs: listing.filesystem.kind, entries, big: await read('/big.bin'), config: await read('/link') };
        await a.close();
        return out;
      }, nginx.url('files.hxz'));
      assert.match(got.fs, /ext4/);
      for (const line of ['/etc dir ', '/etc/app/config.toml file 14', `/big.bin file ${treeFile.length}`, '/link symlink  -> etc/app/config.toml']) {
        assert.ok(got.entries.includes(line), `${line} in ${JSON.stringify(got.entries)}`);
      }
      assert.equal(got.big, sha256(treeFile));
      assert.equal(got.config, sha256(Buffer.from('name = "hexz"\n')));
    } finally {
      await page.close();
    }
  });

  test('the page shows the header, the hex view, and a picture whose regions have the expected colours', async () => {
    const page = await viewer(nginx.url('picture.hxz'));
    try {
      assert.equal(await settled(page), 'ready', await page.$eval('#error', (e) => e.textContent));
      await page.waitForSelector('canvas[data-drawn="true"]');
      await page.waitForFunction(() => document.getElementById('hex')!.dataset.loading === 'false');
      assert.match(await page.$eval('[data-field="thin"]', (e) => e.textContent!), /1 parent/);
      assert.equal(await page.$eval('#parents tbody tr', (e) => (e as HTMLElement).dataset.status), 'found');
      assert.equal(await page.$eval('#hex', (e) => e.textContent), hexDump(pictureDisk.subarray(0, 512), 0));
      const canvas = (await page.$('.stream[data-stream="disk"] canvas'))!;
      const png = PNG.sync.read(Buffer.from(await canvas.screenshot({ type: 'png' })));
      const colourAt = (fx: number) => {
        const i = (Math.floor(png.height / 2) * png.width + Math.floor(fx * png.width)) * 4;
        return [png.data[i], png.data[i + 1], png.data[i + 2]];
      };
      const expected = [REGION_COLOURS.data, REGION_COLOURS.zero, REGION_COLOURS.dedup, REGION_COLOURS.parent];
      expected.forEach((rgb, q) => {
        const got = colourAt((q + 0.5) / 4);
        assert.ok(got.every((c, k) => Math.abs(c - rgb[k]) <= 12), `quarter ${q + 1}: colour ${got} expected ${[...rgb]}`);
      });
      // Paging the hex view.
      await page.click('#hex-next');
      await page.waitForFunction(() => document.getElementById('hex')!.dataset.offset === '512' && document.getElementById('hex')!.dataset.loading === 'false');
      assert.equal(await page.$eval('#hex', (e) => e.textContent), hexDump(pictureDisk.subarray(512, 1024), 512));
    } finally {
      await page.close();
    }
  });

  test('downloading a range saves exactly those bytes', async () => {
    const page = await viewer(nginx.url('medium.hxz'));
    const dir = tmp.path('downloads');
    mkdirSync(dir);
    try {
      assert.equal(await settled(page), 'ready');
      const cdp = await page.createCDPSession();
      await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir });
      await page.$eval('#download-start', (e) => ((e as HTMLInputElement).value = '0x100000'));
      await page.$eval('#download-length', (e) => ((e as HTMLInputElement).value = '3M'));
      await page.click('#download-form button[type="submit"]');
      await page.waitForFunction(() => document.getElementById('download-status')!.dataset.done === 'true', { timeout: 60_000 });
      const name = 'medium-disk-1048576-4194304.bin';
      const deadline = Date.now() + 20_000;
      while (!readdirSync(dir).includes(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(sha256(readFileSync(join(dir, name))), sha256(medium.subarray(1 << 20, 4 << 20)));
    } finally {
      await page.close();
    }
  });

  test('an encrypted archive asks for the password; a wrong one says so and asks again', async () => {
    const page = await viewer(nginx.url('encrypted-zstd.hxz'));
    try {
      assert.equal(await settled(page), 'locked');
      assert.equal(await page.$eval('#password-section', (e) => (e as HTMLElement).hidden), false);
      await page.type('#password', 'not it');
      await page.click('#password-form button');
      await page.waitForFunction(() => document.body.dataset.state === 'locked' && !document.getElementById('error')!.hidden, { timeout: 60_000 });
      assert.match(await page.$eval('#error', (e) => e.textContent!), /wrong password/);
      await page.type('#password', 'correct horse battery staple');
      await page.click('#password-form button');
      await page.waitForFunction(() => document.body.dataset.state === 'ready', { timeout: 60_000 });
      await page.waitForFunction(() => document.getElementById('hex')!.dataset.loading === 'false');
      const source = readFileSync(join(vectors, 'encrypted-zstd.disk.bin'));
      assert.equal(await page.$eval('#hex', (e) => e.textContent), hexDump(source.subarray(0, 512), 0));
    } finally {
      await page.close();
    }
  });

  test('errors are messages on the page: 404, CORS refused, a corrupt block, a missing parent', async () => {
    const cases: [string, RegExp][] = [
      [nginx.url('no-such.hxz'), /not found \(404/],
      [nginx.url('nocors/medium.hxz'), /CORS/],
    ];
    for (const [url, message] of cases) {
      const page = await viewer(url);
      try {
        assert.equal(await settled(page), 'error', url);
        assert.match(await page.$eval('#error', (e) => ((e as HTMLElement).hidden ? '' : e.textContent!)), message, url);
      } finally {
        await page.close();
      }
    }
    const corrupt = await viewer(nginx.url('corrupt.hxz'));
    try {
      assert.equal(await settled(corrupt), 'ready');
      await corrupt.$eval('#hex-offset', (e, at) => ((e as HTMLInputElement).value = String(at)), corruptAt);
      await corrupt.click('#hex-form button[type="submit"]');
      await corrupt.waitForFunction(() => document.getElementById('hex')!.dataset.error === 'true', { timeout: 30_000 });
      const text = await corrupt.$eval('#error', (e) => e.textContent!);
      assert.match(text, new RegExp(`disk block at offset ${corruptAt}.*(hash mismatch|does not decode)`), text);
      // A ReadableStream (decoded on the workers) delivers every byte before the damaged block, then fails naming it.
      const streamed = await corrupt.evaluate(async (url: string) => {
        const { Archive } = (globalThis as unknown as { hexz: typeof import('../src/browser/index.ts') }).hexz;
        const a = await Archive.open(url);
        const reader = a.readableStream('disk').getReader();
        let bytes = 0;
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return { bytes, error: '' };
            bytes += value.length;
          }
        } catch (err) {
          return { bytes, error: `${(err as Error).name}: ${(err as Error).message}` };
        } finally {
          await a.close();
        }
      }, nginx.url('corrupt.hxz'));
      assert.match(streamed.error, new RegExp(`CorruptArchiveError: .*disk block at offset ${corruptAt}`), streamed.error);
      assert.ok(streamed.bytes <= corruptAt && streamed.bytes >= corruptAt - (8 << 20), `${streamed.bytes} bytes delivered before the block at ${corruptAt}`);
    } finally {
      await corrupt.close();
    }
    const lonely = await viewer(nginx.url('lonely/thin-child.hxz'));
    try {
      assert.equal(await settled(lonely), 'ready');
      assert.equal(await lonely.$eval('#parents tbody tr', (e) => (e as HTMLElement).dataset.status), 'missing');
      assert.match(await lonely.$eval('#error', (e) => e.textContent!), /parent 1 .* is missing/);
    } finally {
      await lonely.close();
    }
  });
});
