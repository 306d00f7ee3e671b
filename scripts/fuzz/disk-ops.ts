/**
 * The operations of a partitions or ext4 case: the walk over the (mutated) image in memory;
 * for the unmutated control, a comparison of what it saw with what the tools that made the
 * image say it holds; and now and then the same walk over the image packed into an archive
 * (archive.stream('disk') is a BlockDevice), which must go step for step as the walk in memory
 * did: packing is lossless, so any difference is the archive path's.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Archive, pack } from '../../src/index.ts';
import type { BlockDevice } from '../../src/fs/types.ts';
import { bytesDevice } from './bytes-device.ts';
import type { CorpusFile, CorpusItem } from './corpus.ts';
import type { TreeEntry } from './disk-tree.ts';
import type { Judge } from './judge.ts';
import type { PartitionExpectation } from './partition-seeds.ts';
import { Rng } from './rng.ts';
import type { CaseEnv } from './run-case.ts';
import { Steps } from './steps.ts';
import { FULL_WALK, walkExt4, type WalkedTree } from './walk-ext4.ts';
import { walkPartitions, type WalkedDisk } from './walk-partitions.ts';

export async function diskOps(j: Judge, item: CorpusItem, file: CorpusFile, path: string, bytes: Uint8Array, rng: Rng, env: CaseEnv): Promise<void> {
  const walkSeed = rng.next();
  const viaArchive = bytes.length > 0 && rng.chance(env.packChance);
  const mem = new Steps(j, '', viaArchive);
  const dev = bytesDevice(bytes, (message) => mem.finding('out-of-range-read', message));
  const seen = await walk(item, mem, dev, walkSeed, bytes);
  mem.finish();
  if (j.result.flavour === 'none' && file.expect) {
    const expect = JSON.parse(readFileSync(join(item.dir, file.expect), 'utf8'));
    if (item.format === 'ext4') compareTree(j, seen as WalkedTree | undefined, expect as TreeEntry[]);
    else compareDisk(j, seen as WalkedDisk, expect as PartitionExpectation);
  }
  if (!viaArchive) return;

  const out = join(path, '..', 'packed.hxz');
  const packed = await j.run('pack(image)', () => pack({ disk: path, diskFormat: 'raw', output: out, workers: 1, blockSize: 4096, force: true }));
  if (packed) {
    const a = await j.run('open(packed)', () => Archive.open(out));
    if (a) {
      try {
        const arch = new Steps(j, 'archive:', true);
        await walk(item, arch, a.stream('disk'), walkSeed);
        arch.finish();
        const x = mem.transcript!;
        const y = arch.transcript!.map((line) => line.slice('archive:'.length));
        const k = x.findIndex((line, i) => line !== y[i]);
        if (k >= 0 || x.length !== y.length) {
          const at = k >= 0 ? k : Math.min(x.length, y.length);
          j.finding('device-divergence', `archive:${(y[at] ?? x[at] ?? '(end)').split(' → ')[0]}`, `step ${at} of the walk: over the image ${x[at] ?? '(walk ended)'}, over its archive ${y[at] ?? '(walk ended)'}`);
        }
      } finally {
        await j.run('close(packed)', () => a.close());
      }
    }
  }
  rmSync(out, { force: true });
}

function walk(item: CorpusItem, s: Steps, dev: BlockDevice, seed: number, image?: Uint8Array): Promise<WalkedTree | WalkedDisk | undefined> {
  return item.format === 'ext4' ? walkExt4(s, dev, new Rng(seed), FULL_WALK, image) : walkPartitions(s, dev, new Rng(seed), image);
}

/** The unmutated image must read back as the tree it was made from (lost+found aside). */
function compareTree(j: Judge, seen: WalkedTree | undefined, expect: TreeEntry[]): void {
  const op = 'control';
  if (!seen) return j.finding('wrong-tree', op, 'the unmutated image did not open');
  for (const e of expect) {
    const got = seen.get(e.path);
    if (!got) { j.finding('wrong-tree', op, `${e.path} is missing`); continue; }
    // A directory's size is its blocks', not the tree's business.
    const diff = (['type', 'size', 'sha256', 'target'] as const).filter((k) => (k === 'size' ? e.type !== 'dir' : k === 'type' || e[k] !== undefined) && got[k] !== e[k]);
    if (diff.length) j.finding('wrong-tree', op, `${e.path}: ${diff.map((k) => `${k} ${JSON.stringify(got[k])}, expected ${JSON.stringify(e[k])}`).join('; ')}`);
  }
  const known = new Set(expect.map((e) => e.path));
  for (const p of seen.keys()) if (!known.has(p) && !p.startsWith('/lost+found')) j.finding('wrong-tree', op, `${p} is not in the tree`);
}

/** The unmutated disk must show the table sfdisk reads and the filesystems blkid finds. */
function compareDisk(j: Judge, seen: WalkedDisk, expect: PartitionExpectation): void {
  const op = 'control';
  const t = seen.table;
  if (!t) return j.finding('wrong-table', op, 'the unmutated disk gave no table');
  if (t.kind !== expect.kind) j.finding('wrong-table', op, `table kind ${t.kind}, sfdisk reads ${expect.kind}`);
  const norm = (type: string) => (/^(0x)?[0-9a-f]{1,2}$/i.test(type) ? parseInt(type.replace(/^0x/i, ''), 16).toString(16) : type.toUpperCase());
  if (expect.kind !== 'none') {
    const got = t.partitions.map((p) => `${p.number}:${p.offset}+${p.size}:${norm(p.type)}`).join(' ');
    const want = expect.partitions.map((p) => `${p.number}:${p.offset}+${p.size}:${norm(p.type)}`).join(' ');
    if (got !== want) j.finding('wrong-table', op, `partitions ${got}; sfdisk reads ${want}`);
  }
  for (const [n, kind] of Object.entries(expect.filesystems)) {
    const got = seen.filesystems.get(Number(n))?.kind ?? 'unknown';
    if (got !== kind) j.finding('wrong-table', op, `partition ${n} holds ${got}; blkid finds ${kind}`);
  }
}
