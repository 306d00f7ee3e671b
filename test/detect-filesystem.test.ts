/**
 * detectFilesystem judged by the real tools: filesystems made by mkfs.ext2/3/4, mkfs.vfat and
 * mkswap (and, where installed, mkfs.xfs, mkfs.btrfs, mkfs.exfat, mkfs.ntfs, genisoimage and
 * cryptsetup) into temp files, detected, and compared with the label and UUID they were made with
 * and with `blkid -p -o export`. The core tools (e2fsprogs, dosfstools, util-linux) skip with a
 * message when missing and fail with CI=true, as do the extra peers (.ci/run installs them all).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { detectFilesystem, type FilesystemInfo } from '../src/fs/detect-filesystem.ts';
import { readPartitions } from '../src/fs/partition/partition-table.ts';
import { subDevice } from '../src/fs/sub-device.ts';
import { Rng, tempDir } from './helpers.js';
import { fileDevice, memDevice } from './block-devices.ts';

const MiB = 1 << 20;
const CI = process.env.CI === 'true';
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** The `skip` option for tests needing `tools`: false when present, else why (a failing test with CI=true). */
function needs(...tools: string[]): string | false {
  const missing = tools.filter((t) => !has(t));
  if (!missing.length) return false;
  const reason = `needs ${missing.join(', ')} (Debian e2fsprogs, dosfstools, util-linux, gdisk)`;
  if (CI) test(`${missing.join(', ')} present (required in CI)`, () => assert.fail(reason));
  else console.log(`# ${reason}: skipped`);
  return reason;
}

/** The `skip` option for an extra peer: skipped with a message where it is missing (a failing test with CI=true, which installs it). */
function peer(tool: string, pkg: string): string | false {
  if (has(tool)) return false;
  const reason = `${tool} not installed (Debian ${pkg})`;
  if (CI) test(`${tool} present (required in CI)`, () => assert.fail(reason));
  else console.log(`# ${reason}: skipped`);
  return reason;
}

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 16 * MiB });
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}



/** What `blkid -p` says (TYPE mapped to our kind names), or undefined without blkid. */
function blkid(img: string, offset?: number): FilesystemInfo | undefined {
  if (!has('blkid')) return undefined;
  const out = sh('blkid', ['-p', '-o', 'export', ...(offset === undefined ? [] : ['-O', String(offset)]), img]);
  const fields = new Map(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const kinds: Record<string, FilesystemInfo['kind']> = { crypto_LUKS: 'luks', LVM2_member: 'lvm' };
  const type = fields.get('TYPE') ?? 'unknown';
  const info: FilesystemInfo = { kind: kinds[type] ?? (type as FilesystemInfo['kind']) };
  if (fields.has('LABEL')) info.label = fields.get('LABEL');
  if (fields.has('UUID')) info.uuid = fields.get('UUID');
  return info;
}

const tmp = tempDir('hexz-detectfs-');
test.after(() => tmp.cleanup());

/** An empty sparse file of `size` bytes. */
function blank(name: string, size: number): string {
  const img = tmp.path(name);
  writeFileSync(img, '');
  truncateSync(img, size);
  return img;
}

/**
 * Detects the filesystem in `img`, checks it is `expected`, that blkid agrees (on the fields
 * `judged`, all by default), and that the reads were small.
 */
async function check(img: string, expected: FilesystemInfo, judged: (keyof FilesystemInfo)[] = ['kind', 'label', 'uuid']): Promise<void> {
  const dev = fileDevice(img);
  const found = await detectFilesystem(dev);
  assert.deepEqual(found, expected, img);
  const judge = blkid(img);
  if (judge) for (const k of judged) assert.equal(found[k], judge[k], `${k} of ${img} (blkid: ${JSON.stringify(judge)})`);
  assert.ok(dev.bytes <= 4096 + 555 + 2048, `read ${dev.bytes} bytes`);
}

const skipExt = needs('mkfs.ext2', 'mkfs.ext3', 'mkfs.ext4');
const skipVfat = needs('mkfs.vfat');
const skipSwap = needs('mkswap');
const skipGpt = needs('sgdisk', 'mkfs.ext4');

test('ext2, ext3, ext4 with label and UUID, as blkid says', { skip: skipExt }, async () => {
  const kinds = ['ext2', 'ext3', 'ext4'] as const;
  for (const [i, kind] of kinds.entries()) {
    const img = blank(`${kind}.img`, 8 * MiB);
    const uuid = `0a1b2c3d-1111-2222-3333-44445555666${i}`;
    sh(`mkfs.${kind}`, ['-q', '-F', '-L', `my${kind}`, '-U', uuid, img]);
    await check(img, { kind, label: `my${kind}`, uuid });
    const table = await readPartitions(fileDevice(img));
    assert.equal(table.kind, 'none');
  }
  // ext4 without a journal is still ext4 (extents etc.), as blkid decides
  const img = blank('ext4-nojournal.img', 8 * MiB);
  sh('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-U', '0a1b2c3d-1111-2222-3333-444455556669', img]);
  await check(img, { kind: 'ext4', uuid: '0a1b2c3d-1111-2222-3333-444455556669' });
});

test('vfat FAT32 and FAT16 with label and serial, as blkid says', { skip: skipVfat }, async () => {
  const f32 = blank('fat32.img', 40 * MiB);
  sh('mkfs.vfat', ['-F', '32', '-n', 'MYFAT32', '-i', '1234ABCD', f32]);
  await check(f32, { kind: 'vfat', label: 'MYFAT32', uuid: '1234-ABCD' });
  const f16 = blank('fat16.img', 16 * MiB);
  sh('mkfs.vfat', ['-F', '16', '-n', 'FAT16LBL', '-i', 'deadbeef', f16]);
  await check(f16, { kind: 'vfat', label: 'FAT16LBL', uuid: 'DEAD-BEEF' });
  const nolabel = blank('fat-nolabel.img', 16 * MiB);
  sh('mkfs.vfat', ['-F', '16', '-i', '00000001', nolabel]);
  await check(nolabel, { kind: 'vfat', uuid: '0000-0001' });
});

test('swap with label and UUID, as blkid says', { skip: skipSwap }, async () => {
  const img = blank('swap.img', 8 * MiB);
  spawnSync('mkswap', ['-L', 'swaplbl', '-U', '11111111-2222-3333-4444-555555555555', img], { stdio: 'ignore' });
  await check(img, { kind: 'swap', label: 'swaplbl', uuid: '11111111-2222-3333-4444-555555555555' });
});

test('ext4 in a GPT partition: readPartitions + subDevice + detectFilesystem, as blkid -O says', { skip: skipGpt }, async () => {
  const img = blank('disk.img', 24 * MiB);
  sh('sgdisk', ['-o', '-n', '1:2048:+4M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8300', '-c', '2:root', img]);
  const disk = fileDevice(img);
  const table = await readPartitions(disk);
  const root = table.partitions.find((p) => p.name === 'root')!;
  sh('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-U', 'cafe0000-1111-2222-3333-444455556666', '-E', `offset=${root.offset}`, img, `${Math.floor(root.size / 4096) * 4}k`]);
  const found = await detectFilesystem(subDevice(disk, root.offset, root.size));
  assert.deepEqual(found, { kind: 'ext4', label: 'rootfs', uuid: 'cafe0000-1111-2222-3333-444455556666' });
  const judge = blkid(img, root.offset);
  if (judge) assert.deepEqual(found, judge);
  const esp = table.partitions[0];
  assert.deepEqual(await detectFilesystem(subDevice(disk, esp.offset, esp.size)), { kind: 'unknown' });
});

test('xfs, as blkid says', { skip: peer('mkfs.xfs', 'xfsprogs') }, async () => {
  const img = blank('xfs.img', 320 * MiB);
  sh('mkfs.xfs', ['-q', '-L', 'xfslbl', '-m', 'uuid=22222222-3333-4444-5555-666666666666', img]);
  await check(img, { kind: 'xfs', label: 'xfslbl', uuid: '22222222-3333-4444-5555-666666666666' });
  assert.equal((await readPartitions(fileDevice(img))).kind, 'none');
});

test('btrfs, as blkid says', { skip: peer('mkfs.btrfs', 'btrfs-progs') }, async () => {
  const img = blank('btrfs.img', 128 * MiB);
  sh('mkfs.btrfs', ['-q', '-L', 'btrlbl', '-U', '55555555-6666-7777-8888-999999999999', img]);
  await check(img, { kind: 'btrfs', label: 'btrlbl', uuid: '55555555-6666-7777-8888-999999999999' });
});

test('exfat and ntfs serials, as blkid says (their labels live outside the boot sector: not read)', async (t) => {
  await t.test('exfat', { skip: peer('mkfs.exfat', 'exfatprogs') }, async () => {
    const img = blank('exfat.img', 16 * MiB);
    sh('mkfs.exfat', ['-L', 'EXLBL', img]);
    const uuid = blkid(img)?.uuid;
    const found = await detectFilesystem(fileDevice(img));
    assert.equal(found.kind, 'exfat');
    assert.match(found.uuid!, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    if (uuid) assert.equal(found.uuid, uuid);
    assert.equal((await readPartitions(fileDevice(img))).kind, 'none'); // its boot sector ends in 0x55AA
  });
  await t.test('ntfs', { skip: peer('mkfs.ntfs', 'ntfs-3g') }, async () => {
    const img = blank('ntfs.img', 16 * MiB);
    spawnSync('mkfs.ntfs', ['-q', '-F', '-f', '-L', 'ntlbl', img], { stdio: 'ignore' });
    const found = await detectFilesystem(fileDevice(img));
    assert.equal(found.kind, 'ntfs');
    assert.match(found.uuid!, /^[0-9A-F]{16}$/);
    const judge = blkid(img);
    if (judge) assert.equal(found.uuid, judge.uuid);
    assert.equal((await readPartitions(fileDevice(img))).kind, 'none');
  });
});

test('iso9660 label and date UUID, as blkid says', { skip: peer('genisoimage', 'genisoimage') }, async () => {
  const dir = tmp.path('iso-src');
  mkdirSync(dir);
  writeFileSync(`${dir}/hello.txt`, 'hello\n');
  const img = tmp.path('disc.iso');
  sh('genisoimage', ['-quiet', '-V', 'MYISO', '-o', img, dir]);
  const found = await detectFilesystem(fileDevice(img));
  assert.equal(found.kind, 'iso9660');
  assert.equal(found.label, 'MYISO');
  assert.match(found.uuid!, /^\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d\d$/);
  const judge = blkid(img);
  if (judge) assert.deepEqual(found, judge);
});

test('LUKS1 and LUKS2, as blkid says', { skip: peer('cryptsetup', 'cryptsetup-bin') }, async () => {
  const key = tmp.path('key');
  writeFileSync(key, 'secret');
  const fast = ['--pbkdf-force-iterations', '1000', '--key-file', key];
  const l2 = blank('luks2.img', 20 * MiB);
  sh('cryptsetup', ['luksFormat', '-q', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--label', 'cryptlbl', '--uuid', '33333333-4444-5555-6666-777777777777', ...fast, l2]);
  await check(l2, { kind: 'luks', label: 'cryptlbl', uuid: '33333333-4444-5555-6666-777777777777' });
  const l1 = blank('luks1.img', 20 * MiB);
  sh('cryptsetup', ['luksFormat', '-q', '--type', 'luks1', '--uuid', '44444444-4444-5555-6666-777777777777', ...fast, l1]);
  await check(l1, { kind: 'luks', uuid: '44444444-4444-5555-6666-777777777777' });
});

test('LVM2 physical volume label (crafted as pvcreate writes it)', async () => {
  const bytes = new Uint8Array(MiB);
  const text = (at: number, s: string) => bytes.set(new TextEncoder().encode(s), at);
  text(512, 'LABELONE');
  new DataView(bytes.buffer).setUint32(512 + 20, 32, true); // offset of the PV header in the label sector
  text(512 + 24, 'LVM2 001');
  text(512 + 32, 'AbCdEf0123456789GhIjKlMnOpQrStUv');
  assert.deepEqual(await detectFilesystem(memDevice(bytes)), { kind: 'lvm', uuid: 'AbCdEf-0123-4567-89Gh-IjKl-MnOp-QrStUv' });
  // a whole-disk PV behind an empty (signed) MBR is not a partition table, as libblkid decides
  bytes[510] = 0x55;
  bytes[511] = 0xaa;
  assert.equal((await readPartitions(memDevice(bytes))).kind, 'none');
});

test('small, empty and random devices are unknown, never an error', async () => {
  assert.deepEqual(await detectFilesystem(memDevice(new Uint8Array(0))), { kind: 'unknown' });
  assert.deepEqual(await detectFilesystem(memDevice(new Uint8Array(100))), { kind: 'unknown' });
  assert.deepEqual(await detectFilesystem(memDevice(new Uint8Array(MiB))), { kind: 'unknown' });
  // a swap magic needs the whole first page; an ext magic needs the superblock
  const short = new Uint8Array(1100);
  short[1024 + 56] = 0x53;
  short[1024 + 57] = 0xef;
  assert.deepEqual(await detectFilesystem(memDevice(short)), { kind: 'unknown' });
  const rng = new Rng(6);
  for (let i = 0; i < 300; i++) {
    const bytes = rng.fill(new Uint8Array(rng.range(0, 70_000)));
    // plant a magic now and then so the decoders behind it run on garbage
    const magics: [number, string][] = [[1024 + 56, '\x53\xef'], [4086, 'SWAPSPACE2'], [0, 'XFSB'], [3, 'NTFS    '], [3, 'EXFAT   '], [512, 'LABELONE'], [0, 'LUKS\xba\xbe'], [65536 + 64, '_BHRfS_M'], [32769, 'CD001']];
    const [at, magic] = magics[rng.int(magics.length)];
    if (at + magic.length <= bytes.length) for (let j = 0; j < magic.length; j++) bytes[at + j] = magic.charCodeAt(j);
    const found = await detectFilesystem(memDevice(bytes));
    assert.ok(typeof found.kind === 'string');
  }
});
