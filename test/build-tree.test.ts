/**
 * Source trees for `hexz build` (issue 16): scanning a directory and reading tars (plain, gzip,
 * zstd, from a file or a stream, made by GNU tar and by tar-stream) give the same tree — names
 * as bytes in byte order, hard links as one inode, modes, owners, nanosecond mtimes, sparse
 * files' data ranges, contents — and bad inputs give one clear typed error.
 * Every assert.ok has a message: without one, a failing assert.ok has Node parse the
 * (transpiled, one-line) source to describe the expression, which takes minutes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { chownSync, chmodSync, closeSync, createReadStream, linkSync, lstatSync, mkdirSync, openSync, readFileSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tarStream from 'tar-stream';
import { CorruptImageError, StoreError, UnsupportedError, UsageError } from '../src/errors.ts';
import { openSourceTree } from '../src/build/tree/open-source-tree.ts';
import { scanDirectory } from '../src/build/tree/scan-directory.ts';
import { scanTar } from '../src/build/tree/scan-tar.ts';
import type { SourceInode, SourceTree } from '../src/build/tree/types.ts';
import { randomData, tempDir } from './helpers.ts';

const tmp = tempDir('hexz-build-tree-');
after(() => tmp.cleanup());
const SRC = tmp.path('src');
const NON_UTF8 = Buffer.from([0x66, 0xff]);
const LONG_NAME = 'n'.repeat(255);
const SPARSE_SIZE = (1 << 20) + 10;
const SPARSE_RANGES = [{ offset: 0, length: 4096 }, { offset: 1044480, length: SPARSE_SIZE - 1044480 }];
const isRoot = process.getuid?.() === 0;
const hasZstd = spawnSync('zstd', ['--version']).status === 0;

/** The fixture: every kind a tar can carry, odd names, a hard link pair, a sparse file. */
before(() => {
  mkdirSync(join(SRC, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(SRC, 'empty'), '');
  writeFileSync(join(SRC, 'one'), 'x');
  writeFileSync(join(SRC, 'block'), randomData(4096, 1));
  writeFileSync(join(SRC, 'sub', 'deeper', 'odd'), randomData(10_000, 2));
  writeFileSync(join(SRC, 'sub', 'hard1'), 'linked');
  linkSync(join(SRC, 'sub', 'hard1'), join(SRC, 'hard2'));
  symlinkSync('one', join(SRC, 'link'));
  symlinkSync('../nowhere', join(SRC, 'sub', 'dangling'));
  execFileSync('mkfifo', [join(SRC, 'fifo')]);
  writeFileSync(Buffer.from(`${SRC}/${NON_UTF8.toString('latin1')}`, 'latin1'), 'non-utf8 name');
  writeFileSync(join(SRC, LONG_NAME), 'long name');
  writeFileSync(join(SRC, 'setuid'), '#!/bin/sh\n');
  chmodSync(join(SRC, 'setuid'), 0o4751);
  // A hole in the middle: data in the first block and in the last 110 bytes.
  const fd = openSync(join(SRC, 'sparse'), 'w');
  writeSync(fd, randomData(4096, 3), 0, 4096, 0);
  closeSync(fd);
  truncateSync(join(SRC, 'sparse'), SPARSE_SIZE);
  const tail = openSync(join(SRC, 'sparse'), 'r+');
  writeSync(tail, randomData(100, 4), 0, 100, SPARSE_SIZE - 100);
  closeSync(tail);
  if (isRoot) chownSync(join(SRC, 'one'), 1234, 5678);
});

/** The entry `name` (a string or bytes) of a directory inode. */
function child(dir: SourceInode, name: string | Uint8Array): SourceInode {
  const want = typeof name === 'string' ? Buffer.from(name) : name;
  const e = dir.entries?.find((x) => Buffer.compare(x.name, want) === 0);
  assert.ok(e, `no entry ${Buffer.from(want).toString()}`);
  return e.inode;
}

async function contentOf(inode: SourceInode): Promise<Buffer> {
  if (!inode.content) return Buffer.alloc(0);
  return Buffer.from(await inode.content.read(0, inode.size));
}

/**
 * Asserts two trees are the same but for atime and ctime (tar leaves them out or they change
 * as tar reads); `dataRanges: false` skips the data ranges (a plain tar stores holes as data),
 * `wholeSeconds` expects mtimes without their nanoseconds (a tar without pax headers).
 */
async function assertSameTree(a: SourceInode, b: SourceInode, options: { dataRanges: boolean; wholeSeconds?: boolean }, where = '/'): Promise<void> {
  const pairs = new Map<SourceInode, SourceInode>();
  const walk = async (x: SourceInode, y: SourceInode, path: string): Promise<void> => {
    const seen = pairs.get(x);
    if (seen) {
      assert.equal(y, seen, `${path}: hard link not shared`);
      return;
    }
    pairs.set(x, y);
    assert.equal(y.kind, x.kind, `${path}: kind`);
    assert.equal(y.mode.toString(8), x.mode.toString(8), `${path}: mode`);
    assert.deepEqual([y.uid, y.gid], [x.uid, x.gid], `${path}: owner`);
    assert.deepEqual(y.mtime, options.wholeSeconds ? { sec: x.mtime.sec, nsec: 0 } : x.mtime, `${path}: mtime`);
    assert.equal(y.size, x.size, `${path}: size`);
    assert.deepEqual(y.target && Buffer.from(y.target), x.target && Buffer.from(x.target), `${path}: target`);
    assert.deepEqual(y.rdev, x.rdev, `${path}: rdev`);
    if (x.kind === 'file') {
      if (options.dataRanges) assert.deepEqual(y.content?.dataRanges, x.content?.dataRanges, `${path}: dataRanges`);
      assert.ok((await contentOf(y)).equals(await contentOf(x)), `${path}: content`);
    }
    if (x.kind === 'dir') {
      const names = (i: SourceInode) => i.entries!.map((e) => Buffer.from(e.name).toString('latin1'));
      assert.deepEqual(names(y), names(x), `${path}: entries`);
      for (let i = 0; i < x.entries!.length; i++) {
        await walk(x.entries![i]!.inode, y.entries![i]!.inode, `${path}${Buffer.from(x.entries![i]!.name).toString()}/`);
      }
    }
  };
  await walk(a, b, where);
}

/** Runs GNU tar on the fixture, returning the tar's path. */
function gnuTar(name: string, ...flags: string[]): string {
  const out = tmp.path(name);
  execFileSync('tar', [...flags, '-cf', out, '-C', SRC, '.']);
  return out;
}

/** A tar made with tar-stream's pack from `entries` (header and optional content). */
async function packTar(entries: Array<tarStream.Headers & { body?: string }>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const { body, ...header } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c);
  return Buffer.concat(parts);
}

async function withTree<T>(tree: Promise<SourceTree>, fn: (t: SourceTree) => Promise<T>): Promise<T> {
  const t = await tree;
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

describe('scanDirectory', () => {
  let tree: SourceTree;
  before(async () => { tree = await scanDirectory(SRC); });
  after(() => tree.close());

  test('names are bytes in byte order, including non-UTF-8 and 255-byte names', () => {
    const names = tree.root.entries!.map((e) => Buffer.from(e.name));
    const sorted = [...names].sort(Buffer.compare);
    assert.deepEqual(names, sorted);
    assert.ok(names.some((n) => n.equals(NON_UTF8)), 'non-UTF-8 name kept as bytes');
    assert.ok(names.some((n) => n.length === 255), 'a 255-byte name');
    assert.equal(Buffer.from(tree.root.entries![0]!.name).toString(), 'block');
  });

  test('kinds, modes, sizes, symlink targets, times with nanoseconds', () => {
    const root = tree.root;
    assert.equal(child(root, 'fifo').kind, 'fifo');
    assert.equal(child(root, 'sub').kind, 'dir');
    assert.equal(child(root, 'setuid').mode, 0o4751);
    assert.equal(child(root, 'link').kind, 'symlink');
    assert.deepEqual(Buffer.from(child(root, 'link').target!), Buffer.from('one'));
    assert.equal(child(root, 'link').size, 3);
    assert.equal(child(root, 'empty').content, undefined);
    const st = lstatSync(join(SRC, 'sub', 'deeper', 'odd'), { bigint: true });
    const odd = child(child(child(root, 'sub'), 'deeper'), 'odd');
    assert.equal(BigInt(odd.mtime.sec) * 1_000_000_000n + BigInt(odd.mtime.nsec), st.mtimeNs);
    assert.equal(BigInt(odd.atime.sec) * 1_000_000_000n + BigInt(odd.atime.nsec), st.atimeNs);
    assert.equal(odd.size, 10_000);
    if (isRoot) assert.deepEqual([child(root, 'one').uid, child(root, 'one').gid], [1234, 5678]);
  });

  test('a hard link pair is one inode; stats count it once', () => {
    assert.equal(child(tree.root, 'hard2'), child(child(tree.root, 'sub'), 'hard1'));
    assert.deepEqual(tree.stats, {
      files: 9, dirs: 3, symlinks: 2, others: 1, hardLinks: 1,
      fileBytes: 0 + 1 + 4096 + 10_000 + 6 + 13 + 9 + 10 + SPARSE_SIZE,
      dataBytes: 0 + 1 + 4096 + 10_000 + 6 + 13 + 9 + 10 + 4096 + 4106,
    });
  });

  test('a sparse file has its data ranges, rounded to 4096 bytes, and reads back', async () => {
    const sparse = child(tree.root, 'sparse');
    assert.deepEqual(sparse.content?.dataRanges, SPARSE_RANGES);
    assert.ok((await contentOf(sparse)).equals(readFileSync(join(SRC, 'sparse'))), 'sparse content');
    assert.equal(child(tree.root, 'block').content?.dataRanges, undefined, 'not sparse: no ranges');
  });

  test('contents read back, in pieces and through a handle cache smaller than the files', async () => {
    await withTree(scanDirectory(SRC, { openFiles: 2 }), async (t) => {
      const odd = child(child(child(t.root, 'sub'), 'deeper'), 'odd');
      const want = readFileSync(join(SRC, 'sub', 'deeper', 'odd'));
      const reads = [0, 3000, 6000].map((o) => odd.content!.read(o, Math.min(3000, 10_000 - o)));
      const others = ['one', 'block', 'setuid', LONG_NAME].map((n) => contentOf(child(t.root, n)));
      const parts = await Promise.all(reads);
      assert.ok(Buffer.concat(parts).equals(want.subarray(0, 9000)), 'pieces read back');
      assert.deepEqual((await Promise.all(others)).map((b) => b.length), [1, 4096, 10, 9]);
      assert.equal((await contentOf(child(t.root, NON_UTF8))).toString(), 'non-utf8 name');
    });
  });

  test('rootOwned makes every owner 0:0', async () => {
    await withTree(scanDirectory(SRC, { rootOwned: true }), async (t) => {
      for (const e of t.root.entries!) assert.deepEqual([e.inode.uid, e.inode.gid], [0, 0]);
    });
  });

  test('a file that shrank or was replaced after the scan: StoreError "changed while building"', async () => {
    const dir = tmp.path('changing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), randomData(8192, 5));
    writeFileSync(join(dir, 'b'), 'bbbb');
    await withTree(scanDirectory(dir), async (t) => {
      truncateSync(join(dir, 'a'), 100);
      await assert.rejects(child(t.root, 'a').content!.read(0, 8192), (e: Error) => e instanceof StoreError && /changed while building/.test(e.message) && e.message.includes(join(dir, 'a')));
      writeFileSync(join(dir, 'b.new'), 'cccc');
      execFileSync('mv', [join(dir, 'b.new'), join(dir, 'b')]);
      await assert.rejects(child(t.root, 'b').content!.read(0, 4), (e: Error) => e instanceof StoreError && /changed while building/.test(e.message));
    });
  });

  test('not a directory: UsageError; missing: StoreError', async () => {
    await assert.rejects(scanDirectory(join(SRC, 'one')), UsageError);
    await assert.rejects(scanDirectory(tmp.path('missing')), (e: Error) => e instanceof StoreError && e.message.includes('missing'));
  });

  test('an unreadable directory: StoreError naming it', { skip: isRoot && 'running as root: permissions are not enforced' }, async () => {
    const dir = tmp.path('locked');
    mkdirSync(join(dir, 'inner'), { recursive: true });
    chmodSync(join(dir, 'inner'), 0);
    try {
      await assert.rejects(scanDirectory(dir), (e: Error) => e instanceof StoreError && e.message.includes(join(dir, 'inner')) && /permission denied/.test(e.message));
    } finally {
      chmodSync(join(dir, 'inner'), 0o755);
    }
  });

  test('a socket is scanned as a socket', async () => {
    const dir = tmp.path('with-socket');
    mkdirSync(dir);
    const server = createServer().listen(join(dir, 'sock'));
    await once(server, 'listening');
    try {
      await withTree(scanDirectory(dir), async (t) => {
        assert.equal(child(t.root, 'sock').kind, 'socket');
        assert.equal(t.stats.others, 1);
      });
    } finally {
      server.close();
    }
  });

  test('an aborted scan rejects', async () => {
    await assert.rejects(scanDirectory(SRC, { signal: AbortSignal.abort() }), { name: 'AbortedError' });
  });
});

describe('scanTar against the directory scan', () => {
  let dirTree: SourceTree;
  before(async () => { dirTree = await scanDirectory(SRC); });
  after(() => dirTree.close());

  const kinds: Array<{ name: string; flags: string[]; dataRanges: boolean; wholeSeconds?: boolean; skip?: boolean }> = [
    { name: 'plain.tar', flags: ['--format=pax'], dataRanges: false },
    { name: 'sparse-pax.tar', flags: ['--format=pax', '--sparse'], dataRanges: true },
    { name: 'sparse-gnu.tar', flags: ['--format=gnu', '--sparse'], dataRanges: true, wholeSeconds: true },
    { name: 'sparse-0.0.tar', flags: ['--format=pax', '--sparse', '--sparse-version=0.0'], dataRanges: true },
    { name: 'sparse-0.1.tar', flags: ['--format=pax', '--sparse', '--sparse-version=0.1'], dataRanges: true },
    { name: 'tree.tar.gz', flags: ['--format=pax', '-z'], dataRanges: true },
    { name: 'tree.tar.zst', flags: ['--format=pax', '--zstd'], dataRanges: true, skip: !hasZstd },
  ];
  for (const k of kinds) {
    test(`GNU tar ${k.flags.join(' ')}: the same tree`, { skip: k.skip && 'zstd not installed' }, async () => {
      const path = gnuTar(k.name, ...k.flags);
      await withTree(scanTar(path), async (t) => {
        await assertSameTree(dirTree.root, t.root, k);
        assert.deepEqual({ ...t.stats, dataBytes: 0 }, { ...dirTree.stats, dataBytes: 0 });
        assert.equal(t.name, path);
      });
    });
  }

  test('a gzip tar from a stream (stdin) gives the same tree', async () => {
    const path = gnuTar('stream.tar.gz', '--format=pax', '-z');
    await withTree(scanTar(createReadStream(path)), async (t) => {
      await assertSameTree(dirTree.root, t.root, { dataRanges: true });
      assert.equal(t.name, 'stdin');
    });
  });

  test('a plain tar from a stream is spooled: holes found from its zero blocks', async () => {
    const path = gnuTar('stream.tar', '--format=pax');
    await withTree(scanTar(createReadStream(path), { tmpDir: tmp.dir }), async (t) => {
      await assertSameTree(dirTree.root, t.root, { dataRanges: true });
    });
  });

  test('a named pipe (as from <(tar -c ...)) is read as a stream', async () => {
    const fifo = tmp.path('tar.fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('tar', ['--format=pax', '-czf', fifo, '-C', SRC, '.']);
    try {
      await withTree(openSourceTree(fifo), async (t) => {
        await assertSameTree(dirTree.root, t.root, { dataRanges: true });
      });
    } finally {
      if (writer.exitCode === null) await once(writer, 'exit');
    }
  });

  test('--numeric-owner --owner=1234 --group=5678 comes through; rootOwned overrides it', async () => {
    const path = gnuTar('owners.tar', '--format=pax', '--numeric-owner', '--owner=1234', '--group=5678');
    await withTree(scanTar(path), async (t) => {
      assert.deepEqual([t.root.uid, t.root.gid], [1234, 5678]);
      assert.deepEqual([child(t.root, 'one').uid, child(t.root, 'one').gid], [1234, 5678]);
    });
    await withTree(scanTar(path, { rootOwned: true }), async (t) => {
      assert.deepEqual([child(t.root, 'one').uid, child(t.root, 'one').gid], [0, 0]);
    });
  });
});

describe('scanTar: sparse files with many holes (maps past one block)', () => {
  const dir = tmp.path('holes');
  let dirTree: SourceTree;
  before(async () => {
    mkdirSync(dir);
    // 100 data parts: the old GNU map needs extension blocks, the pax 1.0 map several blocks.
    const fd = openSync(join(dir, 'holey'), 'w');
    for (let i = 0; i < 100; i++) writeSync(fd, randomData(4096, 10 + i), 0, 4096, i * 65536 + (i % 2 ? 0 : 8192));
    closeSync(fd);
    truncateSync(join(dir, 'holey'), 100 * 65536 + 777);
    dirTree = await scanDirectory(dir);
  });
  after(() => dirTree.close());

  for (const flags of [['--format=gnu'], ['--format=pax'], ['--format=pax', '--sparse-version=0.0'], ['--format=pax', '--sparse-version=0.1'], ['--format=pax', '-z']]) {
    test(`GNU tar --sparse ${flags.join(' ')}`, async () => {
      assert.equal(child(dirTree.root, 'holey').content?.dataRanges?.length, 100);
      const path = tmp.path(`holey-${flags.join('')}.tar`);
      execFileSync('tar', [...flags, '--sparse', '-cf', path, '-C', dir, '.']);
      await withTree(scanTar(path), async (t) => {
        await assertSameTree(dirTree.root, t.root, { dataRanges: true, wholeSeconds: flags[0] === '--format=gnu' });
      });
    });
  }
});

describe('scanTar: tar-stream entries', () => {
  const at = new Date(1_700_000_000_000);

  test('implicit parents: mode 0755, owner 0, the latest mtime; a later entry replaces an earlier one', async () => {
    const tar = await packTar([
      { name: 'a/b/c.txt', mode: 0o640, uid: 7, gid: 8, mtime: at, body: 'first' },
      { name: 'z', type: 'directory', mode: 0o700, mtime: new Date(1_600_000_000_000) },
      { name: 'a/b/c.txt', mode: 0o600, mtime: new Date(1_500_000_000_000), body: 'second!' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: at },
      { name: 'a/b/h', type: 'link', linkname: 'a/b/c.txt', mtime: at },
    ]);
    await withTree(scanTar(Readable.from([tar])), async (t) => {
      const b = child(child(t.root, 'a'), 'b');
      for (const dir of [t.root, child(t.root, 'a'), b]) {
        assert.deepEqual([dir.mode, dir.uid, dir.gid, dir.mtime], [0o755, 0, 0, { sec: 1_700_000_000, nsec: 0 }]);
      }
      assert.equal(child(t.root, 'z').mode, 0o700);
      const c = child(b, 'c.txt');
      assert.equal((await contentOf(c)).toString(), 'second!');
      assert.equal(c.mode, 0o600);
      assert.equal(child(b, 'h'), c, 'the link names the inode its target held then');
      assert.deepEqual(child(child(t.root, 'dev'), 'null').rdev, { major: 1, minor: 3 });
      assert.equal(t.stats.hardLinks, 1);
    });
  });

  test('pax mtimes keep their nanoseconds', async () => {
    const tar = await packTar([{ name: 'f', mtime: at, pax: { mtime: '1700000000.123456789' }, body: 'x' } as tarStream.Headers & { body: string; pax: Record<string, string> }]);
    await withTree(scanTar(Readable.from([tar])), async (t) => {
      assert.deepEqual(child(t.root, 'f').mtime, { sec: 1_700_000_000, nsec: 123_456_789 });
    });
  });

  test('a ../x entry is refused with a UsageError', async () => {
    const tar = await packTar([{ name: 'ok', body: 'fine' }, { name: '../x', body: 'evil' }]);
    await assert.rejects(scanTar(Readable.from([tar])), (e: Error) => e instanceof UsageError && e.message.includes("'../x'") && /'\.\.'/.test(e.message));
  });

  test('a name over 255 bytes is refused with a UsageError naming the path', async () => {
    const tar = await packTar([{ name: `d/${'m'.repeat(256)}`, body: '' }]);
    await assert.rejects(scanTar(Readable.from([tar])), (e: Error) => e instanceof UsageError && e.message.includes('m'.repeat(256)) && /255/.test(e.message));
  });

  test('a hard link to a missing entry names both', async () => {
    const tar = await packTar([{ name: 'here', type: 'link', linkname: 'gone' }]);
    await assert.rejects(scanTar(Readable.from([tar])), (e: Error) => e instanceof CorruptImageError && e.message.includes("'here'") && e.message.includes("'gone'"));
  });
});

describe('scanTar: damaged and foreign inputs', () => {
  test('a truncated tar file: CorruptImageError naming the source and the entry', async () => {
    const full = readFileSync(gnuTar('whole.tar', '--format=pax'));
    for (const cut of [full.length - 10240 - 100, 1536 + 700, 700]) {
      const path = tmp.path(`cut-${cut}.tar`);
      writeFileSync(path, full.subarray(0, cut));
      await assert.rejects(scanTar(path), (e: Error) => e instanceof CorruptImageError && e.message.startsWith(`${path}: corrupt tar at byte`) && /truncated/.test(e.message), `cut at ${cut}`);
    }
  });

  test('a tar cut at an entry boundary (no end-of-archive block): CorruptImageError', async () => {
    const tar = await packTar([{ name: 'a', body: 'x'.repeat(600) }, { name: 'b', body: 'y' }]);
    const path = tmp.path('cut-at-boundary.tar');
    writeFileSync(path, tar.subarray(0, 512 + 1024)); // a's header and data, nothing after
    await assert.rejects(scanTar(path), (e: Error) => e instanceof CorruptImageError && /end-of-archive/.test(e.message));
  });

  test('aborting while a stream waits for data rejects with AbortedError', async () => {
    const tar = await packTar([{ name: 'big', body: 'z'.repeat(100_000) }]);
    const stalled = new Readable({ read() {} });
    stalled.push(tar.subarray(0, 2048)); // a header and some data, then nothing: the scan waits
    const controller = new AbortController();
    const scan = scanTar(stalled, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(scan, { name: 'AbortedError' });
  });

  test('a truncated gzip tar: CorruptImageError', async () => {
    const full = readFileSync(gnuTar('whole.tar.gz', '--format=pax', '-z'));
    const path = tmp.path('cut.tar.gz');
    writeFileSync(path, full.subarray(0, full.length - 50));
    await assert.rejects(scanTar(path), (e: Error) => e instanceof CorruptImageError && e.message.startsWith(path));
  });

  test('a damaged header checksum: CorruptImageError with the offset', async () => {
    const tar = readFileSync(gnuTar('damaged.tar', '--format=pax'));
    tar[1536 + 10] ^= 0x55; // inside the second entry's header
    const path = tmp.path('damaged-header.tar');
    writeFileSync(path, tar);
    await assert.rejects(scanTar(path), (e: Error) => e instanceof CorruptImageError && /checksum/.test(e.message));
  });

  test('not a tar: UsageError; a zip: UsageError; xz: UnsupportedError; empty: UsageError', async () => {
    const cases: Array<[string, Uint8Array, new (...a: never[]) => Error]> = [
      ['text.tar', Buffer.from('hello, this is not a tar file\n'.repeat(40)), UsageError],
      ['a.zip', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]), UsageError],
      ['a.tar.xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]), UnsupportedError],
      ['empty.tar', Buffer.alloc(0), UsageError],
    ];
    for (const [name, bytes, type] of cases) {
      writeFileSync(tmp.path(name), bytes);
      await assert.rejects(scanTar(tmp.path(name)), (e: Error) => e instanceof type && e.message.startsWith(tmp.path(name)), name);
    }
  });

  test('an all-zero tar (tar -cf x.tar -T /dev/null) is an empty tree', async () => {
    const path = tmp.path('none.tar');
    execFileSync('tar', ['-cf', path, '-T', '/dev/null']);
    await withTree(scanTar(path), async (t) => {
      assert.deepEqual(t.root.entries, []);
      assert.equal(t.root.mode, 0o755);
    });
  });
});

describe('openSourceTree', () => {
  test('a directory, a tar file and - (stdin) are scanned; a device is a UsageError', async () => {
    await withTree(openSourceTree(SRC), async (t) => assert.equal(t.stats.files, 9));
    const tar = gnuTar('open.tar.gz', '--format=pax', '-z');
    await withTree(openSourceTree(tar), async (t) => assert.equal(t.stats.files, 9));
    await withTree(openSourceTree('-', { stdin: createReadStream(tar) }), async (t) => {
      assert.equal(t.name, 'stdin');
      assert.equal(t.stats.hardLinks, 1);
    });
    await assert.rejects(openSourceTree('/dev/null'), (e: Error) => e instanceof UsageError && /character device/.test(e.message));
    await assert.rejects(openSourceTree(tmp.path('nothing-here')), StoreError);
  });
});
