/**
 * Partition-table reading (src/fs/partition/) judged by the real tools: tables made by sgdisk,
 * sfdisk and fdisk into temp files, read back by readPartitions and compared with what
 * `sfdisk --json`, `sgdisk -i` and `fdisk -l` say about the same file. Damaged copies (a flipped
 * byte in a GPT header or entry array, an EBR loop, a truncated image) must give the backup with
 * a warning or a CorruptImageError; 2000 random mutations of real tables must each give a value or
 * a HexzError, quickly. Tests needing a tool skip with a message when it is missing, and fail with
 * CI=true.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import CRC32 from 'crc-32';
import { CorruptImageError, HexzError, UsageError } from '../src/errors.ts';
import { formatGuid, parseGuid } from '../src/fs/partition/bytes.ts';
import { readPartitions } from '../src/fs/partition/partition-table.ts';
import { readGpt } from '../src/fs/partition/read-gpt.ts';
import { gptTypeFor, gptTypeName, mbrTypeFor, PARTITION_TYPE_ALIASES } from '../src/fs/partition/partition-types.ts';
import type { Partition, PartitionTable } from '../src/fs/partition/types.ts';
import { subDevice } from '../src/fs/sub-device.ts';
import type { BlockDevice } from '../src/fs/types.ts';
import { Rng, tempDir } from './helpers.js';
import { fileDevice, memDevice } from './block-devices.ts';

const MiB = 1 << 20;
const CI = process.env.CI === 'true';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** The `skip` option for tests needing `tools`: false when present, else why (a failing test with CI=true). */
function needs(...tools: string[]): string | false {
  const missing = tools.filter((t) => !has(t));
  if (!missing.length) return false;
  const reason = `needs ${missing.join(', ')} (Debian gdisk, fdisk, e2fsprogs, dosfstools)`;
  if (CI) test(`${missing.join(', ')} present (required in CI)`, () => assert.fail(reason));
  else console.log(`# ${reason}: skipped`);
  return reason;
}
const skipGpt = needs('sgdisk', 'sfdisk');
const skipMbr = needs('sfdisk');
const skipFdisk = needs('fdisk');
const skipFs = needs('mkfs.ext4', 'mkfs.vfat');

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 16 * MiB });
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}



interface SfdiskPartition { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }
interface SfdiskTable { label: string; id: string; sectorsize: number; partitions: SfdiskPartition[] }

function sfdiskJson(img: string): SfdiskTable {
  return (JSON.parse(sh('sfdisk', ['--json', img])) as { partitiontable: SfdiskTable }).partitiontable;
}

/** Reads `dev`'s table, collecting warnings. */
async function read(dev: BlockDevice): Promise<{ table: PartitionTable; warnings: string[] }> {
  const warnings: string[] = [];
  const table = await readPartitions(dev, { onWarning: (m) => warnings.push(m) });
  return { table, warnings };
}

/** Asserts our partitions are sfdisk's: number (from the node name), offset, size, type, uuid, name, bootable. */
function assertSameAsSfdisk(ours: Partition[], img: string, judge: SfdiskTable): void {
  assert.equal(ours.length, judge.partitions.length, 'partition count');
  judge.partitions.forEach((j, i) => {
    const p = ours[i];
    assert.equal(p.number, Number(j.node.slice(img.length)), `number of ${j.node}`);
    assert.equal(p.offset, j.start * judge.sectorsize, `offset of ${j.node}`);
    assert.equal(p.size, j.size * judge.sectorsize, `size of ${j.node}`);
    if (judge.label === 'gpt') {
      assert.equal(p.type, j.type);
      assert.equal(p.uuid, j.uuid);
      assert.equal(p.name, j.name);
    } else {
      assert.equal(parseInt(p.type, 16), parseInt(j.type, 16), `type of ${j.node}`);
      assert.equal(p.bootable ?? false, j.bootable ?? false, `bootable of ${j.node}`);
      assert.equal(p.logical ?? false, p.number >= 5, `logical of ${j.node}`);
    }
  });
}

const tmp = tempDir('hexz-ptable-');
test.after(() => tmp.cleanup());

/** A 16 MiB GPT: entries 1, 2, 3 and 6 (4–5 empty), names (one not ASCII), attributes on 3. */
function makeGpt(name = 'gpt.img'): string {
  const img = tmp.path(name);
  writeFileSync(img, '');
  truncateSync(img, 16 * MiB);
  sh('sgdisk', ['-o',
    '-n', '1:2048:+1M', '-t', '1:ef02', '-c', '1:bios',
    '-n', '2:0:+4M', '-t', '2:ef00', '-c', '2:EFI System',
    '-n', '3:0:+6M', '-t', '3:8304', '-c', '3:racine-é', '-A', '3:set:2', '-A', '3:set:60',
    '-n', '6:0:0', '-t', '6:8302', '-c', '6:home', img]);
  return img;
}

/** A 16 MiB MBR: a bootable Linux, swap, and an extended partition with three logicals. */
function makeMbr(name = 'mbr.img'): string {
  const img = tmp.path(name);
  writeFileSync(img, '');
  truncateSync(img, 16 * MiB);
  sh('sfdisk', ['-q', img], 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=4096, type=83, bootable\n'
    + 'start=6144, size=2048, type=82\nstart=8192, type=5\nsize=4096, type=83\nsize=4096, type=8e\ntype=fd\n');
  return img;
}

/** Flips one bit of the byte at `offset` of the file. */
function flipAt(img: string, offset: number): void {
  const bytes = readFileSync(img);
  bytes[offset] ^= 0x10;
  writeFileSync(img, bytes);
}

test('GPT made by sgdisk reads as sfdisk --json and sgdisk -i say', { skip: skipGpt }, async () => {
  const img = makeGpt();
  const dev = fileDevice(img);
  const { table, warnings } = await read(dev);
  const judge = sfdiskJson(img);
  assert.equal(table.kind, 'gpt');
  assert.equal(table.sectorSize, 512);
  assert.equal(table.diskGuid, judge.id);
  assert.deepEqual(warnings, []);
  assertSameAsSfdisk(table.partitions, img, judge);
  for (const p of table.partitions) {
    const info = sh('sgdisk', ['-i', String(p.number), img]);
    const flags = /Attribute flags: ([0-9a-f]{16})/i.exec(info)![1].toLowerCase();
    assert.equal(p.attributes ?? '0x0000000000000000', `0x${flags}`, `attributes of ${p.number}`);
    const code = /Partition GUID code: (\S+) \((.*)\)/.exec(info)!;
    assert.equal(p.type, code[1]);
  }
  assert.equal(table.partitions[1].typeName, 'EFI System');
  assert.equal(table.partitions[0].typeName, 'BIOS boot partition');
  assert.equal(table.partitions[2].name, 'racine-é');
  // primary header + entries, backup header + entries, and the first 4.5 KiB probe: small reads only
  assert.ok(dev.bytes <= 64 * 1024, `read ${dev.bytes} bytes`);
});

test('GPT on 4096-byte sectors (fdisk -b 4096) reads as fdisk -l says, and from its backup', { skip: skipFdisk }, async () => {
  const img = tmp.path('gpt4k.img');
  writeFileSync(img, '');
  truncateSync(img, 32 * MiB);
  sh('fdisk', ['-b', '4096', img], 'g\nn\n\n\n+4M\nn\n\n\n\nw\n');
  const listing = sh('fdisk', ['-b', '4096', '-l', '-o', 'Device,Start,Sectors,Type-UUID,UUID', img]);
  const rows = listing.split('\n').filter((l) => l.startsWith(img)).map((l) => l.trim().split(/\s+/));
  const check = (table: PartitionTable) => {
    assert.equal(table.kind, 'gpt');
    assert.equal(table.sectorSize, 4096);
    assert.equal(table.diskGuid, /Disk identifier: (\S+)/.exec(listing)![1]);
    assert.equal(table.partitions.length, rows.length);
    rows.forEach(([node, start, sectors, type, uuid], i) => {
      const p = table.partitions[i];
      assert.equal(p.number, Number(node.slice(img.length)));
      assert.equal(p.offset, Number(start) * 4096);
      assert.equal(p.size, Number(sectors) * 4096);
      assert.equal(p.type, type);
      assert.equal(p.uuid, uuid);
    });
  };
  check((await read(fileDevice(img))).table);
  flipAt(img, 4096); // the primary's signature: readGpt must find the backup on 4096-byte sectors
  const { table, warnings } = await read(fileDevice(img));
  check(table);
  assert.match(warnings.join('\n'), /primary GPT is damaged .*no 'EFI PART' signature/);
});

test('a damaged primary GPT header or entry array: the backup is used, with a warning', { skip: skipGpt }, async () => {
  const cases: [string, number, RegExp][] = [
    ['header byte', 512 + 60, /primary GPT is damaged \(GPT header CRC mismatch at LBA 1\); using the backup GPT at LBA 32767/],
    ['signature', 512, /no 'EFI PART' signature/],
    ['entry array', 1024 + 2 * 128 + 40, /GPT partition entry array CRC mismatch \(header at LBA 1\)/],
  ];
  for (const [what, offset, warning] of cases) {
    const img = makeGpt(`damaged-${what.replace(/ /g, '-')}.img`);
    const clean = (await read(fileDevice(img))).table;
    flipAt(img, offset);
    const { table, warnings } = await read(fileDevice(img));
    assert.deepEqual(table, clean, what);
    assert.equal(warnings.length, 1, `${what}: ${warnings.join('; ')}`);
    assert.match(warnings[0], warning, what);
  }
});

test('a damaged backup GPT with a good primary: the primary is used, with a warning', { skip: skipGpt }, async () => {
  const img = makeGpt('bad-backup.img');
  const clean = (await read(fileDevice(img))).table;
  flipAt(img, 16 * MiB - 512 + 70);
  const { table, warnings } = await read(fileDevice(img));
  assert.deepEqual(table, clean);
  assert.match(warnings.join('\n'), /the backup GPT is damaged \(GPT header CRC mismatch at LBA 32767\); using the primary/);
  // without a listener the backup is not even read
  const quiet = fileDevice(img);
  await readPartitions(quiet);
  assert.ok(quiet.bytes <= 4608 + 512 + 16 * 1024, `read ${quiet.bytes} bytes`);
});

test('both GPT copies damaged → CorruptImageError naming both defects', { skip: skipGpt }, async () => {
  const both = makeGpt('both.img');
  flipAt(both, 512 + 60);
  flipAt(both, 16 * MiB - 512 + 60);
  await assert.rejects(readPartitions(fileDevice(both)), (err: unknown) => {
    assert.ok(err instanceof CorruptImageError);
    assert.match(err.message, /both GPT headers are damaged: primary: GPT header CRC mismatch at LBA 1; backup: GPT header CRC mismatch at LBA 32767/);
    return true;
  });
  const entries = makeGpt('both-entries.img');
  flipAt(entries, 1024 + 10);
  flipAt(entries, 16 * MiB - 33 * 512 + 10);
  await assert.rejects(readPartitions(fileDevice(entries)), /both GPT headers are damaged: primary: GPT partition entry array CRC mismatch .*backup: GPT partition entry array CRC mismatch/);
});

test('a truncated GPT image: the partition past the end is named', { skip: skipGpt }, async () => {
  const img = makeGpt('truncated.img');
  truncateSync(img, 10 * MiB);
  await assert.rejects(readPartitions(fileDevice(img)), (err: unknown) => {
    assert.ok(err instanceof CorruptImageError);
    assert.match(err.message, /^partition 3 ends past the end of the disk \(last LBA 24575, the disk has 20480 sectors of 512 bytes\)$/);
    return true;
  });
});

/** Rewrites the CRCs of the GPT header at `lba` and of its entry array, as a crafted table would. */
function resealGpt(bytes: Uint8Array, lba: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = lba * 512;
  const entriesAt = Number(view.getBigUint64(h + 72, true)) * 512;
  const arrayBytes = view.getUint32(h + 80, true) * view.getUint32(h + 84, true);
  if (entriesAt + arrayBytes <= bytes.length && arrayBytes <= MiB) {
    view.setUint32(h + 88, CRC32.buf(bytes.subarray(entriesAt, entriesAt + arrayBytes)) >>> 0, true);
  }
  const size = view.getUint32(h + 12, true);
  if (size >= 92 && size <= 512) {
    view.setUint32(h + 16, 0, true);
    view.setUint32(h + 16, CRC32.buf(bytes.subarray(h, h + size)) >>> 0, true);
  }
}

test('crafted GPTs with valid CRCs: overlap, bad range, too many entries → specific errors', { skip: skipGpt }, async () => {
  const base = new Uint8Array(readFileSync(makeGpt('crafted.img')));
  const last = base.length / 512 - 1;
  const craft = (edit: (v: DataView) => void): Uint8Array => {
    const b = base.slice();
    edit(new DataView(b.buffer));
    resealGpt(b, 1);
    resealGpt(b, last);
    return b;
  };
  const entry = (n: number, field: number) => 1024 + (n - 1) * 128 + field;
  const backupEntry = (n: number, field: number) => (last - 32) * 512 + (n - 1) * 128 + field;
  const both = (v: DataView, n: number, field: number, value: bigint) => {
    v.setBigUint64(entry(n, field), value, true);
    v.setBigUint64(backupEntry(n, field), value, true);
  };
  await assert.rejects(readPartitions(memDevice(craft((v) => both(v, 2, 40, 12288n)))),
    /^CorruptImageError: partitions 2 and 3 overlap \(LBA 4096\.\.12288 and 12288\.\.24575\)$/);
  await assert.rejects(readPartitions(memDevice(craft((v) => both(v, 2, 32, 20000n)))), /GPT partition 2: first LBA 20000 is after last LBA 12287/);
  await assert.rejects(readPartitions(memDevice(craft((v) => both(v, 1, 32, 10n)))), /GPT partition 1 \(LBA 10\.\.4095\) lies outside the usable LBAs 34\.\.32734/);
  await assert.rejects(readPartitions(memDevice(craft((v) => both(v, 1, 40, 2n ** 60n)))), /GPT partition 1: last LBA \d+ is too large/);
  // A header asking for 100000 entries is damaged: the backup (untouched) is used.
  const warnings: string[] = [];
  const table = await readPartitions(memDevice(craft((v) => v.setUint32(512 + 80, 100000, true))), { onWarning: (m) => warnings.push(m) });
  assert.equal(table.partitions.length, 4);
  assert.match(warnings[0], /100000 partition entries of 128 bytes exceed the 1048576 bytes this reader accepts/);
  const odd = await read(memDevice(craft((v) => v.setUint32(512 + 84, 100, true))));
  assert.match(odd.warnings[0], /partition entry size 100 is not a multiple of 8 of at least 128/);
});

test('a GPT with no protective MBR is read, with a warning', { skip: skipGpt }, async () => {
  const bytes = new Uint8Array(readFileSync(makeGpt('no-pmbr.img')));
  bytes.fill(0, 0, 512);
  const { table, warnings } = await read(memDevice(bytes));
  assert.equal(table.kind, 'gpt');
  assert.equal(table.partitions.length, 4);
  assert.deepEqual(warnings, ['the disk has a GPT but no protective MBR']);
});

test('MBR with an extended partition and three logicals reads as sfdisk --json says', { skip: skipMbr }, async () => {
  const img = makeMbr();
  const dev = fileDevice(img);
  const { table, warnings } = await read(dev);
  const judge = sfdiskJson(img);
  assert.equal(table.kind, 'mbr');
  assert.equal(table.diskId, judge.id);
  assert.deepEqual(warnings, []);
  assertSameAsSfdisk(table.partitions, img, judge);
  assert.deepEqual(table.partitions.map((p) => p.number), [1, 2, 3, 5, 6, 7]);
  assert.equal(table.partitions[2].typeName, 'Extended');
  assert.ok(dev.reads <= 5, `${dev.reads} reads`); // the MBR and one sector per EBR
});

/** The sectors of `bytes` that end in 0x55AA (the MBR and the EBRs). */
function signedSectors(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let s = 0; s * 512 + 512 <= bytes.length; s++) if (bytes[s * 512 + 510] === 0x55 && bytes[s * 512 + 511] === 0xaa) out.push(s);
  return out;
}

test('MBR: an EBR loop, a logical outside its extended partition, a truncated disk → specific errors', { skip: skipMbr }, async () => {
  const base = new Uint8Array(readFileSync(makeMbr('mbr-crafted.img')));
  const ebrs = signedSectors(base).filter((s) => s !== 0);
  assert.equal(ebrs.length, 3);
  const loop = base.slice();
  // the last EBR's link (entry 2) points back at the first EBR (start 0 relative to the extended partition)
  const link = ebrs[2] * 512 + 0x1be + 16;
  loop.set([0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], link);
  await assert.rejects(readPartitions(memDevice(loop)), /^CorruptImageError: the EBR chain of extended partition 3 loops back to sector 8192$/);

  const outside = base.slice();
  new DataView(outside.buffer).setUint32(ebrs[1] * 512 + 0x1be + 12, 100000, true);
  await assert.rejects(readPartitions(memDevice(outside)), /logical partition 6 \(sectors 16384\.\.116383\) lies outside extended partition 3 \(sectors 8192\.\.32767\)/);

  await assert.rejects(readPartitions(memDevice(base.slice(0, 8 * MiB))), /^CorruptImageError: partition 3 ends past the end of the disk \(last sector 32767, the disk has 16384 sectors of 512 bytes\)$/);
});

test('MBR: a chain of 200 logical partitions stops at 128 with CorruptImageError', async () => {
  const bytes = new Uint8Array(2 * MiB);
  const v = new DataView(bytes.buffer);
  const entry = (sector: number, slot: number, type: number, start: number, count: number) => {
    const at = sector * 512 + 0x1be + slot * 16;
    bytes[at + 4] = type;
    v.setUint32(at + 8, start, true);
    v.setUint32(at + 12, count, true);
    bytes[sector * 512 + 510] = 0x55;
    bytes[sector * 512 + 511] = 0xaa;
  };
  entry(0, 0, 0x05, 100, 2000);
  for (let i = 0; i < 200; i++) {
    const ebr = 100 + i * 4;
    entry(ebr, 0, 0x83, 1, 2);
    if (i < 199) entry(ebr, 1, 0x05, (i + 1) * 4, 4);
  }
  await assert.rejects(readPartitions(memDevice(bytes)), /^CorruptImageError: more than 128 logical partitions$/);
  // the first 100 are fine
  bytes.fill(0, (100 + 99 * 4) * 512 + 0x1be + 16, (100 + 99 * 4) * 512 + 0x1be + 32);
  const { table } = await read(memDevice(bytes));
  assert.equal(table.partitions.length, 101);
  assert.equal(table.partitions.at(-1)!.number, 104);
});

test('no table: zeros, a tiny device, a boot sector with bad status bytes, an empty MBR', async () => {
  assert.deepEqual((await read(memDevice(new Uint8Array(MiB)))).table,
    { kind: 'none', sectorSize: 512, partitions: [{ number: 0, offset: 0, size: MiB, type: 'none' }] });
  assert.deepEqual((await read(memDevice(new Uint8Array(0)))).table.partitions, []);
  assert.equal((await read(memDevice(new Uint8Array(100)))).table.kind, 'none');
  const boot = new Uint8Array(MiB);
  boot[510] = 0x55;
  boot[511] = 0xaa;
  boot[0x1be] = 0x12; // not 0x00/0x80: boot code, not a table
  boot[0x1be + 4] = 0x83;
  assert.equal((await read(memDevice(boot))).table.kind, 'none');
  boot[0x1be] = 0;
  boot[0x1be + 4] = 0;
  assert.deepEqual((await read(memDevice(boot))).table, { kind: 'mbr', sectorSize: 512, diskId: '0x00000000', partitions: [] });
});

test('whole-disk ext4 and FAT32 images have no table', { skip: skipFs }, async () => {
  const ext4 = tmp.path('whole-ext4.img');
  writeFileSync(ext4, '');
  truncateSync(ext4, 8 * MiB);
  sh('mkfs.ext4', ['-q', '-F', ext4]);
  const fat = tmp.path('whole-fat.img');
  writeFileSync(fat, '');
  truncateSync(fat, 40 * MiB);
  sh('mkfs.vfat', ['-F', '32', '-n', 'WHOLE', fat]);
  for (const img of [ext4, fat]) {
    const dev = fileDevice(img);
    const { table, warnings } = await read(dev);
    assert.deepEqual(table, { kind: 'none', sectorSize: 512, partitions: [{ number: 0, offset: 0, size: dev.size, type: 'none' }] }, img);
    assert.deepEqual(warnings, []);
  }
});

test('partition types: aliases match the GUIDs sgdisk writes for its type codes', { skip: skipGpt }, async () => {
  const codes: Record<string, string> = {
    linux: '8300', esp: 'ef00', swap: '8200', 'bios-boot': 'ef02', 'linux-home': '8302', 'linux-root-x86-64': '8304',
    'linux-root-arm64': '8305', lvm: '8e00', raid: 'fd00', msdata: '0700',
  };
  const img = tmp.path('types.img');
  writeFileSync(img, '');
  truncateSync(img, 16 * MiB);
  const names = Object.keys(codes);
  sh('sgdisk', ['-o', ...names.flatMap((_, i) => ['-n', `${i + 1}:0:+1M`, '-t', `${i + 1}:${codes[names[i]]}`]), img]);
  const { table } = await read(fileDevice(img));
  names.forEach((alias, i) => {
    assert.equal(table.partitions[i].type, gptTypeFor(alias), alias);
    assert.ok(gptTypeName(table.partitions[i].type), `a name for ${alias}`);
  });
  assert.equal(mbrTypeFor('linux'), 0x83);
  assert.equal(mbrTypeFor('0xfd'), 0xfd);
  assert.equal(mbrTypeFor('8e'), 0x8e);
  assert.equal(gptTypeFor('0fc63daf-8483-4772-8e79-3d69d8477de4'), '0FC63DAF-8483-4772-8E79-3D69D8477DE4');
  assert.throws(() => gptTypeFor('extended'), UsageError);
  assert.throws(() => mbrTypeFor('bios-boot'), UsageError);
  assert.throws(() => mbrTypeFor('toString'), UsageError);
  assert.equal(PARTITION_TYPE_ALIASES.esp.mbr, 0xef);
  // GPT stores GUIDs mixed-endian: the text round-trips through the 16 bytes a writer would store
  const bytes = parseGuid('0FC63DAF-8483-4772-8E79-3D69D8477DE4')!;
  assert.deepEqual([...bytes.subarray(0, 4)], [0xaf, 0x3d, 0xc6, 0x0f]);
  assert.equal(formatGuid(bytes), '0FC63DAF-8483-4772-8E79-3D69D8477DE4');
  assert.equal(parseGuid('not-a-guid'), undefined);
});

test('subDevice: a bounded view; reads outside it are UsageError, a range outside the disk CorruptImageError', async () => {
  const bytes = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
  const disk = memDevice(bytes);
  const part = subDevice(disk, 1000, 2000);
  assert.equal(part.size, 2000);
  assert.deepEqual(await part.read(0, 4), bytes.slice(1000, 1004));
  assert.deepEqual(await part.read(1996, 4), bytes.slice(2996, 3000));
  await assert.rejects(part.read(1997, 4), UsageError);
  await assert.rejects(part.read(-1, 1), UsageError);
  await assert.rejects(part.read(0.5, 1), UsageError);
  const inner = subDevice(part, 100, 50);
  assert.deepEqual(await inner.read(0, 2), bytes.slice(1100, 1102));
  await assert.rejects(inner.read(49, 2), UsageError);
  assert.throws(() => subDevice(disk, 4000, 200), /partition at bytes 4000\.\.4200 \(200 bytes\) is not inside the device \(0\.\.4096\)/);
  assert.throws(() => subDevice(disk, -1, 10), CorruptImageError);
  assert.throws(() => subDevice(disk, 0, Number.MAX_SAFE_INTEGER + 2), CorruptImageError);
});

/**
 * Mutates `base` 2000 times (a few bytes or whole fields in `regions`, half the time with the GPT
 * CRCs made valid again so the checks behind them are reached) and reads each: a value with sane
 * partitions or a HexzError, each within a time bound.
 */
async function hostile(base: Uint8Array, regions: [number, number][], seed: number, reseal?: number[]): Promise<{ errors: number; values: number }> {
  const rng = new Rng(seed);
  const bytes = base.slice();
  const dev = memDevice(bytes);
  let errors = 0;
  let values = 0;
  let slowest = 0;
  for (let i = 0; i < 2000; i++) {
    const touched: [number, number][] = [];
    for (let m = rng.range(1, 4); m > 0; m--) {
      const [lo, hi] = regions[rng.int(regions.length)];
      const at = rng.range(lo, hi - 8) & ~(rng.int(2) ? 3 : 0);
      touched.push([at, 8]);
      const kind = rng.int(5);
      if (kind === 0) bytes[at] ^= 1 << rng.int(8);
      else if (kind === 1) bytes[at] = rng.int(256);
      else if (kind === 2) bytes.fill(0xff, at, at + 8);
      else if (kind === 3) bytes.fill(0, at, at + 4);
      else new DataView(bytes.buffer).setUint32(at, rng.next(), true);
    }
    if (reseal && rng.int(2)) {
      for (const lba of reseal) {
        resealGpt(bytes, lba);
        touched.push([lba * 512, 512], [lba === 1 ? 1024 : (lba - 32) * 512, 32 * 512]);
      }
    }
    const t0 = performance.now();
    try {
      const { table } = await read(dev);
      values++;
      for (const p of table.partitions) {
        assert.ok(Number.isSafeInteger(p.offset) && Number.isSafeInteger(p.size) && p.offset >= 0 && p.size > 0, JSON.stringify(p));
        assert.ok(p.offset + p.size <= bytes.length, `partition ${p.number} past the end: ${JSON.stringify(p)}`);
      }
    } catch (err) {
      if (!(err instanceof HexzError)) throw new Error(`mutation ${i} (seed ${seed}) threw a non-hexz error`, { cause: err });
      errors++;
    }
    slowest = Math.max(slowest, performance.now() - t0);
    for (const [at, n] of touched) bytes.set(base.subarray(at, at + n), at);
  }
  assert.deepEqual(bytes, base, 'restored');
  assert.ok(slowest < 500, `slowest read took ${slowest.toFixed(1)} ms`);
  return { errors, values };
}

test('2000 random mutations of a real GPT: each gives a value or a HexzError, quickly', { skip: skipGpt }, async () => {
  const base = new Uint8Array(readFileSync(makeGpt('hostile-gpt.img')));
  const last = base.length / 512 - 1;
  const regions: [number, number][] = [[0x1be, 512], [512, 512 + 92], [1024, 1024 + 6 * 128], [last * 512, last * 512 + 92], [(last - 32) * 512, (last - 32) * 512 + 6 * 128]];
  const { errors, values } = await hostile(base, regions, 15, [1, last]);
  assert.ok(errors > 0 && values > 0, `${errors} errors, ${values} values`);
});

test('2000 random mutations of a real MBR with logicals: each gives a value or a HexzError, quickly', { skip: skipMbr }, async () => {
  const base = new Uint8Array(readFileSync(makeMbr('hostile-mbr.img')));
  const regions = signedSectors(base).map((s): [number, number] => [s * 512 + 0x1b8, s * 512 + 512]);
  regions.push([0, 512]);
  const { errors, values } = await hostile(base, regions, 16);
  assert.ok(errors > 0 && values > 0, `${errors} errors, ${values} values`);
});

test('readGpt on a disk with no GPT at all names both missing headers', async () => {
  await assert.rejects(readGpt(memDevice(new Uint8Array(MiB))), /both GPT headers are damaged: primary: GPT header at LBA 1: no 'EFI PART' signature; backup: GPT header at LBA 2047: no 'EFI PART' signature \(512-byte sectors\)/);
});
