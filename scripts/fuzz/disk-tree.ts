/**
 * The source tree the fuzzer's ext4 seed images are made from (`mkfs.ext4 -d TREE`), and the
 * manifest of what it holds: the unmutated control case of the ext4 kind must read back exactly
 * this, which is also what shows the walk itself sees the whole filesystem.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './rng.ts';

/** One path of the tree as the reader should report it. */
export interface TreeEntry {
  /** Absolute path inside the filesystem, names decoded as UTF-8 with replacement (as the reader decodes them). */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo';
  size: number;
  /** sha256 hex of a file's contents. */
  sha256?: string;
  /** A symlink's target. */
  target?: string;
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'inode', 'extent', 'block', 'htree', 'journal', 'orphan'];

/**
 * Writes the tree under `root` (which must exist and be empty) and returns its manifest.
 * `bigDir` files go into /big (enough for an htree of several blocks once e2fsck -D indexes it).
 */
export function writeFuzzTree(root: string, seed: number, bigDir: number): TreeEntry[] {
  const rng = new Rng(seed);
  const out: TreeEntry[] = [];
  const dir = (rel: string) => { mkdirSync(join(root, rel), { recursive: true }); out.push({ path: `/${rel}`, type: 'dir', size: 0 }); };
  const file = (rel: string, data: Uint8Array) => {
    writeFileSync(join(root, rel), data);
    out.push({ path: `/${rel}`, type: 'file', size: data.length, sha256: sha(data) });
  };
  const link = (rel: string, target: string) => {
    symlinkSync(target, join(root, rel));
    out.push({ path: `/${rel}`, type: 'symlink', size: Buffer.byteLength(target), target });
  };
  const text = (n: number) => {
    const parts: string[] = [];
    let len = 0;
    while (len < n) { const w = rng.pick(WORDS); parts.push(w); len += w.length + 1; }
    return new TextEncoder().encode(parts.join(' ').slice(0, n));
  };

  file('hello.txt', new TextEncoder().encode('hello, ext4\n'));
  // Sizes at the inline-data (60 bytes in i_block) and block edges.
  dir('sizes');
  for (const n of [0, 1, 59, 60, 61, 150, 1023, 1024, 1025, 4095, 4096, 4097]) file(`sizes/s${n}`, text(n));
  dir('big');
  for (let i = 0; i < bigDir; i++) file(`big/entry-${String(i).padStart(4, '0')}-${rng.pick(WORDS)}`, text(rng.range(0, 200)));
  dir('data');
  file('data/medium.bin', rng.bytes(100_000));
  // 300 KiB: past the double-indirect start (268 blocks) of a 1 KiB-block block map.
  file('data/large.bin', rng.bytes(300 * 1024));
  linkSync(join(root, 'data/medium.bin'), join(root, 'data/hardlink'));
  out.push({ ...out.find((e) => e.path === '/data/medium.bin')!, path: '/data/hardlink' });
  dir('sparse');
  // 1 KiB of data every 8 KiB: 20 extents, more than i_block's 4, so an extent tree block. It
  // ends in data: mke2fs -d with inline_data cuts a file's trailing hole off its size.
  sparse(root, 'sparse/frag', 19 * 8192 + 1024, Array.from({ length: 20 }, (_, i) => [i * 8192, 1024] as [number, number]), rng, out);
  sparse(root, 'sparse/holes', 3 << 20, [[0, 5000], [(1 << 20) + 123, 7000], [(3 << 20) - 10, 10]], rng, out);
  sparse(root, 'sparse/all-hole', 2 << 20, [], rng, out);
  dir('links');
  link('links/rel', '../hello.txt');
  link('links/abs', '/hello.txt');
  for (const n of [59, 60, 61]) link(`links/len${n}`, 'x'.repeat(n - 4) + '/abc');
  link('links/long', `/deep/${'long-component/'.repeat(20)}end`);
  link('links/dir', '../deep/a/b');
  link('links/chain', '/links/dir');
  link('links/loop1', 'loop2');
  link('links/loop2', 'loop1');
  link('links/dangling', 'no/such/file');
  for (let rel = 'deep', k = 0; k < 8; rel += `/${'abcdefg'[k]}`, k++) dir(rel);
  file('deep/a/b/c/d/e/f/g/leaf.txt', text(33));
  dir('names');
  for (const name of ['héllo wörld', '日本語の名前', 'with space', 'n'.repeat(255), '-dash', '.hidden']) file(`names/${name}`, text(10));
  // A name that is not UTF-8: the reader shows it with U+FFFD, and lookup cannot name it.
  const bad = Buffer.concat([Buffer.from('bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('-name')]);
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'names') + '/'), bad]), 'x');
  out.push({ path: `/names/${new TextDecoder().decode(bad)}`, type: 'file', size: 1, sha256: sha(new Uint8Array([0x78])) });
  try {
    execFileSync('mkfifo', [join(root, 'names/fifo')], { stdio: 'ignore' });
    out.push({ path: '/names/fifo', type: 'fifo', size: 0 });
  } catch { /* no mkfifo: no fifo */ }
  fixTimes(Buffer.from(root));
  return out;
}

/**
 * Sets every time in the tree to one fixed instant: mke2fs -d copies them into the inodes, and
 * the seed images must be the same bytes in every run for a case seed to replay.
 */
function fixTimes(path: Buffer): void {
  if (lstatSync(path).isDirectory()) {
    for (const name of readdirSync(path, { encoding: 'buffer' })) fixTimes(Buffer.concat([path, Buffer.from('/'), name]));
  }
  lutimesSync(path, FIXED_TIME, FIXED_TIME);
}

/** 2026-01-01T00:00:00Z, the time of every seed image (also given to mke2fs and e2fsck). */
export const FIXED_TIME = 1767225600;

/** A file of `size` bytes with random data at `pieces` ([offset, length]) and holes elsewhere. */
function sparse(root: string, rel: string, size: number, pieces: [number, number][], rng: Rng, out: TreeEntry[]): void {
  const content = new Uint8Array(size);
  const fd = openSync(join(root, rel), 'w');
  try {
    for (const [at, n] of pieces) {
      const b = rng.bytes(n);
      content.set(b, at);
      writeSync(fd, b, 0, n, at);
    }
  } finally {
    closeSync(fd);
  }
  execFileSync('truncate', ['-s', String(size), join(root, rel)]);
  out.push({ path: `/${rel}`, type: 'file', size, sha256: sha(content) });
}

export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
