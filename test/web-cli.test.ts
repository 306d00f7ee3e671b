/**
 * `hexz web` end to end, as a user runs it: the built CLI serves dist/web (the viewer page) with
 * the right content types, GET and HEAD only, nothing outside dist/web whatever the path says;
 * a port in use is one error line; SIGTERM and SIGINT end it with exit 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { assertNoNodeWarning, assertOneErrorLine, runCli } from './helpers.ts';
import { startCliServer, type CliServer } from './servers/cli-server.ts';

const root = new URL('..', import.meta.url).pathname;
const page = join(root, 'dist/web');
if (!existsSync(join(page, 'index.html')) || !existsSync(join(page, 'zstd.wasm'))) throw new Error('dist/web is not built: run npm run build');

/** Starts `node bin/hexz.js web ARGS` and waits for its first line on stdout. */
const startWeb = (args: string[]): Promise<CliServer> => startCliServer(['web', ...args]);

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request with `path` sent exactly as given (fetch would normalize `..` away first). */
function raw(base: string, method: string, path: string): Promise<Reply> {
  const u = new URL(base);
  return new Promise((res, rej) => {
    const req = request({ host: u.hostname, port: u.port, method, path, agent: false }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => res({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(parts) }));
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end();
  });
}

test('web --json: serves dist/web with content types, HEAD, 404 outside it, 405 for POST; SIGTERM exits 0', { timeout: 60_000 }, async () => {
  const w = await startWeb(['--port', '0', '--json']);
  let code: number | null;
  try {
    const printed = JSON.parse(w.line) as { url: string };
    assert.deepEqual(Object.keys(printed), ['url']);
    assert.match(printed.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const base = printed.url;

    const index = await fetch(base);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html\b/);
    assert.deepEqual(Buffer.from(await index.arrayBuffer()), readFileSync(join(page, 'index.html')));
    const indexByName = await fetch(new URL('index.html', base));
    assert.equal(indexByName.status, 200);
    await indexByName.arrayBuffer();

    const app = await fetch(new URL('app.js', base));
    assert.equal(app.status, 200);
    assert.match(app.headers.get('content-type') ?? '', /^text\/javascript\b/);
    assert.equal(await app.text(), readFileSync(join(page, 'app.js'), 'utf8'));

    const css = await fetch(new URL('style.css', base));
    assert.match(css.headers.get('content-type') ?? '', /^text\/css\b/);
    await css.arrayBuffer();

    const wasmSize = statSync(join(page, 'zstd.wasm')).size;
    const wasm = await fetch(new URL('zstd.wasm', base));
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    assert.equal(wasm.headers.get('content-length'), String(wasmSize));
    const wasmBytes = Buffer.from(await wasm.arrayBuffer());
    assert.equal(wasmBytes.length, wasmSize);
    assert.deepEqual(wasmBytes.subarray(0, 4), Buffer.from([0x00, 0x61, 0x73, 0x6d]), 'WebAssembly magic');
    assert.ok(WebAssembly.validate(wasmBytes), 'a valid WebAssembly module');

    const head = await raw(base, 'HEAD', '/zstd.wasm');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-type'], 'application/wasm');
    assert.equal(head.headers['content-length'], String(wasmSize));
    assert.equal(head.body.length, 0, 'HEAD has no body');
    const headIndex = await raw(base, 'HEAD', '/');
    assert.equal(headIndex.status, 200);
    assert.equal(headIndex.headers['content-length'], String(statSync(join(page, 'index.html')).size));
    assert.equal(headIndex.body.length, 0);

    // Nothing outside dist/web, however the path is spelled (dist/index.js and package.json exist).
    for (const path of [
      '/missing.js', '/chunks', '/chunks/', '/../package.json', '/../../package.json', '/%2e%2e/package.json', '/%2E%2E/%2e%2e/package.json',
      '/chunks/..%2f..%2fpackage.json', '/chunks/..%2f..%2f..%2fpackage.json', '/..%2findex.js', '/..%2f..%2fpackage.json',
      '/%2e%2e%2f%2e%2e%2fpackage.json', '/..%5c..%5cpackage.json', '/index.html%00', '/index.html%00.js', '/%00', '//etc/passwd',
    ]) {
      const r = await raw(base, 'GET', path);
      assert.equal(r.status, 404, `GET ${path}: ${r.status} ${r.body.toString('utf8', 0, 80)}`);
      assert.equal(r.body.toString(), 'not found\n', `GET ${path}`);
      const h = await raw(base, 'HEAD', path);
      assert.equal(h.status, 404, `HEAD ${path}`);
      assert.equal(h.body.length, 0);
    }
    assert.equal((await raw(base, 'GET', '/%zz')).status, 400, 'a malformed escape');

    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await raw(base, method, '/index.html');
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, 'GET, HEAD', method);
    }
    const post = await fetch(base, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();

    // Still serving after all that.
    assert.equal((await raw(base, 'GET', '/app.js')).status, 200);
  } finally {
    code = await w.stop('SIGTERM');
  }
  assert.equal(code, 0, `exit status after SIGTERM: ${w.stderr()}`);
  assert.equal(w.stderr(), '', 'nothing on stderr');
});

test('web: a port in use is one error line and a non-zero exit; SIGINT exits 0', { timeout: 60_000 }, async () => {
  const w = await startWeb(['--port', '127.0.0.1:0', '--json']);
  let code: number | null;
  try {
    const { url } = JSON.parse(w.line) as { url: string };
    const port = new URL(url).port;
    for (const address of [port, `127.0.0.1:${port}`]) {
      const r = runCli(['web', '--port', address]);
      assert.notEqual(r.status, 0, `second hexz web on ${address}`);
      assert.equal(r.signal, null);
      assertOneErrorLine(r.stderr, `port ${address} in use`);
      assert.match(r.stderr, /in use|EADDRINUSE/i);
      assert.equal(r.stdout.length, 0, 'no URL printed');
    }
    const r = await fetch(url);
    assert.equal(r.status, 200, 'the first one still serves');
    await r.arrayBuffer();
  } finally {
    code = await w.stop('SIGINT');
  }
  assert.equal(code, 0, `exit status after SIGINT: ${w.stderr()}`);
  assert.equal(w.stderr(), '');
});

test('web without --json prints a line with the URL, which serves the page', { timeout: 60_000 }, async () => {
  const w = await startWeb(['--port', '0']);
  let code: number | null;
  try {
    const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(w.line);
    assert.ok(m, `a URL in ${JSON.stringify(w.line)}`);
    assert.throws(() => JSON.parse(w.line), 'not JSON');
    const r = await fetch(m[0]);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html\b/);
    await r.arrayBuffer();
  } finally {
    code = await w.stop('SIGTERM');
  }
  assert.equal(code, 0, w.stderr());
});

test('web --help mentions ?url= and CORS; bad ports are one error line', () => {
  const help = runCli(['web', '--help']);
  assert.equal(help.status, 0, help.stderr);
  const text = help.stdout.toString('utf8');
  assert.match(text, /\?url=/);
  assert.match(text, /CORS/);
  assert.match(text, /--port/);
  for (const bad of ['70000', 'x:y', '-1']) {
    const r = runCli(['web', '--port', bad]);
    assert.notEqual(r.status, 0, `--port ${bad}`);
    assertOneErrorLine(r.stderr, `--port ${bad}`);
    assertNoNodeWarning(r.stderr, `--port ${bad}`);
  }
});
