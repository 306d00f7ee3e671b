/**
 * qcow2 input, judged by the real qemu-img: images made by qemu-img/qemu-io are packed, read
 * back, and compared byte for byte with `qemu-img convert -O raw` of the same image; corrupted
 * fixtures (real images with patched bytes) each give their specific error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  Archive, CorruptImageError, StoreError, UnsupportedError, openImage, type DiskImage,
} from '../src/index.ts';
import { Rng, assertBytes, assertOneErrorLine, isZero, mixedData, packSmall, readAll, runCli, tempDir, writeData } from './helpers.ts';

const hasQemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-io', ['--version']).status === 0;
const skip = hasQemu ? false : 'qemu-img not installed (Debian package qemu-utils)';
const MiB = 1 << 20;

if (!hasQemu && process.env.CI === 'true') {
  test('qemu-img and qemu-io are installed (required in CI)', () => assert.fail('qemu-img/qemu-io missing: install qemu-utils'));
}

describe('qcow2 input', { skip }, () => {
  const tmp = tempDir('hexz-qcow2-');
  const p = tmp.path;
  /** Runs a program in the temp dir; fails the test with its stderr when it fails. */
  const run = (cmd: string, ...args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: tmp.dir, encoding: 'utf8' });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  /** What qemu says the image holds. */
  const qemuRaw = (img: string): Uint8Array => {
    run('qemu-img', 'convert', '-O', 'raw', img, p('ref.raw'));
    const b = readFileSync(p('ref.raw'));
    rmSync(p('ref.raw'));
    return b;
  };
  /** Packs `img`, reads the archive back whole, compares with qemu's raw conversion. */
  const packMatches = async (img: string, blockSize: string | number = '64K') => {
    const out = p(`${img}.hxz`);
    await packSmall({ disk: p(img), output: out, blockSize, force: true });
    const a = await Archive.open(out);
    try {
      assertBytes(await readAll(a, 'disk'), qemuRaw(img), img);
    } finally {
      await a.close();
    }
  };

  before(() => {
    // 16 MiB of real-ish data: random, text, zeros, duplicates, half-zero pieces of 4 KiB, then
    // a 1 MiB zero gap and a run of patterned data.
    const base = mixedData(16 * MiB, { unit: 4096, seed: 11 });
    base.fill(0, 5 * MiB, 6 * MiB);
    base.fill(0x5a, 9 * MiB + 123, 9 * MiB + 70_000);
    writeData(p('base.raw'), base);
  });
  after(() => tmp.cleanup());

  test('v2 (compat=0.10) and v3, cluster sizes 4K, 64K, 2M, uncompressed', async () => {
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=0.10', 'base.raw', 'v2.qcow2');
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1,cluster_size=4k', 'base.raw', 'v3-4k.qcow2');
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1,cluster_size=2M', 'base.raw', 'v3-2m.qcow2');
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=0.10,cluster_size=512', 'base.raw', 'v2-512.qcow2');
    for (const img of ['v2.qcow2', 'v3-4k.qcow2', 'v3-2m.qcow2', 'v2-512.qcow2']) await packMatches(img);
    await packMatches('v3-4k.qcow2', '4K');
    await packMatches('v3-2m.qcow2', '1M');
  });

  test('compressed clusters: zlib and zstd at 4K, 64K and 2M clusters', async () => {
    for (const [type, cs] of [['zlib', '64k'], ['zstd', '64k'], ['zlib', '4k'], ['zstd', '2M'], ['zlib', '2M']]) {
      const img = `c-${type}-${cs}.qcow2`;
      run('qemu-img', 'convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `compression_type=${type},cluster_size=${cs}`, 'base.raw', img);
      await packMatches(img);
    }
    // v2 images always use zlib.
    run('qemu-img', 'convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=0.10', 'base.raw', 'c-v2.qcow2');
    await packMatches('c-v2.qcow2', '4K');
  });

  test('written, zeroed (write -z) and discarded ranges, v2 and v3', async () => {
    for (const compat of ['0.10', '1.1']) {
      const img = `io-${compat}.qcow2`;
      run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', `compat=${compat}`, img, '40M');
      run('qemu-io', '-c', 'write -P 0xab 1M 3M', '-c', 'write -z 2M 512k', '-c', 'discard 3M 64k',
        '-c', 'write -P 0x11 20M 100k', '-c', 'write -z 20M 4k', '-c', 'write -P 0x22 39M 1M', '-c', 'discard 39M 512k', img);
      await packMatches(img);
    }
    // Zero clusters are zero extents, answered without reading.
    const img = await openImage(p('io-1.1.qcow2'));
    try {
      const ext = await img.extents(0, img.size);
      assert.ok(ext.some((e) => e.kind === 'zero' && e.offset <= 2 * MiB && e.offset + e.length >= 2 * MiB + 512 * 1024), JSON.stringify(ext));
      assert.ok(!ext.some((e) => e.kind === 'data' && e.offset + e.length <= MiB));
    } finally {
      await img.close();
    }
  });

  test('backing files: qcow2 over raw, qcow2 over qcow2, relative names, overlay larger than backing', async () => {
    run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'ov1.qcow2');
    run('qemu-io', '-c', 'write -P 0xcd 64k 200k', '-c', 'write -z 4M 1M', '-c', 'discard 8M 64k', 'ov1.qcow2');
    run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', '-b', 'ov1.qcow2', '-F', 'qcow2', 'ov2.qcow2', '24M');
    run('qemu-io', '-c', 'write -P 0xee 3M 8k', '-c', 'write -P 0x77 20M 10k', 'ov2.qcow2');
    // A compressed layer over a compressed base, in a subdirectory so names resolve against it.
    run('mkdir', '-p', 'sub');
    run('qemu-img', 'convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', 'base.raw', 'sub/cbase.qcow2');
    run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'cbase.qcow2', '-F', 'qcow2', 'sub/ctop.qcow2');
    run('qemu-io', '-c', 'write -P 0x42 100k 50k', 'sub/ctop.qcow2');
    for (const img of ['ov1.qcow2', 'ov2.qcow2', 'sub/ctop.qcow2']) await packMatches(img);
  });

  test('openImage: random reads and extents match qemu-img convert', async () => {
    for (const name of ['ov2.qcow2', 'c-zlib-4k.qcow2', 'c-zstd-2M.qcow2', 'v2-512.qcow2']) {
      const ref = qemuRaw(name);
      const img: DiskImage = await openImage(p(name));
      try {
        assert.equal(img.format, 'qcow2');
        assert.equal(img.size, ref.length);
        const rng = new Rng(5);
        for (let i = 0; i < 60; i++) {
          const off = rng.int(img.size);
          const len = Math.min(img.size - off, rng.range(1, 300_000));
          assertBytes(await img.read(off, len), ref.subarray(off, off + len), `${name} read ${off}+${len}`);
        }
        for (const e of await img.extents(0, img.size)) {
          if (e.kind === 'zero') assert.ok(isZero(ref.subarray(e.offset, e.offset + e.length)), `${name}: zero extent at ${e.offset} holds data`);
        }
      } finally {
        await img.close();
      }
    }
    const raw = await openImage(p('base.raw'));
    assert.equal(raw.format, 'raw');
    await raw.close();
  });

  test('CLI: --disk-format overrides detection; a damaged image exits 9', () => {
    const asRaw = runCli(['pack', '--disk', p('v2.qcow2'), '--disk-format', 'raw', '-o', p('asraw.hxz'), '--silent']);
    assert.equal(asRaw.status, 0, asRaw.stderr);
    const extracted = runCli(['extract', p('asraw.hxz'), '-o', p('asraw.out'), '--silent']);
    assert.equal(extracted.status, 0, extracted.stderr);
    assertBytes(readFileSync(p('asraw.out')), readFileSync(p('v2.qcow2')), 'qcow2 file packed as raw');
    const auto = runCli(['pack', '--disk', p('c-zstd-64k.qcow2'), '-o', p('auto.hxz'), '--silent']);
    assert.equal(auto.status, 0, auto.stderr);
    const notQcow = runCli(['pack', '--disk', p('base.raw'), '--disk-format', 'qcow2', '-o', p('x.hxz')]);
    assert.equal(notQcow.status, 9);
    assertOneErrorLine(notQcow.stderr, 'raw as qcow2');
    assert.match(notQcow.stderr, /not a qcow2 image/);
    const bad = runCli(['pack', '--disk', p('v2.qcow2'), '--disk-format', 'vmdk', '-o', p('x.hxz')]);
    assert.equal(bad.status, 2);
  });

  test('a virtual size that is not a multiple of 512 is rounded down to whole sectors, as qemu does', () => {
    // qemu-img always writes whole sectors; patch the size field of one it made. The data runs
    // to the last byte so a reader that kept the odd tail, or rounded up, would differ.
    run('qemu-img', 'create', '-q', '-f', 'qcow2', 'odd.qcow2', '4M');
    run('qemu-io', '-c', 'write -P 0xab 0 4M', 'odd.qcow2');
    for (const size of [4 * MiB - 1000, 4 * MiB - 1, 700, 511]) {
      const bytes = readFileSync(p('odd.qcow2'));
      bytes.writeBigUInt64BE(BigInt(size), 24);
      writeFileSync(p('odd-size.qcow2'), bytes);
      const info = spawnSync('qemu-img', ['info', '--output=json', p('odd-size.qcow2')], { encoding: 'utf8' });
      assert.equal(JSON.parse(info.stdout)['virtual-size'], size - (size % 512), `qemu-img info for size ${size}`);
      const ref = qemuRaw('odd-size.qcow2');
      assert.equal(ref.length, size - (size % 512));
      const packed = runCli(['pack', '--disk', p('odd-size.qcow2'), '-o', p('odd-size.hxz'), '--force', '--silent']);
      assert.equal(packed.status, 0, packed.stderr);
      rmSync(p('odd-size.out'), { force: true });
      const extracted = runCli(['extract', p('odd-size.hxz'), '-o', p('odd-size.out'), '--silent']);
      assert.equal(extracted.status, 0, extracted.stderr);
      assertBytes(readFileSync(p('odd-size.out')), ref, `size ${size}: hexz extract vs qemu-img convert`);
    }
  });

  describe('corrupt and unsupported images', () => {
    /** A fresh v3 64K-cluster copy of base.raw (optionally compressed) to patch. */
    const fixture = (name: string, extra: string[] = []): { path: string; bytes: Buffer; dv: DataView } => {
      run('qemu-img', 'convert', ...extra, '-f', 'raw', '-O', 'qcow2', 'base.raw', name);
      const bytes = readFileSync(p(name));
      return { path: p(name), bytes, dv: new DataView(bytes.buffer, bytes.byteOffset, bytes.length) };
    };
    const save = (f: { path: string; bytes: Buffer }) => writeFileSync(f.path, f.bytes);
    const expectPackError = async (path: string, cls: Function, pattern: RegExp) => {
      await assert.rejects(packSmall({ disk: path, output: `${path}.hxz`, force: true }), (err: Error) => {
        assert.ok(err instanceof cls, `${path}: expected ${cls.name}, got ${err.constructor.name}: ${err.message}`);
        assert.match(err.message, pattern);
        return true;
      });
    };
    /** Host offset of the L2 table of L1 entry 0, and of the first allocated L2 entry. */
    const firstL2 = (dv: DataView) => {
      const l1 = Number(dv.getBigUint64(40));
      const l2 = Number(dv.getBigUint64(l1) & 0x00ff_ffff_ffff_fe00n);
      let i = 0;
      while (dv.getBigUint64(l2 + i * 8) === 0n) i++;
      return { l1, l2, entry: l2 + i * 8 };
    };

    test('L1 entry past the end of the file', async () => {
      const f = fixture('bad-l1.qcow2');
      const { l1 } = firstL2(f.dv);
      f.dv.setBigUint64(l1, BigInt(f.bytes.length * 4) & ~0xffffn);
      save(f);
      await expectPackError(f.path, CorruptImageError, /L1 entry 0 points past the end of the file/);
    });

    test('L2 entry past the end of the file', async () => {
      const f = fixture('bad-l2.qcow2');
      const { entry } = firstL2(f.dv);
      f.dv.setBigUint64(entry, (1n << 63n) | 0x10_0000_0000n);
      save(f);
      await expectPackError(f.path, CorruptImageError, /L2 entry for guest offset \d+ points past the end of the file/);
    });

    test('absurd l1_size and a too small L1 table', async () => {
      const f = fixture('bad-l1size.qcow2');
      f.dv.setUint32(36, 0x7fffffff);
      save(f);
      await expectPackError(f.path, CorruptImageError, /L1 table is too large/);
      f.dv.setUint32(36, 0);
      save(f);
      await expectPackError(f.path, CorruptImageError, /L1 table is too small/);
    });

    test('encryption (AES, LUKS), external data file, extended L2, unknown incompatible bits are refused by name', async () => {
      const f = fixture('feat.qcow2');
      const orig = Buffer.from(f.bytes);
      const cases: [(dv: DataView) => void, RegExp][] = [
        [(dv) => dv.setUint32(32, 1), /encryption \(AES\)/],
        [(dv) => dv.setUint32(32, 2), /encryption \(LUKS\)/],
        [(dv) => dv.setBigUint64(72, 1n << 2n), /external data file/],
        [(dv) => dv.setBigUint64(72, 1n << 4n), /extended L2 entries/],
        [(dv) => dv.setBigUint64(72, 1n << 9n), /unknown incompatible feature bits 0x200/],
        [(dv) => dv.setUint32(4, 4), /qcow2 version 4 is not supported/],
      ];
      for (const [patch, pattern] of cases) {
        orig.copy(f.bytes);
        patch(f.dv);
        save(f);
        await expectPackError(f.path, UnsupportedError, pattern);
        await assert.rejects(openImage(f.path), UnsupportedError);
      }
    });

    test('a compressed cluster that does not decode (zlib and zstd)', async () => {
      for (const type of ['zlib', 'zstd']) {
        const f = fixture(`bad-c-${type}.qcow2`, ['-c', '-o', `compression_type=${type}`]);
        const { entry } = firstL2(f.dv);
        const hi = f.dv.getUint32(entry);
        assert.ok(hi & 0x4000_0000, 'first cluster is compressed');
        const host = (hi & 0x3fff) * 2 ** 32 + f.dv.getUint32(entry + 4); // x = 54 for 64K clusters
        f.bytes.fill(0xff, host, host + 200);
        save(f);
        await expectPackError(f.path, CorruptImageError, /compressed cluster at guest offset 0 .*(invalid|decodes)/);
      }
    });

    test('a compressed cluster that decodes to less than a cluster', async () => {
      const f = fixture('short-c.qcow2', ['-c', '-o', 'compression_type=zlib']);
      const { entry } = firstL2(f.dv);
      const hi = f.dv.getUint32(entry);
      const host = (hi & 0x3fff) * 2 ** 32 + f.dv.getUint32(entry + 4);
      const { deflateRawSync } = await import('node:zlib');
      const short = deflateRawSync(Buffer.alloc(1000, 1));
      short.copy(f.bytes, host);
      save(f);
      await expectPackError(f.path, CorruptImageError, /decodes to 1000 bytes, expected 65536/);
    });

    test('backing file cycle and missing backing file', async () => {
      run('qemu-img', 'create', '-q', '-f', 'qcow2', 'cyc-a.qcow2', '16M');
      run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'cyc-a.qcow2', '-F', 'qcow2', 'cyc-b.qcow2');
      run('qemu-img', 'rebase', '-u', '-b', 'cyc-b.qcow2', '-F', 'qcow2', 'cyc-a.qcow2');
      await expectPackError(p('cyc-b.qcow2'), CorruptImageError, /backing file chain has a cycle/);
      run('cp', 'base.raw', 'gone.raw');
      run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'gone.raw', '-F', 'raw', 'orphan.qcow2');
      rmSync(p('gone.raw'));
      await expectPackError(p('orphan.qcow2'), StoreError, /backing file 'gone.raw' not found/);
    });
  });
});
