/**
 * Helpers of the ext4 reader tests: e2fsprogs (mkfs, debugfs, e2fsck) as makers and judges of
 * images, block devices over an image file or bytes that count their reads, a generated source
 * tree with every kind of file, and a comparison of a whole filesystem against that tree.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync,
  readlinkSync, readSync, symlinkSync, truncateSync, utimesSync, writeFileSync, writeSync, type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../src/errors.ts';
import type { BlockDevice } from '../src/fs/types.ts';
import type { Ext4Filesystem, FileExtent, FileType } from '../src/fs/ext4/index.ts';
import { mixedData, randomData, Rng } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// e2fsprogs

function which(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

/** Whether mkfs.ext4, debugfs and e2fsck are installed. */
export const HAVE_E2FSPROGS = ['mkfs.ext4', 'mkfs.ext2', 'mkfs.ext3', 'debugfs', 'e2fsck'].every(which);

/**
 * The `skip` option of tests that need e2fsprogs: a message when it is missing, except under CI
 * (CI=true), where the tests run and fail so the missing tool cannot go unnoticed.
 */
export const SKIP_WITHOUT_E2FSPROGS: string | false =
  HAVE_E2FSPROGS || process.env.CI === 'true' ? false : 'e2fsprogs (mkfs.ext4, debugfs, e2fsck) is not installed';

export const IS_ROOT = process.getuid?.() === 0;

/** Runs a program; returns its stdout, throws with its stderr when it fails. */
export function run(cmd: string, args: string[], okStatus: number[] = [0]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (!okStatus.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** `mkfs.<kind> -q -F [args] -d tree img size`. */
export function mkfs(kind: 'ext2' | 'ext3' | 'ext4', img: string, size: string, tree: string | undefined, args: string[] = []): void {
  run(`mkfs.${kind}`, ['-q', '-F', ...args, ...(tree ? ['-d', tree] : []), img, size]);
}

/** `debugfs [-w] -R cmd img`, stdout. */
export function debugfs(img: string, cmd: string, write = false): string {
  return run('debugfs', [...(write ? ['-w'] : []), '-R', cmd, img]);
}

/** Where `debugfs imap` says an inode lies: byte offset in the image. */
export function inodeOffset(img: string, ino: number, blockSize: number): number {
  const out = debugfs(img, `imap <${ino}>`);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  assert.ok(m, `debugfs imap: ${out}`);
  return Number(m[1]) * blockSize + parseInt(m[2], 16);
}

/**
 * The byte ranges holding data in an extent-mapped file, per `debugfs ex` (leaf extents, not
 * unwritten), merged, clipped at `size`.
 */
export function debugfsDataRanges(img: string, path: string, blockSize: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (const line of debugfs(img, `ex "${path}"`).split('\n')) {
    const m = /^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s+(\d+)\s*-\s*(\d+)\s+\d+\s*-\s*\d+\s+\d+\s*(Uninit)?/.exec(line);
    if (!m || m[1] !== m[2] || m[5]) continue;
    const start = Number(m[3]) * blockSize;
    const end = Math.min(size, (Number(m[4]) + 1) * blockSize);
    if (start >= end) continue;
    const last = out.at(-1);
    if (last && last[1] === start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Block devices

/** A BlockDevice over bytes in memory that counts its reads. */
export class MemoryDevice implements BlockDevice {
  reads = 0;
  bytesRead = 0;
  constructor(readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) throw new UsageError(`read ${offset}+${length} outside the device`);
    this.reads++;
    this.bytesRead += length;
    return this.bytes.slice(offset, offset + length);
  }
}

/** A BlockDevice over an image file (synchronous reads on one descriptor) that counts its reads. */
export class FileDevice implements BlockDevice {
  reads = 0;
  bytesRead = 0;
  readonly size: number;
  private readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  async read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    options?.signal?.throwIfAborted();
    if (offset < 0 || length < 0 || offset + length > this.size) throw new UsageError(`read ${offset}+${length} outside the device`);
    this.reads++;
    this.bytesRead += length;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  }
  close(): void {
    closeSync(this.fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The source tree

/** A file written as a hole of `size` bytes with data at some offsets. */
export interface SparseFile {
  path: string;
  size: number;
  writes: { offset: number; length: number }[];
}

/** What {@link buildTree} made that a comparison cannot see from the tree alone. */
export interface TreeFacts {
  sparse: SparseFile[];
}

/** Writes `length` random bytes at `offset` of the open file. */
function writeAt(fd: number, offset: number, length: number, seed: number): void {
  const data = randomData(length, seed);
  for (let done = 0; done < length;) done += writeSync(fd, data, done, length - done, offset + done);
}

/** Makes a sparse file and records where its data is. */
export function makeSparse(root: string, rel: string, size: number, writes: { offset: number; length: number }[]): SparseFile {
  const path = join(root, rel);
  writeFileSync(path, '');
  truncateSync(path, size);
  const fd = openSync(path, 'r+');
  writes.forEach((w, i) => writeAt(fd, w.offset, w.length, 1000 + i));
  closeSync(fd);
  return { path: rel, size, writes };
}

/** A symlink target of exactly `n` bytes (ASCII, with a slash now and then). */
export function targetOfLength(n: number): string {
  let s = '';
  for (let i = 0; s.length < n; i++) s += i % 9 === 8 ? '/' : String.fromCharCode(97 + (i % 26));
  return s.slice(0, n);
}

/**
 * Builds the source tree under `root`: files of the interesting sizes (inline limits, block
 * edges), random and partly-zero data, sparse files, symlinks of every length 1..300 and a few
 * that lead somewhere (or in circles), a 50-level deep path, non-ASCII names, hard links, a fifo,
 * a socket, device nodes (as root), special permission bits, owners, and optionally a directory
 * of `bigDir` entries.
 */
export function buildTree(root: string, options: { bigDir?: number } = {}): TreeFacts {
  const mk = (rel: string) => mkdirSync(join(root, rel), { recursive: true });
  const put = (rel: string, data: Uint8Array | string) => writeFileSync(join(root, rel), data);
  mk('files');
  for (const n of [0, 1, 59, 60, 61, 100, 150, 4095, 4096, 4097]) put(`files/f${n}`, randomData(n, n + 7));
  put('files/rand100k', randomData(100 << 10, 11));
  put('files/mixed3m', mixedData(3 << 20, { unit: 4096, seed: 5 }));
  put('files/text', 'hello, ext4\n'.repeat(1000));

  mk('sparse');
  const sparse = [
    makeSparse(root, 'sparse/s1', 10 << 20, [{ offset: 0, length: 5000 }, { offset: (1 << 20) + 123, length: 7000 }, { offset: (10 << 20) - 10, length: 10 }]),
    makeSparse(root, 'sparse/hole-at-end', 1 << 20, [{ offset: 0, length: 100 }]),
    makeSparse(root, 'sparse/all-hole', 2 << 20, []),
    makeSparse(root, 'sparse/hole-at-start', 300 << 10, [{ offset: (300 << 10) - 5000, length: 5000 }]),
  ];

  mk('links');
  for (let n = 1; n <= 300; n++) symlinkSync(targetOfLength(n), join(root, `links/l${String(n).padStart(3, '0')}`));
  symlinkSync('../files/text', join(root, 'links/rel'));
  symlinkSync('/files/text', join(root, 'links/abs'));
  symlinkSync('../deep/d/d', join(root, 'links/dirlink'));
  symlinkSync('/links/dirlink', join(root, 'links/chain'));
  symlinkSync('loop2', join(root, 'links/loop1'));
  symlinkSync('loop1', join(root, 'links/loop2'));
  symlinkSync('self', join(root, 'links/self'));
  symlinkSync('/nope', join(root, 'links/dangling'));
  symlinkSync('中文/é', join(root, 'links/unicode'));

  let deep = 'deep';
  for (let i = 0; i < 50; i++) deep += '/d';
  mk(deep);
  put(`${deep}/leaf.txt`, 'at the bottom\n');

  mk('names/中文目录');
  put('names/é.txt', 'accent');
  put('names/中文目录/文件.txt', 'chinese');
  put('names/😀 emoji.bin', randomData(77, 3));
  put('names/space name', 'space');
  put(`names/${'n'.repeat(255)}`, 'long name');

  mk('hl/sub');
  put('hl/a', 'linked three times');
  linkSync(join(root, 'hl/a'), join(root, 'hl/b'));
  linkSync(join(root, 'hl/a'), join(root, 'hl/sub/c'));

  mk('special');
  run('mkfifo', [join(root, 'special/fifo')]);
  if (which('python3')) {
    run('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(root, 'special/sock')]);
  }
  if (IS_ROOT) {
    run('mknod', [join(root, 'special/null'), 'c', '1', '3']);
    run('mknod', [join(root, 'special/sda1'), 'b', '8', '1']);
    run('mknod', [join(root, 'special/bigdev'), 'c', '300', '70000']);
  }

  mk('modes/sgid-dir');
  mk('modes/sticky');
  put('modes/suid', '#!/bin/sh\n');
  put('modes/private', 'secret');
  put('modes/owned', 'owned');
  chmodSync(join(root, 'modes/suid'), 0o4755);
  chmodSync(join(root, 'modes/sgid-dir'), 0o2775);
  chmodSync(join(root, 'modes/sticky'), 0o1777);
  chmodSync(join(root, 'modes/private'), 0o600);
  if (IS_ROOT) chownSync(join(root, 'modes/owned'), 1234, 5678);
  utimesSync(join(root, 'modes/private'), 1_000_000_000, 1_000_000_000);

  mk('emptydir');
  if (options.bigDir) {
    mk('big');
    const rng = new Rng(99);
    for (let i = 0; i < options.bigDir; i++) writeFileSync(join(root, `big/entry-${i}-${rng.next().toString(36)}`), '');
  }
  return { sparse };
}

// ---------------------------------------------------------------------------------------------
// Comparing a filesystem with the tree

function typeOf(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Files larger than this are compared by their data ranges, not whole. */
const WHOLE_COMPARE_LIMIT = 64 << 20;

/**
 * Checks that the filesystem holds exactly the tree under `root`: the same names in every
 * directory, types, permission bits, owners, sizes, link counts, mtimes, symlink targets, device
 * numbers, hard links as one inode, and every file byte for byte. Returns the number of nodes seen.
 */
export async function compareWithTree(fs: Ext4Filesystem, root: string, options: { skip?: Set<string> } = {}): Promise<number> {
  const inodeOfSource = new Map<number, number>();
  let seen = 0;
  const walk = async (rel: string, ino: number): Promise<void> => {
    const entries = await fs.readdir(ino);
    const expected = readdirSync(join(root, rel)).filter((n) => !(rel === '' && n === 'lost+found'));
    const names = entries.map((e) => e.name).filter((n) => !(rel === '' && n === 'lost+found'));
    assert.deepEqual([...names].sort(), [...expected].sort(), `listing of /${rel}`);
    for (const e of entries) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      if ((rel === '' && e.name === 'lost+found') || options.skip?.has(childRel)) continue;
      seen++;
      assert.deepEqual(e.nameBytes, new TextEncoder().encode(e.name), `name bytes of /${childRel}`);
      const src = lstatSync(join(root, childRel));
      const node = await fs.stat(e.ino);
      const what = `/${childRel} (inode ${e.ino})`;
      assert.equal(e.type, typeOf(src), `type of ${what}`);
      assert.equal(node.type, e.type, `stat type of ${what}`);
      assert.equal(node.mode, src.mode & 0o7777, `mode of ${what}`);
      assert.equal(node.uid, src.uid, `uid of ${what}`);
      assert.equal(node.gid, src.gid, `gid of ${what}`);
      assert.equal(node.mtime.sec, Math.floor(src.mtimeMs / 1000), `mtime of ${what}`);
      if (e.type !== 'dir') assert.equal(node.size, src.size, `size of ${what}`);
      assert.equal(node.nlink, src.nlink, `nlink of ${what}`);
      const known = inodeOfSource.get(src.ino);
      if (known !== undefined) assert.equal(e.ino, known, `hard link ${what} is the same inode`);
      inodeOfSource.set(src.ino, e.ino);
      if (e.type === 'dir') await walk(childRel, e.ino);
      else if (e.type === 'symlink') assert.equal(await fs.readlink(e.ino), readlinkSync(join(root, childRel)), `target of ${what}`);
      else if (e.type === 'chardev' || e.type === 'blockdev') {
        assert.deepEqual(node.rdev, { major: Math.floor(src.rdev / 256) & 0xfff, minor: (src.rdev & 0xff) | ((src.rdev >>> 12) & ~0xff) }, `rdev of ${what}`);
      } else if (e.type === 'file') {
        await checkExtentsConsistent(fs, e.ino, node.size, what);
        if (node.size <= WHOLE_COMPARE_LIMIT) {
          assert.deepEqual(await fs.read(e.ino, 0, node.size + 10), new Uint8Array(readFileSync(join(root, childRel))), `bytes of ${what}`);
        }
      }
    }
  };
  await walk('', 2);
  return seen;
}

/** Collects a file's map. */
export async function collectExtents(fs: Ext4Filesystem, ino: number): Promise<FileExtent[]> {
  const out: FileExtent[] = [];
  for await (const x of fs.extents(ino)) out.push(x);
  return out;
}

/** The map tiles [0, size) in order, is merged, and has no empty piece. */
export async function checkExtentsConsistent(fs: Ext4Filesystem, ino: number, size: number, what: string): Promise<FileExtent[]> {
  const map = await collectExtents(fs, ino);
  let at = 0;
  for (let i = 0; i < map.length; i++) {
    const x = map[i];
    assert.equal(x.offset, at, `${what}: extent ${i} starts where the previous ended`);
    assert.ok(x.length > 0, `${what}: extent ${i} is not empty`);
    if (i > 0) {
      const p = map[i - 1];
      const contiguous = p.deviceOffset === null ? x.deviceOffset === null : x.deviceOffset === p.deviceOffset + p.length;
      assert.ok(!contiguous, `${what}: extents ${i - 1} and ${i} should have been merged`);
    }
    at += x.length;
  }
  assert.equal(at, size, `${what}: the map ends at the size`);
  return map;
}

/** Byte ranges [start, end) holding data in a sparse file: its writes rounded out to blocks. */
export function expectedDataRanges(file: SparseFile, blockSize: number): [number, number][] {
  const blocks = new Set<number>();
  for (const w of file.writes) {
    for (let b = Math.floor(w.offset / blockSize); b * blockSize < w.offset + w.length; b++) blocks.add(b);
  }
  const out: [number, number][] = [];
  for (const b of [...blocks].sort((x, y) => x - y)) {
    const start = b * blockSize;
    const end = Math.min(file.size, start + blockSize);
    const last = out.at(-1);
    if (last && last[1] === start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

/** The data ranges of a map. */
export function dataRanges(map: FileExtent[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of map) {
    if (x.deviceOffset === null) continue;
    const last = out.at(-1);
    if (last && last[1] === x.offset) last[1] += x.length;
    else out.push([x.offset, x.offset + x.length]);
  }
  return out;
}
