/**
 * The partitions kind's seed images, made at corpus-build time with the real tools: a GPT with
 * four partitions (sgdisk; an EFI vfat, an ext4, a swap, an unformatted one with a non-ASCII
 * name), the same disk with a hybrid MBR (sgdisk -h), an MBR with a primary, an extended
 * partition and three logical ones (sfdisk; ext4, vfat, swap inside), and an ext4 with no table
 * at all. Beside each, what the tools say it holds (`sfdisk --json`, `blkid -p` per partition):
 * the unmutated control case must read the same. GUIDs, ids and times are fixed so the bytes
 * are the same in every run.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CorpusFile, CorpusItem } from './corpus.ts';
import { FIXED_TIME } from './disk-tree.ts';
import { haveTools, makeExt, normaliseExt } from './ext4-seeds.ts';

const MiB = 1 << 20;

/** What the tools say a seed holds: its table and, per partition number, the filesystem kind. */
export interface PartitionExpectation {
  kind: 'gpt' | 'mbr' | 'none';
  partitions: { number: number; offset: number; size: number; type: string }[];
  /** blkid's TYPE per partition number (0: the whole disk of a table-less image). */
  filesystems: Record<number, string>;
}

const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, E2FSPROGS_FAKE_TIME: String(FIXED_TIME) } });
}

/** Writes the file `from` into `img` at byte `offset`. */
function writeInto(img: string, offset: number, from: string): void {
  const fd = openSync(img, 'r+');
  try {
    const b = readFileSync(from);
    writeSync(fd, b, 0, b.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A tiny tree for the filesystems inside partitions (the ext4 kind fuzzes the big one). */
function tinyTree(dir: string): string {
  const t = join(dir, 'tiny-tree');
  mkdirSync(join(t, 'sub'), { recursive: true });
  writeFileSync(join(t, 'hello.txt'), 'hello from a partition\n');
  writeFileSync(join(t, 'sub/data.bin'), Buffer.alloc(20_000, 0x5a));
  execFileSync('ln', ['-s', '../hello.txt', join(t, 'sub/link')]);
  execFileSync('touch', ['-h', '-d', `@${FIXED_TIME}`, join(t, 'hello.txt'), join(t, 'sub/data.bin'), join(t, 'sub/link'), join(t, 'sub'), t]);
  return t;
}

/** A filesystem of `kind` in the file `path` of `bytes` bytes. */
function makeFs(kind: 'ext4' | 'ext2' | 'vfat' | 'swap', path: string, bytes: number, tree: string, id: number): void {
  writeFileSync(path, '');
  execFileSync('truncate', ['-s', String(bytes), path]);
  if (kind === 'vfat') sh('mkfs.vfat', ['--invariant', '-i', (0x5eed0000 + id).toString(16), '-n', `FUZZ${id}`, path]);
  else if (kind === 'swap') sh('mkswap', ['-U', guid(0x5a7a0 + id), '-L', `swap${id}`, path]);
  else {
    makeExt(kind, path, `${bytes / 1024}k`, tree, ['-b', '1024', '-L', `fuzz${id}`, '-O', kind === 'ext4' ? '^has_journal' : '^resize_inode']);
    normaliseExt(path);
  }
}

/** The table sfdisk reads from `img` and blkid's filesystem kind of each partition. */
function expectation(img: string): PartitionExpectation {
  let table: { label: string; partitions?: { node: string; start: number; size: number; type: string }[] } | undefined;
  try {
    table = JSON.parse(sh('sfdisk', ['--json', img])).partitiontable;
  } catch { /* no table */ }
  const blkid = (offset?: number, size?: number) => {
    try {
      const out = sh('blkid', ['-p', '-o', 'export', ...(offset === undefined ? [] : ['-O', String(offset), '-S', String(size)]), img]);
      return /^TYPE=(.*)$/m.exec(out)?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };
  if (!table) return { kind: 'none', partitions: [], filesystems: { 0: blkid() } };
  const partitions = (table.partitions ?? []).map((p) => ({
    number: Number(/(\d+)$/.exec(p.node)![1]), offset: p.start * 512, size: p.size * 512, type: p.type,
  }));
  const filesystems: Record<number, string> = {};
  for (const p of partitions) filesystems[p.number] = blkid(p.offset, p.size);
  return { kind: table.label === 'gpt' ? 'gpt' : 'mbr', partitions, filesystems };
}

/** Builds the partitions kind into `dir`, or says why it cannot. */
export async function buildPartitionSeeds(dir: string): Promise<{ item?: CorpusItem; skipped?: string }> {
  if (!haveTools('sgdisk', 'sfdisk', 'truncate')) return { skipped: 'partitions (sgdisk or sfdisk missing)' };
  mkdirSync(dir, { recursive: true });
  const tree = tinyTree(dir);
  const withFs = haveTools('mkfs.ext4', 'mkfs.ext2', 'e2fsck', 'mkfs.vfat', 'mkswap', 'blkid');
  const fill = (imgs: string[], parts: [number, 'ext4' | 'ext2' | 'vfat' | 'swap', number][]) => {
    if (!withFs) return;
    for (const [sector, kind, bytes] of parts) {
      const tmp = join(dir, 'fs.tmp');
      makeFs(kind, tmp, bytes, tree, sector);
      for (const img of imgs) writeInto(img, sector * 512, tmp);
      rmSync(tmp);
    }
  };
  const files: CorpusFile[] = [];
  const add = (file: string) => {
    writeFileSync(join(dir, `${file}.json`), JSON.stringify(expectation(join(dir, file))));
    files.push({ file, original: {}, expect: `${file}.json` });
  };

  // The same GPT twice, the second with a hybrid MBR (sgdisk -h): one sgdisk each, side by side,
  // because sgdisk sleeps a second after writing (for the kernel to re-read a real disk's table).
  const gpt = join(dir, 'gpt.img');
  const hybrid = join(dir, 'gpt-hybrid.img');
  const sgdisk = ['-o', '-U', guid(0xd15c),
    '-n', '1:2048:+1M', '-t', '1:ef00', '-c', '1:EFI', '-u', `1:${guid(1)}`,
    '-n', '2:0:+3M', '-t', '2:8300', '-c', '2:root', '-u', `2:${guid(2)}`,
    '-n', '3:0:+1M', '-t', '3:8200', '-c', '3:swap', '-u', `3:${guid(3)}`,
    '-n', '4:0:0', '-t', '4:8302', '-c', '4:données', '-u', `4:${guid(4)}`];
  for (const img of [gpt, hybrid]) execFileSync('truncate', ['-s', String(8 * MiB), img]);
  await Promise.all([promisify(execFile)('sgdisk', [...sgdisk, gpt]), promisify(execFile)('sgdisk', [...sgdisk, '-h', '1:2', hybrid])]);
  fill([gpt, hybrid], [[2048, 'vfat', MiB], [4096, 'ext4', 3 * MiB], [10240, 'swap', MiB]]);
  add('gpt.img');
  add('gpt-hybrid.img');

  const mbr = join(dir, 'mbr.img');
  execFileSync('truncate', ['-s', String(8 * MiB), mbr]);
  sh('sfdisk', ['-q', mbr], 'label: dos\nlabel-id: 0x5eed0f22\nstart=2048, size=2048, type=83, bootable\nstart=4096, size=12288, type=5\nsize=2048, type=b\nsize=2048, type=82\nsize=2048, type=83\n');
  fill([mbr], [[2048, 'ext4', MiB], [6144, 'vfat', MiB], [10240, 'swap', MiB], [14336, 'ext2', MiB]]);
  add('mbr.img');

  if (withFs) {
    makeFs('ext4', join(dir, 'bare-ext4.img'), 2 * MiB, tree, 0);
    add('bare-ext4.img');
  }
  rmSync(tree, { recursive: true, force: true });
  return { item: { kind: 'partitions', format: 'partitions', dir, top: files[0].file, files } };
}
