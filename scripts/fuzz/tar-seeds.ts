/**
 * The tar kind's seeds, made at corpus-build time: a small generated tree (files of several
 * sizes, a sparse file with 30 data parts, long names and a long path, a non-UTF-8 name,
 * symlinks, a hard link, a FIFO, devices when running as root, odd modes and owners) archived
 * by GNU tar in every format it writes (pax, gnu, ustar, v7; --sparse as old GNU and pax 0.0,
 * 0.1 and 1.0; gzip and zstd), plus two crafted tars: one by tar-stream (long names, pax
 * records, hard links, devices, implicit directories, a replaced entry) and one by the fuzzer's
 * own writer (tar-format.ts: a global pax header, GNU long name/link entries, a volume label, a
 * GNU dump directory, base-256 numbers, the ustar prefix, a v7 directory, pax 0.1 sparse).
 *
 * Beside each seed, what extracting it gives (`<seed>.json`, a list of TarExpect): made from the
 * tree with lstat for GNU tar's seeds, written out by hand for the crafted ones. The unmutated
 * control case must scan to exactly that. Times, owners and GNU tar's PaxHeaders/GNUSparseFile
 * names are fixed, so the bytes are the same in every run on a machine.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import type { CorpusFile, CorpusItem } from './corpus.ts';
import { haveTools } from './ext4-seeds.ts';
import { Rng } from './rng.ts';
import { BLOCK, END, concat, entry, header, paxEntry, setChecksum, splitTar, writeNumber } from './tar-format.ts';

/** What one path of an extracted seed is. Paths are hex of their bytes ('' is the root). */
export interface TarExpect {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime?: { sec: number; nsec: number };
  sha256?: string;
  /** Symlinks: hex of the target bytes. */
  target?: string;
  rdev?: { major: number; minor: number };
  /** Hard links: the path (hex) of the first name of the same inode. */
  sameAs?: string;
}

export const FIXED_MTIME = 1_700_000_000;
const hex = (s: string | Uint8Array) => Buffer.from(s).toString('hex');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function words(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const w = ['tar', 'header', 'pax', 'sparse', 'block', 'ustar', 'gnu', '\n'];
  let s = '';
  while (s.length < n) s += `${rng.pick(w)} `;
  return new TextEncoder().encode(s.slice(0, n));
}

/** Writes the tree GNU tar archives; `small` leaves out what ustar and v7 cannot store. */
function writeTree(root: string, flavour: 'full' | 'small' | 'tiny' | 'sparse', asRoot: boolean): void {
  mkdirSync(root, { recursive: true });
  const p = (rel: string | Buffer) => (typeof rel === 'string' ? join(root, rel) : Buffer.concat([Buffer.from(`${root}/`), rel]));
  const rng = new Rng(0x7a5);
  if (flavour === 'sparse') {
    // 30 data parts: the old GNU header holds 4, the rest go to two extension blocks.
    const fd = openSync(p('holey.img'), 'w');
    for (let i = 0; i < 30; i++) writeSync(fd, rng.bytes(4096 + (i % 3) * 100), 0, 4096 + (i % 3) * 100, i * 40960 + (i % 2 ? 0 : 8192));
    closeSync(fd);
    truncateSync(p('holey.img'), 30 * 40960 + 777);
    writeFileSync(p('dense.txt'), words(5000, 2));
    const fd2 = openSync(p('all-hole.img'), 'w');
    closeSync(fd2);
    truncateSync(p('all-hole.img'), 3 << 20);
    return;
  }
  writeFileSync(p('hello.txt'), 'hello from a tar\n');
  mkdirSync(p('sub/dir'), { recursive: true });
  writeFileSync(p('sub/dir/nested.txt'), words(3000, 3));
  symlinkSync('hello.txt', p('link'));
  linkSync(p('hello.txt'), p('hard'));
  if (flavour === 'tiny') return;
  writeFileSync(p('empty'), '');
  writeFileSync(p('data.bin'), rng.bytes(20_000));
  writeFileSync(p('setuid'), 'x');
  chmodSync(p('setuid'), 0o4755);
  mkdirSync(p('sticky'));
  chmodSync(p('sticky'), 0o1777);
  mkdirSync(p('private'));
  writeFileSync(p('private/secret'), 'shh');
  chmodSync(p('private/secret'), 0o600);
  chmodSync(p('private'), 0o700);
  execFileSync('mkfifo', [p('pipe') as string]);
  if (asRoot) {
    chownSync(p('private/secret'), 1000, 1000);
    chownSync(p('data.bin'), 70000, 123456);
    try {
      execFileSync('mknod', [p('null') as string, 'c', '1', '3']);
      execFileSync('mknod', [p('disk') as string, 'b', '8', '1']);
      execFileSync('mknod', [p('bigdev') as string, 'c', '300', '70000']);
    } catch { /* no devices in this container */ }
  }
  if (flavour === 'small') return;
  mkdirSync(p(`${'l'.repeat(90)}/${'m'.repeat(90)}`), { recursive: true });
  writeFileSync(p(`${'l'.repeat(90)}/${'m'.repeat(90)}/${'n'.repeat(120)}.txt`), 'deep and long');
  writeFileSync(p('x'.repeat(200)), 'a 200-byte name');
  writeFileSync(p(Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62])), 'not UTF-8');
  writeFileSync(p('données-ü.txt'), 'utf-8 name');
  symlinkSync('t'.repeat(150), p('longlink'));
}

/** Fixes every time under `root` (deepest first, so directories keep theirs). */
function fixTimes(root: string): void {
  const walk = (dir: Buffer) => {
    for (const n of readdirSync(dir, { encoding: 'buffer' })) {
      const path = Buffer.concat([dir, Buffer.from('/'), n]);
      if (lstatSync(path).isDirectory()) walk(path);
      lutimesSync(path, FIXED_MTIME, FIXED_MTIME);
    }
  };
  walk(Buffer.from(root));
  lutimesSync(root, FIXED_MTIME, FIXED_MTIME);
}

/** What extracting a tar of `root` gives, from lstat. */
function expectTree(root: string): TarExpect[] {
  const out: TarExpect[] = [];
  const inodes = new Map<number, string>();
  const visit = (path: Buffer, rel: Buffer) => {
    const st = lstatSync(path);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : 'file';
    const e: TarExpect = { path: hex(rel), kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0 };
    if (kind !== 'dir' && st.nlink > 1) {
      const first = inodes.get(st.ino);
      if (first !== undefined) e.sameAs = first;
      else inodes.set(st.ino, e.path);
    }
    if (kind === 'file') { const b = readFileSync(path); e.size = b.length; e.sha256 = sha(b); }
    if (kind === 'symlink') { const t = readlinkSync(path, { encoding: 'buffer' }); e.target = hex(t); e.size = t.length; }
    if (kind === 'chardev' || kind === 'blockdev') e.rdev = { major: Number((BigInt(st.rdev) >> 8n) & 0xfffn), minor: Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & ~0xffn)) };
    if (kind !== 'symlink') e.mtime = { sec: FIXED_MTIME, nsec: 0 };
    out.push(e);
    if (kind === 'dir') {
      for (const n of readdirSync(path, { encoding: 'buffer' })) visit(Buffer.concat([path, Buffer.from('/'), n]), rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
    }
  };
  visit(Buffer.from(root), Buffer.alloc(0));
  return out;
}

/** GNU tar's generated names carry its pid (PaxHeaders.N, GNUSparseFile.N): made fixed, checksums redone. */
function normaliseGnuNames(tar: Uint8Array): Uint8Array {
  const a = splitTar(tar);
  for (const u of a.units) {
    const name = Buffer.from(u.header.subarray(0, 100));
    let changed = false;
    for (const marker of ['GNUSparseFile.', 'PaxHeaders.']) {
      const i = name.indexOf(marker);
      if (i < 0) continue;
      for (let k = i + marker.length; k < 100 && name[k] >= 0x30 && name[k] <= 0x39; k++) { u.header[k] = 0x30; changed = true; }
    }
    if (changed) {
      setChecksum(u.header);
      tar.set(u.header, u.at);
    }
  }
  return tar;
}

const TAR_COMMON = ['--sort=name', '--numeric-owner'];
/** pax only: no atime/ctime records (they are the host's), and header names without GNU tar's pid. */
const TAR_PAX = ['--pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f'];

/** Builds the tar kind into `dir`, or says why it cannot. */
export async function buildTarSeeds(dir: string): Promise<{ item?: CorpusItem; skipped?: string }> {
  mkdirSync(dir, { recursive: true });
  const files: CorpusFile[] = [];
  const add = (file: string, bytes: Uint8Array, expect: TarExpect[], tar?: string) => {
    writeFileSync(join(dir, file), bytes);
    writeFileSync(join(dir, `${file}.json`), JSON.stringify(expect));
    files.push({ file, original: tar ? { tar } : {}, expect: `${file}.json` });
  };
  const asRoot = process.getuid?.() === 0;

  if (haveTools('tar')) {
    const trees: Record<string, string> = {};
    for (const flavour of ['full', 'small', 'tiny', 'sparse'] as const) {
      const t = join(dir, `tree-${flavour}`);
      rmSync(t, { recursive: true, force: true });
      writeTree(t, flavour, asRoot);
      fixTimes(t);
      trees[flavour] = t;
    }
    const gnu = (name: string, tree: string, flags: string[], compress?: 'gzip' | 'zstd'): Uint8Array => {
      const out = join(dir, `${name}.tmp`);
      const zflag = compress === 'gzip' ? ['-z'] : compress === 'zstd' ? ['--zstd'] : [];
      execFileSync('tar', [...TAR_COMMON, ...(flags.includes('--format=pax') ? TAR_PAX : []), ...flags, ...zflag, '-cf', out, '-C', tree, '.'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GZIP: '-n' } });
      const b = new Uint8Array(readFileSync(out));
      rmSync(out);
      return b;
    };
    const plain: [string, string, string[]][] = [
      ['gnu-pax.tar', 'full', ['--format=pax']],
      ['gnu-gnu.tar', 'full', ['--format=gnu']],
      ['gnu-ustar.tar', 'small', ['--format=ustar']],
      ['gnu-v7.tar', 'tiny', ['--format=v7']],
      ['sparse-gnu.tar', 'sparse', ['--format=gnu', '--sparse']],
      ['sparse-pax10.tar', 'sparse', ['--format=pax', '--sparse']],
      ['sparse-pax00.tar', 'sparse', ['--format=pax', '--sparse', '--sparse-version=0.0']],
      ['sparse-pax01.tar', 'sparse', ['--format=pax', '--sparse', '--sparse-version=0.1']],
    ];
    const expects: Record<string, TarExpect[]> = {};
    for (const f of ['full', 'small', 'tiny', 'sparse']) expects[f] = expectTree(trees[f]);
    for (const [name, tree, flags] of plain) add(name, normaliseGnuNames(gnu(name, trees[tree], flags)), expects[tree]);
    // Compressed: what `tar -z` / `tar --zstd` write is the plain tar piped through gzip / zstd;
    // done here from the normalised plain twin (whose pid-bearing names are fixed), so the bytes
    // are the same in every run. Mutations of the payload work on the twin and compress again.
    const compressed: [string, 'gzip' | 'zstd', string][] = [['gnu-pax.tar.gz', 'gzip', 'gnu-pax.tar'], ['sparse-pax10.tar.gz', 'gzip', 'sparse-pax10.tar']];
    if (haveTools('zstd')) compressed.push(['gnu-gnu.tar.zst', 'zstd', 'gnu-gnu.tar'], ['sparse-gnu.tar.zst', 'zstd', 'sparse-gnu.tar']);
    for (const [name, how, twin] of compressed) {
      const input = readFileSync(join(dir, twin));
      const z = execFileSync(how, how === 'gzip' ? ['-n', '-c', '-6'] : ['-q', '-c', '-3'], { input, maxBuffer: 1 << 30 });
      add(name, new Uint8Array(z), JSON.parse(readFileSync(join(dir, `${twin}.json`), 'utf8')) as TarExpect[], twin);
    }
    for (const t of Object.values(trees)) rmSync(t, { recursive: true, force: true });
  }

  const ts = await tarStreamSeed();
  add('crafted-stream.tar', ts.bytes, ts.expect);
  const own = ownSeed();
  add('crafted-own.tar', own.bytes, own.expect);
  if (!files.length) return { skipped: 'tar (no seeds)' };
  return { item: { kind: 'tar', format: 'tar', dir, top: files[0].file, files } };
}

const E = (path: string | Uint8Array, kind: TarExpect['kind'], more: Partial<TarExpect> = {}): TarExpect =>
  ({ path: hex(path), kind, mode: kind === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, ...more });
const fileE = (path: string, body: string | Uint8Array, more: Partial<TarExpect> = {}) => {
  const b = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return E(path, 'file', { size: b.length, sha256: sha(b), ...more });
};

/** A tar made with tar-stream's pack. */
async function tarStreamSeed(): Promise<{ bytes: Uint8Array; expect: TarExpect[] }> {
  const at = new Date(FIXED_MTIME * 1000);
  const later = new Date((FIXED_MTIME + 500) * 1000);
  const long = `${'deep/'.repeat(30)}${'f'.repeat(120)}`;
  const pack = tarStream.pack();
  type H = Partial<tarStream.Header> & { name: string; pax?: Record<string, string> };
  const entries: [H, string?][] = [
    [{ name: 'a/b/c.txt', mode: 0o640, uid: 7, gid: 8, mtime: at }, 'first'],
    [{ name: 'z', type: 'directory', mode: 0o700, mtime: at }],
    [{ name: 'a/b/c.txt', mode: 0o600, uid: 7, gid: 8, mtime: at }, 'second!'],
    [{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime: at }],
    [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, mtime: at }],
    [{ name: 'dev/big', type: 'character-device', devmajor: 4095, devminor: 262143, mode: 0o600, mtime: at }],
    [{ name: 'a/b/h', type: 'link', linkname: 'a/b/c.txt', mtime: at }],
    [{ name: 'fifo', type: 'fifo', mode: 0o644, mtime: at }],
    [{ name: 'sym', type: 'symlink', linkname: '../outside/is/fine/for/a/symlink', mtime: at }],
    [{ name: long, mode: 0o644, mtime: at }, 'long path'],
    [{ name: 'paxed', mode: 0o644, mtime: at, pax: { mtime: '1700000000.123456789', atime: '1600000000.5', ctime: '1700000100', uid: '3000000000', gid: '4000000000' } }, 'pax attributes'],
    [{ name: 'contig', type: 'contiguous-file', mode: 0o644, mtime: later }, 'contiguous'],
  ];
  for (const [h, body] of entries) pack.entry(h, body ?? '');
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack) parts.push(c as Buffer);
  const t = { sec: FIXED_MTIME, nsec: 0 };
  const implicitT = { sec: FIXED_MTIME + 500, nsec: 0 };
  const expect: TarExpect[] = [
    E('', 'dir', { mtime: implicitT }),
    E('a', 'dir', { mtime: implicitT }), E('a/b', 'dir', { mtime: implicitT }),
    fileE('a/b/c.txt', 'second!', { mode: 0o600, uid: 7, gid: 8, mtime: t }),
    E('a/b/h', 'file', { sameAs: hex('a/b/c.txt') }),
    E('z', 'dir', { mode: 0o700, mtime: t }),
    E('dev', 'dir', { mtime: implicitT }),
    E('dev/null', 'chardev', { mode: 0o666, rdev: { major: 1, minor: 3 }, mtime: t }),
    E('dev/sda', 'blockdev', { mode: 0o660, rdev: { major: 8, minor: 0 }, mtime: t }),
    E('dev/big', 'chardev', { mode: 0o600, rdev: { major: 4095, minor: 262143 }, mtime: t }),
    E('fifo', 'fifo', { mtime: t }),
    E('sym', 'symlink', { target: hex('../outside/is/fine/for/a/symlink'), size: 32, mode: 0o644, mtime: t }), // tar-stream's default mode
    fileE('paxed', 'pax attributes', { uid: 3000000000, gid: 4000000000, mtime: { sec: 1_700_000_000, nsec: 123_456_789 } }),
    fileE('contig', 'contiguous', { mtime: { sec: FIXED_MTIME + 500, nsec: 0 } }),
    fileE(long, 'long path', { mtime: t }),
  ];
  for (let k = 1; k <= 30; k++) expect.push(E('deep/'.repeat(k).slice(0, -1), 'dir', { mtime: implicitT }));
  return { bytes: new Uint8Array(Buffer.concat(parts)), expect };
}

/** A tar from the fuzzer's own writer: the constructs tar-stream does not write. */
function ownSeed(): { bytes: Uint8Array; expect: TarExpect[] } {
  const t = (sec: number, nsec = 0) => ({ sec, nsec });
  const body = (s: string) => new TextEncoder().encode(s);
  // pax 0.1 sparse: a 20000-byte file with data at [0,100) and [12288,12388).
  const sparseData = concat([body('A'.repeat(100)), body('B'.repeat(100))]);
  const sparseFile = new Uint8Array(20000);
  sparseFile.fill(0x41, 0, 100);
  sparseFile.fill(0x42, 12288, 12388);
  const negTime = header({ name: 'old-file', size: 4 });
  writeNumber(negTime, 136, 12, -86400 * 365, 'base256');
  writeNumber(negTime, 108, 8, 3_000_000_000, 'base256');
  setChecksum(negTime);
  const bytes = concat([
    paxEntry([['mtime', '1700000200.25'], ['uid', '42']], true, 'GlobalHead.0/x'),
    entry({ name: 'gdefaults', mode: 0o640 }, body('global mtime and uid apply')),
    entry({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, body(`${'L'.repeat(100)}/${'M'.repeat(200)}\0`)),
    entry({ name: 'ignored', format: 'gnu' }, body('gnu long name')),
    entry({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, body(`${'k/'.repeat(100)}target\0`)),
    entry({ name: 'gnu-longlink', typeflag: '2', format: 'gnu', mode: 0o777 }),
    entry({ name: 'volume label', typeflag: 'V', format: 'gnu' }),
    entry({ name: 'dumpdir', typeflag: 'D', format: 'gnu', mode: 0o711 }, body('Yfile\0\0')),
    concat([negTime, body('old\n'), new Uint8Array(BLOCK - 4)]),
    entry({ name: 'file', prefix: 'pre/fixed', mode: 0o600 }, body('prefixed')),
    entry({ name: 'v7dir/', format: 'v7', typeflag: '\0', mode: 0o750 }),
    paxEntry([['path', 'pax/overrides/name'], ['linkpath', 'gdefaults']]),
    entry({ name: 'short', typeflag: '1' }),
    paxEntry([['GNU.sparse.size', '20000'], ['GNU.sparse.numblocks', '2'], ['GNU.sparse.map', '0,100,12288,100'], ['GNU.sparse.name', 'sparse01']]),
    entry({ name: 'GNUSparseFile.0/sparse01' }, sparseData),
    paxEntry([['path', 'empty-value'], ['uid', '']]),
    entry({ name: 'ignored2', uid: 9 }, body('uid deleted by the empty record, so the global 42 is gone too')),
    END,
  ]);
  const G = t(1_700_000_200, 250_000_000);
  const latest = G;
  const expect: TarExpect[] = [
    E('', 'dir', { mtime: latest }),
    fileE('gdefaults', 'global mtime and uid apply', { mode: 0o640, uid: 42, mtime: G }),
    E('L'.repeat(100), 'dir', { mtime: latest }),
    fileE(`${'L'.repeat(100)}/${'M'.repeat(200)}`, 'gnu long name', { uid: 42, mtime: G }),
    E('gnu-longlink', 'symlink', { target: hex(`${'k/'.repeat(100)}target`), size: 206, mode: 0o777, uid: 42, mtime: G }),
    E('dumpdir', 'dir', { mode: 0o711, uid: 42, mtime: G }),
    fileE('old-file', 'old\n', { uid: 42, mtime: G }),
    E('pre', 'dir', { mtime: latest }),
    E('pre/fixed', 'dir', { mtime: latest }),
    fileE('pre/fixed/file', 'prefixed', { mode: 0o600, uid: 42, mtime: G }),
    E('v7dir', 'dir', { mode: 0o750, uid: 42, mtime: G }),
    E('pax', 'dir', { mtime: latest }),
    E('pax/overrides', 'dir', { mtime: latest }),
    E('pax/overrides/name', 'file', { sameAs: hex('gdefaults') }),
    fileE('sparse01', sparseFile, { uid: 42, mtime: G }),
    fileE('empty-value', 'uid deleted by the empty record, so the global 42 is gone too', { uid: 9, mtime: G }),
  ];
  return { bytes, expect };
}
