/**
 * `hexz serve` end to end, as a user runs it: the CLI process serves archives over NBD (TCP and
 * a Unix socket) and HTTP; real clients (qemu-img, nbdinfo, curl) read them; SIGTERM and SIGINT
 * end it with exit 0; bad invocations fail with one error line. The protocol details are in
 * nbd-server.test.ts and http-export-server.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { assertBytes, assertOneErrorLine, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.js';
import { startHexzServe } from './servers/hexz-serve.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const tools = ['qemu-img', 'nbdinfo', 'curl'];
const missing = tools.filter((t) => !have(t));
const skip = missing.length && process.env.CI !== 'true' ? `${missing.join(', ')} not installed (Debian qemu-utils, libnbd-bin, curl): serve CLI tests skipped` : false;
if (skip) console.log(`# ${skip}`);

const MiB = 1 << 20;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

test('serve: qemu-img over NBD, nbdinfo --map, curl over HTTP, clean exit on SIGTERM', { skip, timeout: 120_000 }, async () => {
  const tmp = tempDir();
  try {
    const data = mixedData(6 * MiB, { seed: 5 });
    data.fill(0, 2 * MiB, 4 * MiB);
    const raw = writeData(tmp.path('disk.raw'), data);
    const mem = writeData(tmp.path('mem.raw'), mixedData(MiB, { seed: 6 }));
    await packSmall({ disk: raw, memory: mem, output: tmp.path('vm.hxz'), blockSize: 65536 });
    const sock = tmp.path('nbd.sock');
    const s = await startHexzServe([tmp.path('vm.hxz'), '--nbd', '0', '--nbd-socket', sock, '--http', '127.0.0.1:0']);
    let code: number | null;
    try {
      assert.deepEqual(s.exports.map((e) => [e.name, e.size]), [['disk', 6 * MiB], ['memory', MiB]]);
      const nbd = s.url('disk', 'nbd:');
      assert.match(nbd, /^nbd:\/\/127\.0\.0\.1:\d+\/disk$/);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbd, tmp.path('out.raw')]);
      assertBytes(readFileSync(tmp.path('out.raw')), data, 'qemu-img convert of the NBD export');
      const map = run('nbdinfo', ['--map', '--json', nbd]);
      const zeros = (JSON.parse(map) as { offset: number; length: number; type: number }[]).filter((m) => (m.type & 2) !== 0);
      assert.deepEqual(zeros.map((m) => [m.offset, m.length]), [[2 * MiB, 2 * MiB]], `zero ranges in ${map}`);
      const unix = s.url('memory', 'nbd+unix:');
      assert.equal(run('nbdinfo', ['--size', unix]).trim(), String(MiB));
      const http = s.url('disk', 'http:');
      const body = spawnSync('curl', ['-sf', '-r', `${3 * MiB - 10}-${5 * MiB - 1}`, http], { maxBuffer: 64 * MiB });
      assert.equal(body.status, 0, body.stderr?.toString());
      assertBytes(body.stdout, data.subarray(3 * MiB - 10, 5 * MiB), 'curl range of the HTTP export');
    } finally {
      code = await s.stop('SIGTERM');
    }
    assert.equal(code, 0, `exit status after SIGTERM: ${s.stderr()}`);
  } finally {
    tmp.cleanup();
  }
});

test('serve: several archives are NAME/stream, SIGINT exits 0', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  try {
    const a = mixedData(MiB, { seed: 1 });
    const b = mixedData(2 * MiB, { seed: 2 });
    await packSmall({ disk: writeData(tmp.path('a.raw'), a), output: tmp.path('mon.hxz') });
    await packSmall({ disk: writeData(tmp.path('b.raw'), b), output: tmp.path('tue.hxz') });
    const s = await startHexzServe([tmp.path('mon.hxz'), tmp.path('tue.hxz'), '--http', '0']);
    let code: number | null;
    try {
      assert.deepEqual(s.exports.map((e) => e.name), ['mon/disk', 'tue/disk']);
      assert.ok(s.exports.every((e) => e.urls.length === 1 && e.urls[0].startsWith('http://')), 'only HTTP when only --http is given');
      const got = spawnSync('curl', ['-sf', s.url('tue/disk', 'http:')], { maxBuffer: 64 * MiB });
      assertBytes(got.stdout, b, 'tue/disk over HTTP');
    } finally {
      code = await s.stop('SIGINT');
    }
    assert.equal(code, 0, s.stderr());
  } finally {
    tmp.cleanup();
  }
});

test('serve: bad invocations fail with one error line and a non-zero exit', { timeout: 60_000 }, async () => {
  const tmp = tempDir();
  try {
    await packSmall({ disk: writeData(tmp.path('a.raw'), mixedData(MiB, { seed: 1 })), output: tmp.path('a.hxz') });
    const cases: [string, string[]][] = [
      ['missing archive', [tmp.path('nope.hxz'), '--nbd', '0']],
      ['not an archive', [tmp.path('a.raw'), '--nbd', '0']],
      ['bad port', [tmp.path('a.hxz'), '--nbd', '70000']],
      ['bad address', [tmp.path('a.hxz'), '--http', 'x:y']],
      ['same name twice', [tmp.path('a.hxz'), tmp.path('a.hxz'), '--nbd', '0']],
    ];
    for (const [what, args] of cases) {
      const r = runCli(['serve', ...args]);
      assert.notEqual(r.status, 0, what);
      assertOneErrorLine(r.stderr, what);
    }
    // A port already taken is a clear error, not a crash.
    const first = await startHexzServe([tmp.path('a.hxz'), '--http', '0']);
    try {
      const port = new URL(first.url('disk', 'http:')).port;
      const r = runCli(['serve', tmp.path('a.hxz'), '--http', port]);
      assert.notEqual(r.status, 0);
      assertOneErrorLine(r.stderr, 'port in use');
      assert.match(r.stderr, /in use|EADDRINUSE/i);
    } finally {
      await first.stop();
    }
  } finally {
    tmp.cleanup();
  }
});

test('serve: an encrypted archive with its password over NBD; without one, a clear error', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  try {
    const data = mixedData(2 * MiB, { seed: 9 });
    await packSmall({ disk: writeData(tmp.path('a.raw'), data), output: tmp.path('secret.hxz'), encrypt: { password: 'pw-serve', kdf: { memoryKiB: 256, iterations: 1, lanes: 1 } } });
    const s = await startHexzServe([tmp.path('secret.hxz'), '--nbd', '0'], { HEXZ_PASSWORD: 'pw-serve' });
    try {
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', s.url('disk', 'nbd:'), tmp.path('out.raw')]);
      assertBytes(readFileSync(tmp.path('out.raw')), data, 'encrypted archive over NBD');
    } finally {
      assert.equal(await s.stop(), 0);
    }
    const wrong = runCli(['serve', tmp.path('secret.hxz'), '--nbd', '0'], { env: { HEXZ_PASSWORD: 'nope' } });
    assert.equal(wrong.status, 7, wrong.stderr);
    assertOneErrorLine(wrong.stderr, 'wrong password');
  } finally {
    tmp.cleanup();
  }
});

test('serve --overlay: NBD writes land in the overlay, survive kill -9 after a flush, never touch the archive', { skip, timeout: 120_000 }, async () => {
  const tmp = tempDir();
  try {
    const data = mixedData(4 * MiB, { seed: 21 });
    await packSmall({ disk: writeData(tmp.path('a.raw'), data), output: tmp.path('base.hxz'), blockSize: 65536 });
    const archiveBefore = readFileSync(tmp.path('base.hxz'));
    const overlay = tmp.path('vm.ovl');
    const model = Buffer.from(data);
    let s = await startHexzServe([tmp.path('base.hxz'), '--overlay', overlay, '--nbd', '0']);
    try {
      const nbd = s.url('disk', 'nbd:');
      assert.deepEqual(s.exports.map((e) => e.name), ['disk']);
      // Unaligned write, a zeroed range and a discard, then a flush; qemu-io runs them in order.
      run('qemu-io', ['-f', 'raw', nbd, '-c', 'write -P 0x5a 1000 10000', '-c', 'write -z 1048576 65536', '-c', 'flush']);
      model.fill(0x5a, 1000, 11000);
      model.fill(0, MiB, MiB + 65536);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbd, tmp.path('out1.raw')]);
      assertBytes(readFileSync(tmp.path('out1.raw')), model, 'merged read after writes');
    } finally {
      // kill -9: only what was flushed may be relied on, and it all was.
      await s.stop('SIGKILL');
    }
    s = await startHexzServe([tmp.path('base.hxz'), '--overlay', overlay, '--nbd', '0']);
    try {
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', s.url('disk', 'nbd:'), tmp.path('out2.raw')]);
      assertBytes(readFileSync(tmp.path('out2.raw')), model, 'reopened overlay after kill -9');
    } finally {
      assert.equal(await s.stop(), 0, s.stderr());
    }
    assertBytes(readFileSync(tmp.path('base.hxz')), archiveBefore, 'the archive is never written');
    const info = runCli(['overlay', overlay, '--json']);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout.toString(), /"disk"/);
    const two = runCli(['serve', tmp.path('base.hxz'), tmp.path('base.hxz'), '--overlay', overlay, '--nbd', '0']);
    assert.equal(two.status, 2);
    assertOneErrorLine(two.stderr, 'two archives with --overlay');
  } finally {
    tmp.cleanup();
  }
});
