/**
 * The suite fails on Node process warnings, and the two leaks that produced them stay fixed:
 * the preload (test/setup/fail-on-warning.ts) really fails a test file that warns or leaks a
 * FileHandle, `npm test` loads it, CLI runs are checked too (helpers.runCli), and `hexz cat`
 * of a long stream into a pipe no longer adds an 'error' listener per full pipe buffer.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODE_WARNING, assertNoNodeWarning, randomData, runCli, tempDir, writeData } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PRELOAD = './test/setup/fail-on-warning.ts';
const MiB = 1024 * 1024;

const tmp = tempDir('hexz-warn-');
after(() => tmp.cleanup());

/** Runs `node --import tsx --import PRELOAD --test FILE` on a fixture test file. */
function runFixture(name: string, body: string): { status: number | null; output: string } {
  const file = tmp.path(name);
  writeFileSync(file, body);
  // cwd is the repository, so `tsx` and the preload resolve as they do under npm test. Without
  // NODE_TEST_CONTEXT, which marks this process as a test runner's child, the fixture gets a
  // runner of its own (otherwise node:test skips it as a recursive run).
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', PRELOAD, '--test', file], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the suite fails on process warnings', () => {
  test('a test that emits a warning fails, named, and the file exits non-zero', () => {
    const r = runFixture('warns.test.ts', `
      import { test } from 'node:test';
      test('emits a warning', async () => {
        process.emitWarning('deliberate test warning');
        await new Promise((r) => setTimeout(r, 20));
      });
      test('passes', () => {});
    `);
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /not ok 1 - emits a warning/);
    assert.match(r.output, /process warning .*deliberate test warning/);
    assert.match(r.output, /# fail 1/);
  });

  test('a FileHandle left for the garbage collector fails the file (DEP0137), even when no test notices', () => {
    const r = runFixture('leaks.test.ts', `
      import { test } from 'node:test';
      import { open } from 'node:fs/promises';
      test('opens and forgets a file', async () => { await open(${JSON.stringify(fileURLToPath(import.meta.url))}); });
    `);
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /Closing file descriptor \d+ on garbage collection/);
  });

  test('a MaxListenersExceededWarning fails the test', () => {
    const r = runFixture('listeners.test.ts', `
      import { test } from 'node:test';
      import { EventEmitter } from 'node:events';
      test('adds eleven listeners', async () => {
        const e = new EventEmitter();
        for (let i = 0; i < 11; i++) e.on('error', () => {});
        await new Promise((r) => setTimeout(r, 20));
      });
    `);
    assert.notEqual(r.status, 0, r.output);
    assert.match(r.output, /MaxListenersExceededWarning/);
  });

  test('a clean file still passes (the check is not failing everything)', () => {
    const r = runFixture('clean.test.ts', `
      import { test } from 'node:test';
      import { open } from 'node:fs/promises';
      test('opens and closes', async () => { const fh = await open(${JSON.stringify(fileURLToPath(import.meta.url))}); await fh.close(); });
    `);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /# pass 1/);
  });

  test('npm test loads the preload', () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> };
    assert.ok(pkg.scripts.test.includes(`--import ${PRELOAD} `), `package.json "test" does not load ${PRELOAD}: ${pkg.scripts.test}`);
  });

  test('a CLI process that leaks a FileHandle warns on stderr with the preload runCli adds', () => {
    // Opened inside a function: a value awaited at a module's top level stays reachable.
    const leak = `import { open } from 'node:fs/promises'; const leak = async () => { await open(${JSON.stringify(fileURLToPath(import.meta.url))}); }; await leak();`;
    const run = (preload: string[]) => spawnSync(process.execPath, [...preload, '--input-type=module', '-e', leak], { encoding: 'utf8' });
    const gc = new URL('./setup/gc-before-exit.mjs', import.meta.url).href;
    const r = run(['--import', gc]);
    assert.equal(r.status, 0, r.stderr);
    assert.throws(() => assertNoNodeWarning(r.stderr, 'leaky process'), /Closing file descriptor \d+ on garbage collection/);
    // Without it the leak goes unnoticed: the process exits before any collection.
    assert.doesNotMatch(run([]).stderr, NODE_WARNING);
  });

  test('CLI stderr is checked for Node warnings, not for hexz messages', () => {
    for (const s of [
      '(node:123) Warning: Closing file descriptor 20 on garbage collection\n',
      '(node:123) [DEP0137] DeprecationWarning: Closing a FileHandle object on garbage collection is deprecated.\n',
      'MaxListenersExceededWarning: Possible EventEmitter memory leak detected. 11 error listeners added to [Socket].\n',
    ]) assert.throws(() => assertNoNodeWarning(s, 'sample'), /process warning/, s);
    assert.doesNotMatch('hexz: warning: a.hxz: skipped: not a hexz archive\n', NODE_WARNING);
  });
});

describe('hexz cat into a pipe', () => {
  test('a 96 MiB stream: right bytes and no listener leak warning', () => {
    // Mostly a hole: the archive is small, but cat still writes 96 MiB through the pipe, which
    // fills it (and waits for 'drain') far more than 10 times.
    const raw = tmp.path('big.raw');
    const head = randomData(MiB, 5);
    writeData(raw, head);
    truncateSync(raw, 96 * MiB);
    const archive = tmp.path('big.hxz');
    assert.equal(runCli(['pack', '--disk', raw, '-o', archive, '--silent']).status, 0);
    const r = runCli(['cat', archive, '--stream', 'disk']); // runCli fails on a Node warning
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.length, 96 * MiB);
    assert.ok(r.stdout.subarray(0, MiB).equals(Buffer.from(head)), 'first MiB');
    assert.ok(r.stdout.subarray(MiB).every((b) => b === 0), 'the rest is zeros');
  });
});
