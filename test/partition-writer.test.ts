/**
 * Partition-table writing (src/fs/partition/write-gpt.ts, write-mbr.ts, plan-partitions.ts)
 * judged by the real tools: planned and encoded tables are written into sparse temp files and
 * checked with `sfdisk --verify`, `sfdisk --json`, `sgdisk -v` / `sgdisk -i`, and with our own
 * reader (readPartitions). The MBR sector is compared byte for byte with the one sfdisk writes for
 * the same layout (CHS fields included). Tests needing a tool skip with a message when it is
 * missing, and fail with CI=true; the reader round trips and the error cases always run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { UsageError } from '../src/errors.ts';
import { readPartitions } from '../src/fs/partition/partition-table.ts';
import { planPartitions, type PartitionPlan, type PartitionRequest } from '../src/fs/partition/plan-partitions.ts';
import type { PartitionTable } from '../src/fs/partition/types.ts';
import type { BlockDevice } from '../src/fs/types.ts';
import { encodeGpt } from '../src/fs/partition/write-gpt.ts';
import { chs, encodeMbr } from '../src/fs/partition/write-mbr.ts';
import { tempDir } from './helpers.js';
import { fileDevice, memDevice } from './block-devices.ts';

const MiB = 1 << 20;
const GiB = 1024 * MiB;
const CI = process.env.CI === 'true';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** The `skip` option for tests needing `tools`: false when present, else why (a failing test with CI=true). */
function needs(...tools: string[]): string | false {
  const missing = tools.filter((t) => !has(t));
  if (!missing.length) return false;
  const reason = `needs ${missing.join(', ')} (Debian fdisk, gdisk)`;
  if (CI) test(`${missing.join(', ')} present (required in CI)`, () => assert.fail(reason));
  else console.log(`# ${reason}: skipped`);
  return reason;
}
const skipSfdisk = needs('sfdisk');
const skipSgdisk = needs('sgdisk');

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 16 * MiB });
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

interface SfdiskPartition { node: string; start: number; size: number; type: string; uuid?: string; name?: string; attrs?: string; bootable?: boolean }
interface SfdiskTable { label: string; id: string; sectorsize: number; firstlba?: number; lastlba?: number; partitions: SfdiskPartition[] }
const sfdiskJson = (img: string): SfdiskTable => (JSON.parse(sh('sfdisk', ['--json', img])) as { partitiontable: SfdiskTable }).partitiontable;

/** Deterministic GUID bytes, as `hexz build` derives them from its seed (here a plain hash). */
const derive = (seed: string) => (purpose: string) => new Uint8Array(createHash('sha256').update(seed).update('\0').update(purpose).digest());

const tmp = tempDir('hexz-pwriter-');
test.after(() => tmp.cleanup());

/** A sparse file of `size` bytes holding `pieces` at their offsets. */
function writeImage(name: string, size: number, pieces: { offset: number; bytes: Uint8Array }[]): string {
  const img = tmp.path(name);
  writeFileSync(img, '');
  truncateSync(img, size);
  const fd = openSync(img, 'r+');
  try {
    for (const p of pieces) writeSync(fd, p.bytes, 0, p.bytes.length, p.offset);
  } finally {
    closeSync(fd);
  }
  return img;
}

/** The table bytes of a plan, as pieces to write. */
function tableBytes(plan: PartitionPlan): { offset: number; bytes: Uint8Array }[] {
  if (plan.table === 'gpt') {
    const { head, tail } = encodeGpt(plan);
    return [{ offset: 0, bytes: head }, tail];
  }
  if (plan.table === 'mbr') return [{ offset: 0, bytes: encodeMbr(plan) }];
  return [];
}

/** The same image in memory, for the reader round trips that need no tool. */
function memImage(size: number, pieces: { offset: number; bytes: Uint8Array }[]): Uint8Array {
  const bytes = new Uint8Array(size);
  for (const p of pieces) bytes.set(p.bytes, p.offset);
  return bytes;
}

async function read(dev: BlockDevice): Promise<{ table: PartitionTable; warnings: string[] }> {
  const warnings: string[] = [];
  const table = await readPartitions(dev, { onWarning: (m) => warnings.push(m) });
  return { table, warnings };
}

/** A 1 GiB GPT: BIOS boot, ESP, root (legacy-BIOS-bootable and no-automount), home filling the rest. */
function gptPlan(): Extract<PartitionPlan, { table: 'gpt' }> {
  const plan = planPartitions({
    table: 'gpt', diskSize: GiB, derive: derive('gpt'),
    partitions: [
      { type: 'bios-boot', size: MiB, label: 'bios' },
      { type: 'esp', size: 100 * MiB, label: 'EFI System' },
      { type: 'linux-root-x86-64', size: 300 * MiB + 512, label: 'racine-é' },
      { type: 'linux-home' },
    ],
  });
  assert.equal(plan.table, 'gpt');
  plan.partitions[2].attributes = (1n << 2n) | (1n << 63n);
  return plan;
}

test('GPT plan: 1 MiB alignment, fill to the last 1 MiB boundary before the backup, derived v4 GUIDs', () => {
  const plan = gptPlan();
  assert.deepEqual(plan.partitions.map((p) => [p.offset / MiB, p.size]), [[1, MiB], [2, 100 * MiB], [102, 300 * MiB + 512], [403, GiB - 404 * MiB]]);
  assert.deepEqual(plan.partitions.map((p) => [p.firstLba, p.lastLba]), plan.partitions.map((p) => [p.offset / 512, (p.offset + p.size) / 512 - 1]));
  assert.equal(plan.partitions[1].typeGuid, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
  for (const g of [plan.diskGuid, ...plan.partitions.map((p) => p.uniqueGuid)]) {
    assert.match(g, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/, g);
  }
  assert.equal(new Set(plan.partitions.map((p) => p.uniqueGuid)).size, 4);
  assert.deepEqual(gptPlan(), plan, 'the same seed gives the same GUIDs');
  const other = planPartitions({ table: 'gpt', diskSize: GiB, derive: derive('other'), partitions: [{ type: 'linux' }] });
  assert.notEqual(other.table === 'gpt' && other.diskGuid, plan.diskGuid);
});

test('GPT round trip through our reader: same partitions, GUIDs, names, attributes; no warnings', async () => {
  const plan = gptPlan();
  const { table, warnings } = await read(memDevice(memImage(plan.diskSize, tableBytes(plan))));
  assert.deepEqual(warnings, []);
  assert.equal(table.kind, 'gpt');
  assert.equal(table.diskGuid, plan.diskGuid);
  assert.deepEqual(table.partitions.map((p) => [p.number, p.offset, p.size, p.type, p.uuid, p.name, p.attributes]),
    plan.partitions.map((p) => [p.number, p.offset, p.size, p.typeGuid, p.uniqueGuid, p.name, p.attributes ? `0x${BigInt(p.attributes).toString(16).padStart(16, '0')}` : undefined]));
  assert.equal(table.partitions[1].typeName, 'EFI System');
});

test('GPT judged by sfdisk --verify and sfdisk --json', { skip: skipSfdisk }, () => {
  const plan = gptPlan();
  const img = writeImage('gpt.img', plan.diskSize, tableBytes(plan));
  assert.match(sh('sfdisk', ['--verify', img]), /No errors detected/);
  const judge = sfdiskJson(img);
  assert.equal(judge.label, 'gpt');
  assert.equal(judge.id, plan.diskGuid);
  assert.equal(judge.firstlba, 34);
  assert.equal(judge.lastlba, plan.diskSize / 512 - 34);
  assert.deepEqual(judge.partitions.map((j) => [j.node.slice(img.length), j.start * 512, j.size * 512, j.type, j.uuid, j.name]),
    plan.partitions.map((p) => [String(p.number), p.offset, p.size, p.typeGuid, p.uniqueGuid, p.name]));
  assert.equal(judge.partitions[2].attrs, 'LegacyBIOSBootable GUID:63');
});

test('GPT judged by sgdisk -v and sgdisk -i', { skip: skipSgdisk }, () => {
  const plan = gptPlan();
  const img = writeImage('gpt-sgdisk.img', plan.diskSize, tableBytes(plan));
  const verdict = sh('sgdisk', ['-v', img]);
  assert.match(verdict, /No problems found/, verdict);
  // (a "Caution" that partition 3 does not end on a 1 MiB boundary is expected: its size is 300 MiB + 512)
  assert.doesNotMatch(verdict, /Problem:|damaged|corrupt|invalid/i, verdict);
  for (const p of plan.partitions) {
    const info = sh('sgdisk', ['-i', String(p.number), img]);
    assert.match(info, new RegExp(`Partition GUID code: ${p.typeGuid}`));
    assert.match(info, new RegExp(`Partition unique GUID: ${p.uniqueGuid}`));
    assert.match(info, new RegExp(`First sector: ${p.firstLba} `));
    assert.match(info, new RegExp(`Last sector: ${p.lastLba} `));
    assert.match(info, new RegExp(`Partition name: '${p.name ?? ''}'`));
    const flags = BigInt(`0x${/Attribute flags: ([0-9a-f]{16})/i.exec(info)![1]}`);
    assert.equal(flags, BigInt(p.attributes ?? 0));
  }
});

test('GPT on an auto-sized disk: partitions + 1 MiB lead + backup, rounded to 1 MiB; a fill partition gets its minSize', { skip: skipSfdisk }, async () => {
  const plan = planPartitions({ table: 'gpt', derive: derive('auto'), partitions: [{ type: 'esp', size: 32 * MiB }, { type: 'linux', minSize: 20 * MiB + 1 }] });
  assert.equal(plan.diskSize, 55 * MiB); // 1 + 32 + 21 MiB, then 33 sectors of backup round up to one more MiB
  assert.deepEqual(plan.partitions.map((p) => [p.offset, p.size]), [[MiB, 32 * MiB], [33 * MiB, 21 * MiB]]);
  const img = writeImage('gpt-auto.img', plan.diskSize, tableBytes(plan));
  assert.match(sh('sfdisk', ['--verify', img]), /No errors detected/);
  const { table, warnings } = await read(fileDevice(img));
  assert.deepEqual(warnings, []);
  assert.deepEqual(table.partitions.map((p) => [p.offset, p.size]), [[MiB, 32 * MiB], [33 * MiB, 21 * MiB]]);
});

/** A 10 GiB MBR: a bootable Linux, swap, and FAT32 filling the rest (past cylinder 1023). */
function mbrPlan(): Extract<PartitionPlan, { table: 'mbr' }> {
  const plan = planPartitions({
    table: 'mbr', diskSize: 10 * GiB, derive: derive('mbr'),
    partitions: [{ type: 'linux', size: 100 * MiB }, { type: '0x82', size: MiB }, { type: 'fat32' }],
  });
  assert.equal(plan.table, 'mbr');
  plan.partitions[0].bootable = true;
  return plan;
}

test('MBR: the sector sfdisk writes for the same layout, byte for byte (CHS included)', { skip: skipSfdisk }, async () => {
  const plan = mbrPlan();
  assert.deepEqual(plan.partitions.map((p) => [p.start, p.count, p.type]), [[2048, 204800, 0x83], [206848, 2048, 0x82], [208896, (10 * 1024 - 102) * 2048, 0x0c]]);
  const ours = encodeMbr(plan);
  const id = `0x${plan.diskId.toString(16).padStart(8, '0')}`;
  const script = `label: dos\nlabel-id: ${id}\n${plan.partitions.map((p) => `start=${p.start}, size=${p.count}, type=${p.type.toString(16)}${p.bootable ? ', bootable' : ''}`).join('\n')}\n`;
  const theirs = writeImage('mbr-sfdisk.img', plan.diskSize, []);
  sh('sfdisk', ['-q', theirs], script);
  assert.deepEqual([...ours.subarray(0x1b8)], [...(await fileDevice(theirs).read(0x1b8, 512 - 0x1b8))]);
  assert.deepEqual([...ours.subarray(0x1be + 32 + 5, 0x1be + 32 + 8)], [0xfe, 0xff, 0xff], 'end CHS past cylinder 1023');
});

test('MBR judged by sfdisk --verify and sfdisk --json, and read back by our reader', { skip: skipSfdisk }, async () => {
  const plan = mbrPlan();
  const img = writeImage('mbr.img', plan.diskSize, tableBytes(plan));
  assert.match(sh('sfdisk', ['--verify', img]), /No errors detected/);
  const judge = sfdiskJson(img);
  assert.equal(judge.label, 'dos');
  assert.equal(parseInt(judge.id, 16), plan.diskId);
  assert.deepEqual(judge.partitions.map((j) => [j.start, j.size, parseInt(j.type, 16), j.bootable ?? false]),
    plan.partitions.map((p) => [p.start, p.count, p.type, p.bootable ?? false]));
  const { table, warnings } = await read(fileDevice(img));
  assert.deepEqual(warnings, []);
  assert.equal(table.kind, 'mbr');
  assert.deepEqual(table.partitions.map((p) => [p.number, p.offset, p.size, parseInt(p.type, 16), p.bootable ?? false]),
    plan.partitions.map((p) => [p.number, p.offset, p.size, p.type, p.bootable ?? false]));
});

test('CHS as fdisk writes it under 255 heads × 63 sectors', () => {
  assert.deepEqual([...chs(1)], [0x00, 0x02, 0x00]);
  assert.deepEqual([...chs(2048)], [0x20, 0x21, 0x00]);
  assert.deepEqual([...chs(206847)], [0xdf, 0x13, 0x0c]);
  assert.deepEqual([...chs(1024 * 255 * 63 - 1)], [0xfe, 0xff, 0xff]);
  assert.deepEqual([...chs(1024 * 255 * 63)], [0xfe, 0xff, 0xff]);
});

test('table "none": one pseudo-partition, the whole disk', () => {
  assert.deepEqual(planPartitions({ table: 'none', derive: derive('n'), partitions: [{ size: 3 * MiB + 1 }] }),
    { table: 'none', diskSize: 4 * MiB, partitions: [{ number: 0, offset: 0, size: 4 * MiB }] });
  assert.deepEqual(planPartitions({ table: 'none', diskSize: 8 * MiB, derive: derive('n'), partitions: [{ minSize: MiB }] }).partitions,
    [{ number: 0, offset: 0, size: 8 * MiB }]);
});

/** Asserts `fn` throws a UsageError whose message matches `message`. */
function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `a UsageError, not ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

test('plan errors: each names the partition and the rule', () => {
  const plan = (table: 'gpt' | 'mbr' | 'none', partitions: PartitionRequest[], diskSize?: number) =>
    planPartitions({ table, partitions, diskSize, derive: derive('e') });
  usage(() => plan('gpt', [{ type: 'linux' }, { type: 'linux', size: MiB }]), /partition 1 has no size; only the last partition/);
  usage(() => plan('gpt', [{ type: 'linux', size: 10 * MiB }, { type: 'swap', size: 10 * MiB }], 20 * MiB), /the partitions need 21\.02 MiB .* but the disk is 20\.00 MiB/);
  usage(() => plan('mbr', [{ type: 'linux', size: 10 * MiB }], 10 * MiB), /the partitions need 11\.00 MiB/);
  usage(() => plan('gpt', [{ type: 'linux', size: 10 * MiB }, { type: 'linux' }], 12 * MiB), /partition 2 fills the rest of the disk, but only 0 B is left/);
  usage(() => plan('gpt', [{ type: 'linux', minSize: 50 * MiB }], 32 * MiB), /its contents need 50\.00 MiB/);
  usage(() => plan('gpt', [{ type: 'linux', size: MiB, minSize: 2 * MiB }]), /partition 1: 1\.00 MiB is smaller than the 2\.00 MiB/);
  usage(() => plan('gpt', [{ type: 'linux' }]), /partition 1 has no size and the disk has none/);
  usage(() => plan('gpt', [{ type: 'lunix', size: MiB }]), /partition 1: unknown partition type 'lunix' \(known: linux, esp, swap, bios-boot, linux-home, linux-root-x86-64/);
  usage(() => plan('mbr', [{ type: 'bios-boot', size: MiB }]), /partition 1: partition type 'bios-boot' has no MBR equivalent/);
  usage(() => plan('gpt', [{ type: 'extended', size: MiB }]), /partition 1: partition type 'extended' has no GPT equivalent/);
  usage(() => plan('mbr', [{ type: '0x05', size: MiB }]), /partition 1: MBR type 0x05 cannot be written/);
  usage(() => plan('mbr', [{ type: 'linux', size: MiB, label: 'x' }]), /partition 1: MBR partitions have no names/);
  usage(() => plan('gpt', [{ type: 'linux', size: MiB, label: 'x'.repeat(37) }]), /longer than the 36 UTF-16 code units/);
  usage(() => plan('gpt', [{ size: MiB }]), /partition 1: no partition type given/);
  usage(() => plan('mbr', Array.from({ length: 5 }, () => ({ type: 'linux', size: MiB }))), /an MBR holds at most 4 partitions, not 5/);
  usage(() => plan('none', [{ size: MiB }, { size: MiB }]), /table "none" holds exactly one partition/);
  usage(() => plan('mbr', [{ type: 'linux', size: 3 * 1024 * GiB }]), /partition 1 ends past 2 TiB/);
  usage(() => plan('gpt', [{ type: 'linux', size: MiB }], 1000), /disk size 1000 is not a multiple of 512/);
  usage(() => plan('gpt', [{ type: 'linux', size: -1 }]), /partition 1: size -1 is not a byte count/);
  usage(() => plan('gpt', []), /no partitions/);
});

test('encoder errors: MBR limits, GPT names, overlaps and bad GUIDs', () => {
  const p = { type: 0x83, start: 2048, count: 2048 };
  usage(() => encodeMbr({ partitions: [p, p, p, p, p] }), /at most 4 primary partitions, not 5/);
  usage(() => encodeMbr({ partitions: [{ ...p, start: 2 ** 32 - 100, count: 200 }] }), /past the 2 TiB \(2\^32 sectors\)/);
  usage(() => encodeMbr({ partitions: [p, { ...p, start: 4095 }] }), /MBR partitions 1 and 2 overlap/);
  usage(() => encodeMbr({ partitions: [{ ...p, start: 0 }] }), /start sector 0 must be at least 1/);
  usage(() => encodeMbr({ partitions: [{ ...p, type: 0 }] }), /type 0 is not a byte/);
  assert.equal(encodeMbr({ partitions: [{ ...p, start: 2 ** 32 - 2048, count: 2048 }] }).length, 512, 'ending exactly at 2^32 sectors is fine');

  const guid = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
  const part = { firstLba: 2048, lastLba: 4095, typeGuid: guid, uniqueGuid: guid };
  const gpt = (partitions: object[], diskSize = 4 * MiB, diskGuid = guid) => encodeGpt({ diskSize, diskGuid, partitions: partitions as never });
  usage(() => gpt([{ ...part, name: 'n'.repeat(37) }]), /GPT partition 1: name '.*' is 37 UTF-16 code units; a GPT name holds 36/);
  assert.equal(gpt([{ ...part, name: 'n'.repeat(36) }]).head.length, 34 * 512);
  usage(() => gpt([part, { ...part, firstLba: 4095, lastLba: 5000 }]), /GPT partitions 1 and 2 overlap/);
  usage(() => gpt([{ ...part, lastLba: 8192 - 33 }]), /GPT partition 1 \(LBA 2048\.\.8159\) is outside the usable LBAs 34\.\.8158/);
  usage(() => gpt([{ ...part, firstLba: 33 }]), /outside the usable LBAs/);
  usage(() => gpt([{ ...part, typeGuid: 'esp' }]), /GPT partition 1: type GUID 'esp' is not a GUID/);
  usage(() => gpt([{ ...part, typeGuid: '00000000-0000-0000-0000-000000000000' }]), /all-zero type GUID/);
  usage(() => gpt([{ ...part, attributes: 1n << 64n }]), /do not fit 64 bits/);
  usage(() => gpt([], 4 * MiB + 1), /not a multiple of 512/);
  usage(() => gpt([], 67 * 512), /too small for a GPT/);
  usage(() => gpt([], 4 * MiB, 'nope'), /disk GUID 'nope' is not a GUID/);
});

test('GPT layout: head is LBA 0..33, tail is the last 33 sectors with the backup header last', () => {
  const { head, tail } = encodeGpt({ diskSize: 4 * MiB, diskGuid: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', partitions: [] });
  const sectors = (4 * MiB) / 512;
  assert.equal(head.length, 34 * 512);
  assert.equal(tail.offset, (sectors - 33) * 512);
  assert.equal(tail.bytes.length, 33 * 512);
  assert.equal(new TextDecoder().decode(head.subarray(512, 520)), 'EFI PART');
  assert.equal(new TextDecoder().decode(tail.bytes.subarray(32 * 512, 32 * 512 + 8)), 'EFI PART');
  assert.deepEqual([...head.subarray(0x1be, 0x1ce)], [0, 0, 2, 0, 0xee, 0x82, 0x02, 0x00, 1, 0, 0, 0, 0xff, 0x1f, 0, 0], 'protective MBR as sgdisk writes it');
});
