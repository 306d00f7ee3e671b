/**
 * qcow2 output, judged by the real qemu-img: streams exported with `hexz extract --format qcow2`
 * (uncompressed, zlib, zstd; 512 B to 2 MiB clusters) must pass `qemu-img check` with no errors
 * and no leaks, and `qemu-img compare` must find them identical to the source.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { AbortedError, Archive, UsageError, exportQcow2, openImage } from '../src/index.ts';
import { decodeQcow2Header } from '../src/image/qcow2-header.ts';
import { assertBytes, listDir, mixedData, packSmall, randomData, readAll, runCli, tempDir, writeData } from './helpers.ts';

const hasQemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-io', ['--version']).status === 0;
const skip = hasQemu ? false : 'qemu-img not installed (Debian package qemu-utils)';
const MiB = 1 << 20;
const GiB = 1024 * MiB;

if (!hasQemu && process.env.CI === 'true') {
  test('qemu-img and qemu-io are installed (required in CI)', () => assert.fail('qemu-img/qemu-io missing: install qemu-utils'));
}

describe('qcow2 output', { skip }, () => {
  const tmp = tempDir('hexz-qcow2-out-');
  const p = tmp.path;
  const run = (cmd: string, ...args: string[]): string => {
    const r = spawnSync(cmd, args, { cwd: tmp.dir, encoding: 'utf8', maxBuffer: 64 * MiB });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  /** qemu-img check: no corruptions, no leaks; returns its JSON. */
  const check = (img: string) => {
    const r = spawnSync('qemu-img', ['check', '--output=json', img], { cwd: tmp.dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `qemu-img check ${img}: ${r.stdout}${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.equal(j['check-errors'], 0, img);
    assert.ok(!j.corruptions && !j.leaks, `${img}: ${r.stdout}`);
    return j;
  };
  const compare = (raw: string, img: string) => run('qemu-img', 'compare', '-f', 'raw', '-F', 'qcow2', raw, img);
  const header = (img: string) => {
    const b = readFileSync(p(img));
    return { h: decodeQcow2Header(b.subarray(0, 4096), b.length, img), refcountTableClusters: b.readUInt32BE(56) };
  };

  // 6 MiB + 1000 bytes: random, text, zero, duplicate and half-zero 4 KiB pieces; the size is not
  // a multiple of 512, so the image is padded with zeros to the next sector.
  const SIZE = 6 * MiB + 1000;
  before(async () => {
    writeData(p('src.raw'), mixedData(SIZE, { unit: 4096, seed: 5 }));
    await packSmall({ disk: p('src.raw'), output: p('src.hxz'), blockSize: '64K' });
    // What qemu-img compare sees: the source padded to whole sectors.
    const padded = new Uint8Array(Math.ceil(SIZE / 512) * 512);
    padded.set(readFileSync(p('src.raw')));
    writeData(p('src-padded.raw'), padded);
  });
  after(() => tmp.cleanup());

  test('uncompressed, zlib and zstd at 4K, 64K and 2M clusters: qemu-img check and compare pass', async () => {
    for (const compress of [undefined, 'zlib', 'zstd'] as const) {
      for (const cs of ['4K', '64K', '2M']) {
        const out = `out-${compress ?? 'none'}-${cs}.qcow2`;
        const args = ['extract', p('src.hxz'), '--format', 'qcow2', '--cluster-size', cs, '-o', p(out), '--silent'];
        if (compress) args.push('--compress', compress);
        const r = runCli(args);
        assert.equal(r.status, 0, r.stderr);
        const j = check(out);
        if (compress) assert.ok(j['compressed-clusters'] > 0, `${out}: no compressed clusters`);
        compare('src-padded.raw', out);
        const info = JSON.parse(run('qemu-img', 'info', '--output=json', out));
        assert.equal(info['virtual-size'], Math.ceil(SIZE / 512) * 512);
        assert.equal(info['format-specific'].data['compression-type'], compress === 'zstd' ? 'zstd' : 'zlib');
      }
    }
  });

  test('a 5 GiB sparse stream with data at both ends: L1 table over several clusters, sparse output', async () => {
    const fd = openSync(p('big.raw'), 'w');
    ftruncateSync(fd, 5 * GiB);
    writeSync(fd, randomData(MiB, 1), 0, MiB, 0);
    writeSync(fd, mixedData(MiB, { seed: 2 }), 0, MiB, 5 * GiB - MiB);
    closeSync(fd);
    await packSmall({ disk: p('big.raw'), output: p('big.hxz'), blockSize: '64K' });
    for (const compress of [undefined, 'zstd'] as const) {
      const out = `big-${compress ?? 'none'}.qcow2`;
      await exportQcow2(p('big.hxz'), { output: p(out), clusterSize: 4096, compress, workers: 2 });
      check(out);
      compare('big.raw', out);
      const { h } = header(out);
      assert.equal(h.size, 5 * GiB);
      assert.ok(h.l1Size * 8 > h.clusterSize, `L1 of ${h.l1Size} entries fits one cluster`);
      assert.ok(readFileSync(p(out)).length < 4 * MiB, `${out} is not sparse`);
    }
  });

  test('512 B clusters: a refcount table of several clusters', async () => {
    writeData(p('rand.raw'), randomData(20 * MiB, 9));
    await packSmall({ disk: p('rand.raw'), output: p('rand.hxz'), blockSize: '64K' });
    for (const compress of [undefined, 'zlib'] as const) {
      const out = `rand-${compress ?? 'none'}.qcow2`;
      await exportQcow2(p('rand.hxz'), { output: p(out), clusterSize: 512, compress, workers: 2 });
      check(out);
      compare('rand.raw', out);
      const { refcountTableClusters, h } = header(out);
      assert.ok(refcountTableClusters > 1, `refcount table has ${refcountTableClusters} cluster(s)`);
      assert.ok(h.l1Size * 8 > h.clusterSize);
    }
  });

  test('round trip: openImage and pack --disk read our qcow2 back as the source', async () => {
    const src = readFileSync(p('src-padded.raw'));
    for (const out of ['out-zstd-4K.qcow2', 'out-zlib-64K.qcow2', 'out-none-2M.qcow2']) {
      const img = await openImage(p(out));
      try {
        assert.equal(img.format, 'qcow2');
        assertBytes(await img.read(0, img.size), src, out);
      } finally {
        await img.close();
      }
      const r = runCli(['pack', '--disk', p(out), '-o', p(`${out}.hxz`), '--silent']);
      assert.equal(r.status, 0, r.stderr);
      const a = await Archive.open(p(`${out}.hxz`));
      try {
        assertBytes(await readAll(a, 'disk'), src, `${out} packed`);
      } finally {
        await a.close();
      }
    }
  });

  test('existing output refused, bad options, abort: nothing left behind', async () => {
    const before = listDir(tmp.dir);
    const exists = runCli(['extract', p('src.hxz'), '--format', 'qcow2', '-o', p('out-none-4K.qcow2')]);
    assert.equal(exists.status, 2, exists.stderr);
    const rawCompress = runCli(['extract', p('src.hxz'), '--compress', 'zstd', '-o', p('x.raw')]);
    assert.equal(rawCompress.status, 2, rawCompress.stderr);
    const badSize = runCli(['extract', p('src.hxz'), '--format', 'qcow2', '--cluster-size', '3K', '-o', p('x.qcow2')]);
    assert.equal(badSize.status, 2, badSize.stderr);
    const badCodec = runCli(['extract', p('src.hxz'), '--format', 'qcow2', '--compress', 'lz4', '-o', p('x.qcow2')]);
    assert.equal(badCodec.status, 2, badCodec.stderr);
    await assert.rejects(exportQcow2(p('src.hxz'), { output: p('x.qcow2'), clusterSize: 4 * MiB }), UsageError);
    const ac = new AbortController();
    await assert.rejects(
      exportQcow2(p('src.hxz'), { output: p('x.qcow2'), compress: 'zstd', workers: 1, signal: ac.signal, onProgress: () => ac.abort() }),
      AbortedError,
    );
    assert.deepEqual(listDir(tmp.dir), before);
    // --force overwrites.
    const forced = runCli(['extract', p('src.hxz'), '--format', 'qcow2', '-o', p('out-none-4K.qcow2'), '--force', '--silent']);
    assert.equal(forced.status, 0, forced.stderr);
    check('out-none-4K.qcow2');
  });
});
