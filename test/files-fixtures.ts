/**
 * Disk images for the file-level tests (`hexz files | get | cat --file | diff --files`), made
 * with the real tools: a generated tree (every kind of file, a 2,000-entry directory, bulk
 * random files) written by `mkfs.ext4 -d` into a GPT disk (sgdisk), into a logical partition
 * of an MBR disk next to a vfat one (sfdisk, mkfs.vfat), and onto a disk without a table; a
 * second version of the GPT disk edited in place with `debugfs -w`, as a running system would
 * change it; and comparisons of a listing or a restored tree with the source tree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { FileEntry } from '../src/index.ts';
import { buildTree, IS_ROOT, run, type TreeFacts } from './ext4-helpers.ts';
import { randomData } from './helpers.ts';

export { IS_ROOT };

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** The tools the image fixtures need. */
const TOOLS = ['mkfs.ext4', 'sgdisk', 'sfdisk', 'debugfs', 'mkfifo'];
const missing = TOOLS.filter((t) => !which(t));

/**
 * The `skip` option of the tests using these images: a message when a tool is missing, except
 * under CI=true, where the tests run (and fail) so a missing tool cannot go unnoticed.
 */
export const SKIP_WITHOUT_TOOLS: string | false = missing.length === 0 || process.env.CI === 'true'
  ? false : `${missing.join(', ')} not installed (Debian e2fsprogs, gdisk, fdisk, coreutils)`;

/** mkfs.vfat is optional: only the refusal of a vfat partition needs it. */
export const HAVE_VFAT = which('mkfs.vfat');

/** Offset of partition 1 of the GPT image, in bytes. */
export const GPT_OFFSET = 1 << 20;
/** Sizes of the bulk random files (left unchanged in version 2 except `r2`'s one block). */
export const BULK_FILES = ['r1', 'r2', 'r3', 'r4'];
export const BULK_BYTES = 2 << 20;
/** File offset of the block of /bulk/r2 that version 2 overwrites (a multiple of 4 KiB). */
export const R2_CHANGED_AT = 1 << 20;

/** The generated tree: {@link buildTree} with a 2,000-entry directory, plus /bulk. */
export function makeTree(root: string): TreeFacts {
  mkdirSync(root, { recursive: true });
  const facts = buildTree(root, { bigDir: 2000 });
  mkdirSync(join(root, 'bulk'));
  BULK_FILES.forEach((name, i) => writeFileSync(join(root, 'bulk', name), randomData(BULK_BYTES, 500 + i)));
  return facts;
}

/** A 64 MiB GPT disk, partition 1 (Linux filesystem) from 1 MiB holding ext4 made from `tree`. */
export function makeGptImage(tree: string, img: string, mkfsArgs: string[] = []): void {
  writeFileSync(img, '');
  run('truncate', ['-s', '64M', img]);
  run('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', img]);
  run('mkfs.ext4', ['-q', '-F', ...mkfsArgs, '-d', tree, '-E', `offset=${GPT_OFFSET}`, img, '62M']);
}

/** A 64 MiB MBR disk: 1 vfat (when mkfs.vfat exists), 2 extended, 5 logical holding ext4 from `tree`. */
export function makeMbrImage(tree: string, img: string): { extOffset: number } {
  writeFileSync(img, '');
  run('truncate', ['-s', '64M', img]);
  const sfdisk = spawnSync('sfdisk', ['-q', img], { input: 'label: dos\nstart=2048, size=16384, type=c\nstart=20480, type=5\nstart=22528, type=83\n', encoding: 'utf8' });
  assert.equal(sfdisk.status, 0, `sfdisk: ${sfdisk.stderr}`);
  if (HAVE_VFAT) run('mkfs.vfat', ['--offset', '2048', '-n', 'HEXZVFAT', img, '8192']);
  const extOffset = 22528 * 512;
  run('mkfs.ext4', ['-q', '-F', '-d', tree, '-E', `offset=${extOffset}`, img, `${(108544 * 512) / 1024}K`]);
  return { extOffset };
}

/** ext4 on a whole 48 MiB disk, no partition table. */
export function makeRawImage(tree: string, img: string): void {
  run('mkfs.ext4', ['-q', '-F', '-d', tree, img, '48M']);
}

/** Two ext filesystems in one GPT disk (partitions 1 and 2), for the choice of partition. */
export function makeTwoPartitionImage(treeA: string, treeB: string, img: string): void {
  writeFileSync(img, '');
  run('truncate', ['-s', '40M', img]);
  run('sgdisk', ['-n', '1:2048:+16M', '-t', '1:8300', '-n', '2:0:0', '-t', '2:8300', '-c', '2:second', img]);
  const second = Number(/First sector: (\d+)/.exec(run('sgdisk', ['-i', '2', img]))?.[1]);
  run('mkfs.ext4', ['-q', '-F', '-L', 'first', '-d', treeA, '-E', `offset=${GPT_OFFSET}`, img, '16M']);
  run('mkfs.ext2', ['-q', '-F', '-L', 'second', '-d', treeB, '-E', `offset=${second * 512}`, img, '16M']);
}

/** What version 2 changes, as {@link makeVersion2} makes it and `diffFiles` must report it. */
export const V2_EXPECTED = {
  added: ['/files/new.bin', '/newdir', '/newdir/x'],
  removed: ['/files/text', '/links/l300'],
  changed: new Map<string, string[]>([
    ['/bulk/r2', ['content']],
    ['/emptydir', ['type']],
    ['/files/f4096', ['content']],
    ['/hl/a', ['owner']],
    ['/hl/b', ['owner']],
    ['/hl/sub/c', ['owner']],
    ['/links/rel', ['size', 'target']],
    ['/modes/private', ['mode']],
  ]),
};

/** Runs one `debugfs -w` command on the filesystem at `offset` of `img`. */
function debugfsAt(img: string, offset: number, cmd: string): string {
  return run('debugfs', ['-w', '-R', cmd, `${img}?offset=${offset}`]);
}

/**
 * Version 2 of the GPT disk: a copy edited in place (only the blocks touched change, as on a
 * running system), making exactly {@link V2_EXPECTED}.
 */
export function makeVersion2(v1: string, v2: string, scratch: string): void {
  copyFileSync(v1, v2);
  const at = GPT_OFFSET;
  const put = (name: string, data: Uint8Array) => {
    const p = join(scratch, name);
    writeFileSync(p, data);
    return p;
  };
  mkdirSync(scratch, { recursive: true });
  debugfsAt(v2, at, 'rm /files/text');
  debugfsAt(v2, at, 'rm /links/l300');
  debugfsAt(v2, at, `write ${put('new.bin', randomData(200_000, 77))} /files/new.bin`);
  debugfsAt(v2, at, 'mkdir /newdir');
  debugfsAt(v2, at, `write ${put('x', randomData(5000, 78))} /newdir/x`);
  debugfsAt(v2, at, 'rm /files/f4096');
  debugfsAt(v2, at, `write ${put('f4096', randomData(4096, 79))} /files/f4096`);
  debugfsAt(v2, at, 'sif /hl/a uid 4242');
  debugfsAt(v2, at, 'sif /modes/private mode 0100640');
  debugfsAt(v2, at, 'rm /links/rel');
  debugfsAt(v2, at, 'symlink /links/rel ../files/f0');
  debugfsAt(v2, at, 'rmdir /emptydir');
  debugfsAt(v2, at, `write ${put('emptydir', randomData(10, 80))} /emptydir`);
  // One block in the middle of /bulk/r2 overwritten in place.
  const bmap = run('debugfs', ['-R', `bmap /bulk/r2 ${R2_CHANGED_AT / blockSizeOf(v2, at)}`, `${v2}?offset=${at}`]).trim();
  const block = Number(bmap.split('\n').pop());
  assert.ok(Number.isSafeInteger(block) && block > 0, `debugfs bmap: ${bmap}`);
  const bs = blockSizeOf(v2, at);
  const fd = openSync(v2, 'r+');
  try {
    writeSync(fd, randomData(bs, 81), 0, bs, at + block * bs);
  } finally {
    closeSync(fd);
  }
}

/** The block size of the filesystem at `offset` of `img`, from debugfs's stats. */
export function blockSizeOf(img: string, offset: number): number {
  const m = /Block size:\s+(\d+)/.exec(run('debugfs', ['-R', 'stats', `${img}?offset=${offset}`]));
  assert.ok(m, 'debugfs stats: no block size');
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------
// Comparisons with the source tree

/** Names in `dir` sorted by their bytes, as the listing sorts them. */
export function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** The expected listing of `root` (depth-first, names sorted by bytes), `lost+found` excluded. */
export function expectedListing(root: string): { path: string; st: ReturnType<typeof lstatSync>; target?: string }[] {
  const out: { path: string; st: ReturnType<typeof lstatSync>; target?: string }[] = [];
  const walk = (rel: string) => {
    for (const name of sortedNames(join(root, rel))) {
      const path = `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      out.push({ path, st, target: st.isSymbolicLink() ? readlinkSync(join(root, path)) : undefined });
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

/** `ls -l`'s type of an lstat result, as the listing names it. */
export function typeOfStat(st: ReturnType<typeof lstatSync>): FileEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/**
 * Checks that `restored` holds the tree `source` (minus `skip`, paths relative with a leading
 * `/`): names, types, modes, sizes, content, symlink targets, mtimes (seconds), device numbers,
 * hard links as one inode, owners when root, sparse files still sparse.
 */
export function compareRestored(source: string, restored: string, options: { skip?: Set<string>; sparse?: string[] } = {}): number {
  const linkGroups = new Map<number, number>();
  let seen = 0;
  const walk = (rel: string) => {
    const names = sortedNames(join(source, rel)).filter((n) => !options.skip?.has(`${rel}/${n}`));
    assert.deepEqual(sortedNames(join(restored, rel)), names, `entries of ${rel || '/'}`);
    for (const name of names) {
      const path = `${rel}/${name}`;
      const s = lstatSync(join(source, path));
      const r = lstatSync(join(restored, path));
      seen++;
      assert.equal(typeOfStat(r), typeOfStat(s), `type of ${path}`);
      if (!s.isSymbolicLink()) assert.equal(r.mode & 0o7777, s.mode & 0o7777, `mode of ${path}`);
      if (IS_ROOT) assert.deepEqual([r.uid, r.gid], [s.uid, s.gid], `owner of ${path}`);
      assert.equal(Math.floor(Number(r.mtimeMs) / 1000), Math.floor(Number(s.mtimeMs) / 1000), `mtime of ${path}`);
      if (s.isFile()) {
        assert.equal(r.size, s.size, `size of ${path}`);
        assert.ok(readFileSync(join(restored, path)).equals(readFileSync(join(source, path))), `content of ${path}`);
        if (s.nlink > 1) {
          const first = linkGroups.get(Number(s.ino));
          if (first === undefined) linkGroups.set(Number(s.ino), Number(r.ino));
          else assert.equal(Number(r.ino), first, `${path} is a hard link of the same restored inode`);
          assert.equal(r.nlink, s.nlink, `link count of ${path}`);
        }
        if (options.sparse?.includes(path)) {
          assert.ok(Number(r.blocks) * 512 <= Number(s.blocks) * 512 + 65536, `${path} stays sparse (${r.blocks} blocks restored, ${s.blocks} in the source)`);
        }
      }
      if (s.isSymbolicLink()) assert.equal(readlinkSync(join(restored, path)), readlinkSync(join(source, path)), `target of ${path}`);
      if (s.isCharacterDevice() || s.isBlockDevice()) assert.equal(r.rdev, s.rdev, `device numbers of ${path}`);
      if (s.isDirectory()) walk(path);
    }
  };
  walk('');
  return seen;
}
