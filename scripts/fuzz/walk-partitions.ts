/**
 * The partition-table walk: readPartitions with and without a warning listener (the table must
 * be the same: the listener only decides whether the backup GPT is checked), the layout it
 * promises (partitions inside the device, no two sharing a sector, logical partitions inside
 * their extended one, MBR partitions off sector 0), then detectFilesystem on the whole disk and
 * on each partition (through subDevice), and a short ext4 walk of each ext2/3/4 found.
 */
import { detectFilesystem, type FilesystemInfo } from '../../src/fs/detect-filesystem.ts';
import { readPartitions } from '../../src/fs/partition/partition-table.ts';
import type { PartitionTable } from '../../src/fs/partition/types.ts';
import { subDevice } from '../../src/fs/sub-device.ts';
import type { BlockDevice } from '../../src/fs/types.ts';
import type { Rng } from './rng.ts';
import { digestOf, Steps } from './steps.ts';
import { SHORT_WALK, walkExt4 } from './walk-ext4.ts';

/** What the walk saw (for the control case's comparison with the tools' view). */
export interface WalkedDisk {
  table?: PartitionTable;
  /** Filesystem found per partition number (0: the whole disk). */
  filesystems: Map<number, FilesystemInfo>;
}

const EXTENDED_TYPES = new Set(['0x05', '0x0f', '0x85']);

export async function walkPartitions(s: Steps, dev: BlockDevice, rng: Rng, image?: Uint8Array): Promise<WalkedDisk> {
  const out: WalkedDisk = { filesystems: new Map() };
  const warnings: unknown[] = [];
  s.announce('readPartitions');
  const table = await s.run('readPartitions', 'onWarning', () => readPartitions(dev, { onWarning: (m) => warnings.push(m) }), digestOf);
  for (const w of warnings) if (typeof w !== 'string') s.finding('bad-warning', `onWarning was given a ${typeof w}, not a message`);
  const quiet = await s.run('readPartitions', 'no listener', () => readPartitions(dev), digestOf);
  if (table && quiet && digestOf(table) !== digestOf(quiet)) {
    s.finding('inconsistent', `the table read with a warning listener (${digestOf(table)}) differs from the one read without (${JSON.stringify(quiet).slice(0, 300)})`, 'readPartitions');
  }
  const whole = await s.run('detectFilesystem', 'disk', () => detectFilesystem(dev), digestOf);
  if (whole) out.filesystems.set(0, whole);
  if (!table) return out;
  out.table = table;
  if (!checkLayout(s, table, dev.size)) return out;

  for (const p of table.partitions.slice(0, 140)) {
    s.announce(`partition ${p.number}`);
    const sub = await s.run('subDevice', `${p.number}`, async () => subDevice(dev, p.offset, p.size));
    if (!sub) continue;
    const fs = await s.run('detectFilesystem', `${p.number}`, () => detectFilesystem(sub), digestOf);
    if (!fs) continue;
    if (p.number !== 0) out.filesystems.set(p.number, fs);
    if (fs.kind === 'ext2' || fs.kind === 'ext3' || fs.kind === 'ext4') {
      const inner = new Steps(s.j, `${s.tag}p${p.number}:`, s.transcript ?? false);
      await walkExt4(inner, sub, rng.fork(), SHORT_WALK, image?.subarray(p.offset, p.offset + p.size));
      inner.finish();
    }
  }
  return out;
}

/** The promises of PartitionTable about the partitions it lists; false (after a finding) when one is broken. */
function checkLayout(s: Steps, t: PartitionTable, devSize: number): boolean {
  const bad = (why: string) => { s.finding('accepted-invalid', `readPartitions returned a ${t.kind} table ${why}: ${JSON.stringify(t.partitions).slice(0, 400)}`, 'readPartitions(onWarning)'); return false; };
  if (!['gpt', 'mbr', 'none'].includes(t.kind) || (t.sectorSize !== 512 && t.sectorSize !== 4096)) return bad(`with sector size ${t.sectorSize}`);
  const numbers = new Set<number>();
  for (const p of t.partitions) {
    if (!Number.isSafeInteger(p.offset) || !Number.isSafeInteger(p.size) || p.offset < 0 || p.size <= 0 || p.offset + p.size > devSize) {
      return bad(`whose partition ${p.number} (${p.offset}+${p.size}) is not inside the ${devSize}-byte device`);
    }
    if (numbers.has(p.number)) return bad(`with two partitions numbered ${p.number}`);
    numbers.add(p.number);
    if (t.kind === 'mbr' && p.offset < 512) return bad(`whose partition ${p.number} covers sector 0`);
  }
  if (t.kind === 'none') return t.partitions.length <= 1 || bad('with more than one pseudo-partition');
  const overlap = (list: typeof t.partitions) => {
    const sorted = [...list].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].size) return [sorted[i - 1].number, sorted[i].number];
    return undefined;
  };
  const primaries = t.partitions.filter((p) => !p.logical);
  const logicals = t.partitions.filter((p) => p.logical);
  const o = overlap(primaries) ?? overlap(logicals);
  if (o) return bad(`whose partitions ${o[0]} and ${o[1]} overlap`);
  const containers = primaries.filter((p) => EXTENDED_TYPES.has(p.type));
  for (const l of logicals) {
    if (!containers.some((c) => l.offset > c.offset && l.offset + l.size <= c.offset + c.size)) return bad(`whose logical partition ${l.number} is in no extended partition`);
  }
  return true;
}
