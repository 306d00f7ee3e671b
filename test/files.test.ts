/**
 * Files inside disk archives, through the library: `listFiles`, `readFile`, `getFiles` and
 * `diffFiles` over archives of disks made by the real tools (GPT with sgdisk, MBR with a
 * logical partition with sfdisk, no table; ext4 by mkfs.ext4 -d from a generated tree),
 * compared with the tree itself; a thin child of a disk edited with debugfs, diffed file by
 * file without reading unchanged files' blocks; encrypted and thin archives; partition choice
 * and refusals; crafted names that must not escape the output directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AbortedError, Archive, CorruptImageError, CountingSource, FileSource, UnsupportedError, UsageError, type ReadOptions,
} from '../src/index.ts';
import { diffFiles, getFiles, listFiles, openVolume, readFile, type FileEntry } from '../src/ops/files/index.ts';
import {
  BULK_BYTES, BULK_FILES, compareRestored, expectedListing, GPT_OFFSET, HAVE_VFAT, IS_ROOT, makeGptImage, makeMbrImage,
  makeRawImage, makeTree, makeTwoPartitionImage, makeVersion2, R2_CHANGED_AT, SKIP_WITHOUT_TOOLS, typeOfStat, V2_EXPECTED,
} from './files-fixtures.ts';
import { run } from './ext4-helpers.ts';
import { packSmall, randomData, tempDir } from './helpers.ts';

const PASSWORD = 'files inside — пароль';
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };

/** Reads a whole listing. */
async function entriesOf(archive: Archive, options: Parameters<typeof listFiles>[1] = {}): Promise<FileEntry[]> {
  const listing = await listFiles(archive, options);
  const out: FileEntry[] = [];
  for await (const e of listing.entries) out.push(e);
  return out;
}

/** Checks a listing against the source tree (lost+found aside). */
function assertListingMatchesTree(entries: FileEntry[], tree: string, prefix = ''): void {
  const expected = expectedListing(join(tree, prefix)).map((x) => ({ ...x, path: `${prefix}${x.path}` }));
  const got = entries.filter((e) => !e.path.startsWith('/lost+found'));
  assert.deepEqual(got.map((e) => e.path), expected.map((e) => e.path), 'paths in depth-first, byte-sorted order');
  const inodes = new Map<number, number>();
  for (let i = 0; i < got.length; i++) {
    const e = got[i];
    const { st, target } = expected[i];
    assert.equal(e.type, typeOfStat(st), `type of ${e.path}`);
    assert.equal(e.mode, Number(st.mode) & 0o7777, `mode of ${e.path}`);
    if (e.type !== 'dir') assert.equal(e.size, Number(st.size), `size of ${e.path}`);
    assert.equal(e.mtime.sec, Math.floor(Number(st.mtimeMs) / 1000), `mtime of ${e.path}`);
    assert.equal(e.target, target, `target of ${e.path}`);
    assert.equal(e.nlink, Number(st.nlink), `links of ${e.path}`);
    if (IS_ROOT) assert.deepEqual([e.uid, e.gid], [Number(st.uid), Number(st.gid)], `owner of ${e.path}`);
    const first = inodes.get(Number(st.ino));
    if (first !== undefined) assert.equal(e.ino, first, `${e.path} is the same inode as its hard links`);
    inodes.set(Number(st.ino), e.ino);
  }
}

/** The regular files of a tree, relative paths with a leading `/`. */
function regularFiles(tree: string): string[] {
  return expectedListing(tree).filter((x) => x.st.isFile()).map((x) => x.path);
}

async function content(archive: Archive, path: string, options: Parameters<typeof readFile>[2] = {}): Promise<Buffer> {
  const { chunks } = await readFile(archive, path, options);
  const parts: Buffer[] = [];
  for await (const c of chunks) {
    assert.ok(c.length <= 8 << 20, 'chunks are at most 8 MiB');
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts);
}

/** Temporary items a restore must never leave behind. */
function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.hexz-tmp-') || n.startsWith('.hexz-node-'));
}

/** Records the byte ranges read from a source (after `reset`). */
class RecordingSource extends CountingSource {
  ranges: [number, number][] = [];
  override async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.ranges.push([offset, offset + length]);
    return super.read(offset, length, options);
  }
  reset(): void {
    this.ranges = [];
    this.requests = 0;
    this.bytesRead = 0;
  }
}

describe('files inside disk archives (library)', { skip: SKIP_WITHOUT_TOOLS }, () => {
  const tmp = tempDir('hexz-files-');
  const tree = tmp.path('tree');
  const img = (name: string) => tmp.path(name);
  let gpt: Archive;
  let sparseFiles: string[] = [];

  before(async () => {
    sparseFiles = makeTree(tree).sparse.map((s) => `/${s.path}`);
    makeGptImage(tree, img('gpt.img'));
    await packSmall({ disk: img('gpt.img'), output: img('gpt.hxz') });
    gpt = await Archive.open(img('gpt.hxz'));
  });
  after(async () => {
    await gpt?.close();
    tmp.cleanup();
  });

  test('GPT disk: the partition table, then every file of the tree, depth-first and sorted', async () => {
    const warnings: string[] = [];
    const listing = await listFiles(gpt, { onWarning: (m) => warnings.push(m) });
    assert.equal(listing.layout.table, 'gpt');
    assert.equal(listing.layout.partitions.length, 1);
    const [p] = listing.layout.partitions;
    assert.deepEqual([p.number, p.offset, p.filesystem, p.typeName], [1, GPT_OFFSET, 'ext4', 'Linux filesystem']);
    assert.equal(listing.partition.number, 1);
    assert.equal(listing.filesystem.kind, 'ext4');
    assert.equal(listing.filesystem.clean, true);
    const entries: FileEntry[] = [];
    for await (const e of listing.entries) entries.push(e);
    assertListingMatchesTree(entries, tree);
    assert.ok(entries.filter((e) => e.path.startsWith('/big/')).length === 2000, 'the 2,000-entry directory is listed whole');
    assert.deepEqual(warnings, []);
  });

  test('a path lists what is below it; --no-recursive one level; a file itself; a missing path is a UsageError naming the archive', async () => {
    assertListingMatchesTree(await entriesOf(gpt, { path: '/hl' }), tree, '/hl');
    assert.deepEqual((await entriesOf(gpt, { path: '/hl', recursive: false })).map((e) => e.path), ['/hl/a', '/hl/b', '/hl/sub']);
    const [one, ...rest] = await entriesOf(gpt, { path: 'links//rel' });
    assert.deepEqual([one.path, one.type, one.target, rest.length], ['/links/rel', 'symlink', '../files/text', 0]);
    await assert.rejects(listFiles(gpt, { path: '/no/such' }), (err: unknown) => err instanceof UsageError && /no such file or directory: \/no\/such/.test(err.message) && err.location.archive === gpt.name);
    await assert.rejects(listFiles(gpt, { partition: 2 }), (err: unknown) => err instanceof UsageError && /no partition 2; it has partition 1 \(ext4/.test(err.message));
  });

  test('readFile gives every regular file byte for byte (sparse ones with their holes), following symlinks like cat', async () => {
    const vol = await openVolume(gpt); // opened once for the 2,000-odd files
    for (const path of regularFiles(tree)) {
      const { chunks } = await readFile(vol, path);
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(Buffer.from(c));
      assert.ok(Buffer.concat(parts).equals(readFileSync(join(tree, path))), `content of ${path}`);
    }
    assert.ok((await content(gpt, '/links/rel')).equals(readFileSync(join(tree, 'files/text'))), 'a symlink is followed');
    assert.ok((await content(gpt, '/links/abs')).equals(readFileSync(join(tree, 'files/text'))), 'an absolute symlink is followed from the filesystem root');
    assert.ok((await content(gpt, `/links/dirlink${'/d'.repeat(48)}/leaf.txt`)).equals(Buffer.from('at the bottom\n')), 'symlinks inside a path are followed');
    await assert.rejects(readFile(gpt, '/deep'), (err: unknown) => err instanceof UsageError && /is a directory/.test(err.message));
    await assert.rejects(readFile(gpt, '/links/self'), (err: unknown) => err instanceof UsageError && /too many levels of symbolic links/.test(err.message));
    await assert.rejects(readFile(gpt, '/links/dangling'), UsageError);
    await assert.rejects(readFile(gpt, '/special/fifo'), (err: unknown) => err instanceof UsageError && /fifo, not a regular file/.test(err.message));
  });

  test('getFiles restores directories as cp -a would: content, sparse files, symlinks, hard links, fifos, devices, modes, times, owners', async () => {
    const out = tmp.path('restored');
    const warnings: string[] = [];
    const tops = readdirSync(tree).map((n) => `/${n}`);
    let last = { bytesDone: 0, bytesTotal: -1 };
    const r = await getFiles(gpt, tops, out, { onWarning: (m) => warnings.push(m), onProgress: (p) => (last = p) });
    const skip = new Set<string>();
    if (existsSync(join(tree, 'special/sock'))) skip.add('/special/sock');
    const compared = compareRestored(tree, out, { skip, sparse: sparseFiles });
    assert.ok(compared > 2400, `${compared} nodes compared`);
    assert.deepEqual(leftovers(out), []);
    assert.equal(r.items.length, tops.length);
    assert.equal(r.hardLinks, 2, 'hl/b and hl/sub/c are links to hl/a');
    assert.equal(r.fifos, 1);
    assert.equal(r.devices, IS_ROOT ? 3 : 0);
    assert.equal(r.skipped, skip.size);
    assert.equal(warnings.filter((w) => /socket not restored/.test(w)).length, skip.size);
    assert.equal(last.bytesDone, last.bytesTotal, 'progress ends at its total');
    assert.ok(r.writtenBytes < r.bytes, 'holes were not written');
    // The suid file keeps its bit (root restores owners; as the owner it is ours anyway here).
    assert.equal(statSync(join(out, 'modes/suid')).mode & 0o7777, 0o4755);
    assert.equal(statSync(join(out, 'modes/sticky')).mode & 0o7777, 0o1777);
  });

  test('getFiles of single files: each by its base name; hard links between items stay links; existing targets refused unless force', async () => {
    const out = tmp.path('single');
    await getFiles(gpt, ['/hl/a', '/hl/sub/c', '/links/rel', '/sparse/s1', '/names/中文目录/文件.txt'], out);
    assert.equal(statSync(join(out, 'a')).ino, statSync(join(out, 'c')).ino);
    assert.equal(readlinkSync(join(out, 'rel')), '../files/text');
    assert.ok(readFileSync(join(out, 's1')).equals(readFileSync(join(tree, 'sparse/s1'))), 'content of s1');
    assert.ok(statSync(join(out, 's1')).blocks * 512 < 1 << 20, 'sparse file still sparse');
    assert.equal(readFileSync(join(out, '文件.txt'), 'utf8'), 'chinese');
    writeFileSync(join(out, 'marker'), 'keep');
    await assert.rejects(getFiles(gpt, ['/files/f0', '/hl/a'], out), (err: unknown) => err instanceof UsageError && /a: output exists \(use --force/.test(err.message));
    assert.ok(!existsSync(join(out, 'f0')), 'nothing written when one destination exists');
    await getFiles(gpt, ['/files/f0', '/hl/a', '/deep'], out, { force: true });
    assert.ok(readFileSync(join(out, 'f0')).equals(readFileSync(join(tree, 'files/f0'))), 'content of f0');
    await getFiles(gpt, ['/files/f1'], join(out, 'deep'), {}); // into a restored directory
    await getFiles(gpt, ['/files'], out, { force: true });
    await assert.rejects(getFiles(gpt, ['/files/f0', '/hl/sub/../a', '/links/../files/f0'], tmp.path('dup')), (err: unknown) => err instanceof UsageError && /would both be restored/.test(err.message));
    await assert.rejects(getFiles(gpt, ['/nope'], tmp.path('none')), UsageError);
    assert.deepEqual(leftovers(out), []);
  });

  test('getFiles cancelled part-way leaves no partial item and no temporary file', async () => {
    const out = tmp.path('cancelled');
    const ac = new AbortController();
    await assert.rejects(getFiles(gpt, ['/files/f1', '/bulk'], out, { signal: ac.signal, onProgress: (p) => { if (p.bytesDone > BULK_BYTES) ac.abort(); } }), AbortedError);
    assert.deepEqual(readdirSync(out), ['f1'], 'the complete item stays, the cancelled one is gone');
  });

  test('MBR disk: the ext4 in logical partition 5 is chosen by default; vfat refused; a wrong number lists the partitions', async () => {
    makeMbrImage(tree, img('mbr.img'));
    await packSmall({ disk: img('mbr.img'), output: img('mbr.hxz') });
    const a = await Archive.open(img('mbr.hxz'));
    try {
      const listing = await listFiles(a, { path: '/files' });
      assert.equal(listing.layout.table, 'mbr');
      assert.deepEqual(listing.layout.partitions.map((p) => [p.number, p.extended ? 'extended' : p.filesystem]), [[1, HAVE_VFAT ? 'vfat' : 'unknown'], [2, 'extended'], [5, 'ext4']]);
      assert.equal(listing.partition.number, 5);
      const entries: FileEntry[] = [];
      for await (const e of listing.entries) entries.push(e);
      assertListingMatchesTree(entries, tree, '/files');
      assert.ok((await content(a, '/files/mixed3m', { partition: 5 })).equals(readFileSync(join(tree, 'files/mixed3m'))));
      if (HAVE_VFAT) {
        await assert.rejects(listFiles(a, { partition: 1 }), (err: unknown) => err instanceof UnsupportedError && err.message === 'partition 1 holds vfat: unsupported filesystem (ext2/3/4 are supported)');
      }
      await assert.rejects(listFiles(a, { partition: 3 }), (err: unknown) => err instanceof UsageError && /partition 5 \(ext4/.test(err.message));
    } finally {
      await a.close();
    }
  });

  test('a disk without a partition table is partition 0', async () => {
    makeRawImage(tree, img('raw.img'));
    await packSmall({ disk: img('raw.img'), output: img('raw.hxz') });
    const a = await Archive.open(img('raw.hxz'));
    try {
      const listing = await listFiles(a);
      assert.equal(listing.layout.table, 'none');
      assert.deepEqual(listing.layout.partitions.map((p) => [p.number, p.offset, p.filesystem]), [[0, 0, 'ext4']]);
      const entries: FileEntry[] = [];
      for await (const e of listing.entries) entries.push(e);
      assertListingMatchesTree(entries, tree);
      assert.equal((await entriesOf(a, { partition: 0, path: '/hl', recursive: false })).length, 3);
    } finally {
      await a.close();
    }
  });

  test('two ext partitions: no default (the error lists both); --partition picks one', async () => {
    const small = tmp.path('small');
    mkdirSync(join(small, 'only-in-second'), { recursive: true });
    writeFileSync(join(small, 'only-in-second', 'x'), 'second\n');
    makeTwoPartitionImage(join(tree, 'hl'), small, img('two.img'));
    await packSmall({ disk: img('two.img'), output: img('two.hxz') });
    const a = await Archive.open(img('two.hxz'));
    try {
      await assert.rejects(listFiles(a), (err: unknown) => err instanceof UsageError
        && /2 partitions hold ext2\/3\/4 filesystems: choose one with --partition N/.test(err.message)
        && /partition 1 \(ext4 "first"/.test(err.message) && /partition 2 \(ext2 "second"/.test(err.message));
      assert.deepEqual((await entriesOf(a, { partition: 1 })).map((e) => e.path).filter((p) => !p.startsWith('/lost')), ['/a', '/b', '/sub', '/sub/c']);
      assert.equal((await content(a, '/only-in-second/x', { partition: 2 })).toString(), 'second\n');
      const vol = await openVolume(a, { partition: 2 });
      assert.deepEqual([vol.fs.info.kind, vol.partition.name, vol.partition.label], ['ext2', 'second', 'second']);
    } finally {
      await a.close();
    }
  });

  test('diffFiles: a thin child of an edited disk against its parent reports exactly what changed, without reading unchanged files', async () => {
    makeVersion2(img('gpt.img'), img('v2.img'), tmp.path('v2-scratch'));
    await packSmall({ disk: img('v2.img'), output: img('v2.hxz'), parent: img('gpt.hxz') });
    const recording = new RecordingSource(await FileSource.open(img('gpt.hxz')));
    const a = await Archive.open(recording, { readAheadBytes: 0 });
    const b = await Archive.open(img('v2.hxz'), { readAheadBytes: 0 });
    try {
      recording.reset();
      const r = await diffFiles(a, b);
      assert.deepEqual(r.added.map((x) => x.path), V2_EXPECTED.added);
      assert.deepEqual(r.removed.map((x) => x.path), V2_EXPECTED.removed);
      const changed = new Map(r.changed.map((c) => [c.path, c.what]));
      const expected = new Map(V2_EXPECTED.changed);
      if (!IS_ROOT) expected.set('/links/rel', ['size', 'owner', 'target']); // debugfs makes it root's
      assert.deepEqual(changed, expected);
      const r2 = r.changed.find((c) => c.path === '/bulk/r2')!;
      assert.deepEqual([r2.sizeA, r2.sizeB, r2.changedBytes], [BULK_BYTES, BULK_BYTES, 4096], 'one changed page');
      const typeChange = r.changed.find((c) => c.path === '/emptydir')!;
      assert.deepEqual([typeChange.typeA, typeChange.typeB], ['dir', 'file']);
      // Unchanged content is proven equal from the index: the bulk files alone are 6 MiB of it.
      assert.ok(r.bytesByIndex >= 3 * BULK_BYTES, `bytes proven by index: ${r.bytesByIndex}`);
      // Read: the changed files, and unchanged ones sharing a 64 KiB archive block with a change.
      assert.ok(r.bytesRead <= 1 << 20, `content bytes read: ${r.bytesRead}`);
      // No archive block lying wholly inside an unchanged bulk file was read from the parent.
      const vol = await openVolume(a);
      const stored: [number, number][] = [];
      for (const name of BULK_FILES.filter((n) => n !== 'r2')) {
        const node = await vol.fs.lookup(`/bulk/${name}`);
        for await (const x of vol.fs.extents(node.ino)) {
          if (x.deviceOffset === null) continue;
          const from = GPT_OFFSET + x.deviceOffset;
          for await (const leaf of a.entryLeaves('disk', from, from + x.length)) {
            for (const e of leaf) if (e.offset >= from && e.offset + e.length <= from + x.length && e.storedLength > 0) stored.push([e.storedOffset, e.storedOffset + e.storedLength]);
          }
        }
      }
      assert.ok(stored.length > 50, `the unchanged bulk files span ${stored.length} blocks`);
      const hit = stored.filter(([s, e]) => recording.ranges.some(([rs, re]) => rs < e && s < re));
      assert.deepEqual(hit, [], 'blocks of unchanged files read');
      assert.ok(recording.bytesRead < BULK_BYTES, `bytes read from the parent: ${recording.bytesRead}`);

      const same = await diffFiles(b, b);
      assert.deepEqual([same.added, same.removed, same.changed, same.bytesRead], [[], [], [], 0]);
      // The other way round: added and removed swap.
      const back = await diffFiles(b, a);
      assert.deepEqual(back.added.map((x) => x.path), V2_EXPECTED.removed);
      assert.deepEqual(back.removed.map((x) => x.path), V2_EXPECTED.added);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('diffFiles of two separate packs (no shared index) still finds the changes, by reading', async () => {
    await packSmall({ disk: img('v2.img'), output: img('v2-full.hxz'), compression: 'lz4', blockSize: 4096 });
    const a = await Archive.open(img('gpt.hxz'));
    const b = await Archive.open(img('v2-full.hxz'));
    try {
      const r = await diffFiles(a, b);
      assert.deepEqual(r.added.map((x) => x.path), V2_EXPECTED.added);
      assert.deepEqual(r.removed.map((x) => x.path), V2_EXPECTED.removed);
      assert.deepEqual([...new Map(r.changed.map((c) => [c.path, c.what])).keys()], [...V2_EXPECTED.changed.keys()]);
      assert.ok(r.bytesRead > 2 * BULK_BYTES, 'different block sizes: content was read');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('encrypted archives and their thin children: list, read, restore and diff with the password', async () => {
    await packSmall({ disk: img('gpt.img'), output: img('enc.hxz'), encrypt: { password: PASSWORD, kdf: KDF } });
    await packSmall({ disk: img('v2.img'), output: img('enc-v2.hxz'), parent: img('enc.hxz'), encrypt: { password: PASSWORD, kdf: KDF } });
    const a = await Archive.open(img('enc.hxz'), { password: PASSWORD });
    const b = await Archive.open(img('enc-v2.hxz'), { password: PASSWORD });
    try {
      assertListingMatchesTree(await entriesOf(a, { path: '/modes' }), tree, '/modes');
      assert.ok((await content(b, '/newdir/x')).equals(Buffer.from(randomData(5000, 78))), 'a file only the child has');
      await getFiles(b, ['/hl'], tmp.path('enc-out'));
      assert.equal(readFileSync(join(tmp.path('enc-out'), 'hl/sub/c'), 'utf8'), 'linked three times');
      const r = await diffFiles(a, b);
      assert.deepEqual(r.added.map((x) => x.path), V2_EXPECTED.added);
      assert.ok(r.bytesByIndex >= 3 * BULK_BYTES, 'one data key: hashes compare');
      const locked = await Archive.open(img('enc.hxz'));
      try {
        await assert.rejects(listFiles(locked), (err: unknown) => (err as Error).name === 'WrongKeyError');
      } finally {
        await locked.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('crafted names never escape the output directory: ".." entries are skipped, a name with "/" is a damaged directory', async () => {
    const evilTree = tmp.path('evil-tree');
    for (const d of ['dots', 'slash']) mkdirSync(join(evilTree, d), { recursive: true });
    writeFileSync(join(evilTree, 'dots', 'DD'), 'was DD\n');
    writeFileSync(join(evilTree, 'dots', 'fine'), 'fine\n');
    writeFileSync(join(evilTree, 'slash', 'ESCAPExx'), 'escaped\n');
    const evilImg = img('evil.img');
    // No directory checksums or indexes, so an edited directory block still reads.
    run('mkfs.ext4', ['-q', '-F', '-O', '^metadata_csum,^dir_index', '-d', evilTree, evilImg, '8M']);
    const bytes = readFileSync(evilImg);
    const edit = (from: Buffer, to: string) => {
      const at = bytes.indexOf(from);
      assert.ok(at > 0 && bytes.indexOf(from, at + 1) < 0, `${from.toString('hex')} is in the image once`);
      bytes.write(to, at + from.length - to.length, 'latin1');
    };
    edit(Buffer.from([2, 1, 0x44, 0x44]), '..'); // name_len 2, regular file, "DD"
    edit(Buffer.from('ESCAPExx'), '../../xx');
    writeFileSync(evilImg, bytes);
    await packSmall({ disk: evilImg, output: img('evil.hxz') });
    const a = await Archive.open(img('evil.hxz'));
    const outer = tmp.path('evil-out');
    const out = join(outer, 'inner');
    try {
      assert.deepEqual((await entriesOf(a, { path: '/dots' })).map((e) => e.path), ['/dots/fine']);
      const r = await getFiles(a, ['/dots'], out);
      assert.deepEqual([r.files, readdirSync(join(out, 'dots'))], [1, ['fine']]);
      await assert.rejects(entriesOf(a, { path: '/slash' }), (err: unknown) => err instanceof CorruptImageError && /name holding '\/'/.test(err.message));
      await assert.rejects(getFiles(a, ['/slash'], out), CorruptImageError);
      await assert.rejects(getFiles(a, ['/dots/..'], out), UsageError);
      assert.deepEqual(readdirSync(outer), ['inner'], 'nothing beside the output directory');
      assert.deepEqual(readdirSync(out), ['dots'], 'the failed item left nothing');
      assert.ok(!existsSync(join(tmp.dir, 'xx')), 'nothing written two levels up');
    } finally {
      await a.close();
    }
  });

  test('a damaged superblock is a CorruptImageError', async () => {
    const bad = readFileSync(img('raw.img'));
    bad[1024 + 120] ^= 0xff; // a byte of the label: the superblock's checksum no longer matches
    writeFileSync(img('bad.img'), bad);
    await packSmall({ disk: img('bad.img'), output: img('bad.hxz') });
    const a = await Archive.open(img('bad.hxz'));
    try {
      await assert.rejects(listFiles(a), CorruptImageError);
    } finally {
      await a.close();
    }
  });
});

// The real disk: a Debian root filesystem in a GPT disk (../shared/corpus/make-corpus.sh).
const CORPUS = process.env.HEXZ_CORPUS;
const corpusSkip = !CORPUS ? 'HEXZ_CORPUS not set (build it with ../shared/corpus/make-corpus.sh DIR)'
  : !existsSync(join(CORPUS, 'disk-v1.raw')) ? `no disk-v1.raw in ${CORPUS}` : false;

describe('files inside the corpus disk', { skip: corpusSkip, timeout: 30 * 60_000 }, () => {
  const tmp = tempDir('hexz-files-corpus-');
  after(() => tmp.cleanup());

  test('list /etc (compared with debugfs), read /etc/os-release, diff disk-v1 against disk-v2 by file', async () => {
    const v1 = join(CORPUS!, 'disk-v1.raw');
    const v2 = join(CORPUS!, 'disk-v2.raw');
    await packSmall({ disk: v1, output: tmp.path('v1.hxz'), workers: 2 });
    const a = await Archive.open(tmp.path('v1.hxz'));
    try {
      const listing = await listFiles(a, { path: '/etc', recursive: false });
      const names: string[] = [];
      for await (const e of listing.entries) names.push(e.path.slice('/etc/'.length));
      // debugfs -R 'ls -p /etc': /ino/mode/uid/gid/name/size/ lines.
      const offset = listing.partition.offset;
      const dbg = run('debugfs', ['-R', 'ls -p /etc', `${v1}?offset=${offset}`]).split('\n')
        .map((l) => l.split('/')[5]).filter((n): n is string => n !== undefined && n !== '.' && n !== '..');
      assert.deepEqual(names, dbg.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
      const osRelease = await content(a, '/etc/os-release');
      assert.match(osRelease.toString(), /^(PRETTY_)?NAME=/m);
      console.log(`# corpus: /etc has ${names.length} entries; os-release ${osRelease.length} bytes`);
      if (existsSync(v2)) {
        await packSmall({ disk: v2, output: tmp.path('v2.hxz'), parent: tmp.path('v1.hxz'), workers: 2 });
        const b = await Archive.open(tmp.path('v2.hxz'));
        try {
          const started = Date.now();
          const r = await diffFiles(a, b);
          console.log(`# corpus diff --files: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed; ${r.filesCompared} files compared, ${(r.bytesByIndex / 2 ** 20).toFixed(1)} MiB proven equal by index, ${(r.bytesRead / 2 ** 20).toFixed(1)} MiB read, ${((Date.now() - started) / 1000).toFixed(1)} s`);
          assert.ok(r.bytesByIndex > r.bytesRead, 'most content compared by index');
        } finally {
          await b.close();
        }
      }
    } finally {
      await a.close();
    }
  });
});
