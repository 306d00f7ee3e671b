/**
 * The `hexz build --spec` file (src/build/spec.ts): the documented example parses to the typed
 * object, and each kind of mistake gives its own UsageError message naming the key and table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { UsageError } from '../src/errors.ts';
import { parseBuildSpec } from '../src/build/spec.ts';

const MiB = 1 << 20;
const base = resolve('/images/spec-dir');

/** The example of parseBuildSpec's TSDoc (and the README), with a real UUID. */
const EXAMPLE = `
table = "gpt"          # gpt | mbr | none
size = "4G"            # disk size; omit for auto (sum of partitions)
[[partition]]
type = "esp"           # name or GUID (gpt) / name or 0xNN (mbr)
size = "100M"          # omit on the last partition to fill the disk
label = "EFI"          # partition name (gpt)
fs = "none"            # ext4 | ext2 | none
[[partition]]
type = "linux"
fs = "ext4"
source = "rootfs/"     # directory or tar file, relative to the spec file
fs-label = "root"      # filesystem label (≤16 bytes)
fs-uuid = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
root-owned = true
`;

test('the documented example parses to the typed spec', () => {
  assert.deepEqual(parseBuildSpec(EXAMPLE, base), {
    table: 'gpt',
    size: 4 * 1024 * MiB,
    partitions: [
      { type: 'esp', size: 100 * MiB, label: 'EFI', fs: 'none' },
      { type: 'linux', fs: 'ext4', source: resolve(base, 'rootfs'), fsLabel: 'root', fsUuid: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', rootOwned: true },
    ],
  });
});

test('defaults and variants: auto sizes, byte counts, fs from source, absolute sources, mbr and none', () => {
  const spec = parseBuildSpec(`
size = "auto"
[[partition]]
type = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
size = 1048576
[[partition]]
type = "linux-home"
size = "auto"
source = "/abs/home.tar"
[[partition]]
type = "swap"
fs = "ext2"
`, base);
  assert.deepEqual(spec, {
    table: 'gpt',
    partitions: [
      { type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', size: MiB, fs: 'none' },
      { type: 'linux-home', size: 'auto', source: '/abs/home.tar', fs: 'ext4' },
      { type: 'swap', fs: 'ext2' },
    ],
  });
  assert.deepEqual(parseBuildSpec('table = "mbr"\n[[partition]]\ntype = "0x83"\nsize = "1GiB"\n', base).partitions,
    [{ type: '0x83', size: 1024 * MiB, fs: 'none' }]);
  assert.deepEqual(parseBuildSpec('table = "none"\n[[partition]]\nsource = "tree"\nsize = "auto"\nfs-label = "data"\n', base),
    { table: 'none', partitions: [{ size: 'auto', fs: 'ext4', source: resolve(base, 'tree'), fsLabel: 'data' }] });
});

/** Asserts parsing `text` throws a UsageError with exactly `message`. */
function rejects(text: string, message: string | RegExp): void {
  assert.throws(() => parseBuildSpec(text, base), (err: unknown) => {
    assert.ok(err instanceof UsageError, `a UsageError, not ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const LINUX = '[[partition]]\ntype = "linux"\nsize = "1M"\n';

test('unknown keys name the key and the table', () => {
  rejects(`${LINUX}[[partition]]\ntype = "linux"\nsise = "1M"\n`,
    'spec: unknown key "sise" in [[partition]] 2 (known: type, size, label, fs, source, fs-label, fs-uuid, root-owned)');
  rejects(`tabel = "gpt"\n${LINUX}`, 'spec: unknown key "tabel" at the top level (known: table, size, partition)');
});

test('wrong types name the key, the table and what was there', () => {
  rejects(`${LINUX}label = 5\n`, 'spec: "label" in [[partition]] 1 must be a string, not number 5');
  rejects(`${LINUX}root-owned = "yes"\n`, 'spec: "root-owned" in [[partition]] 1 must be true or false, not string "yes"');
  rejects(`size = true\n${LINUX}`, 'spec: "size" at the top level must be a size (bytes, or a string like "100M"), not boolean true');
  rejects(`${LINUX}source = ["a"]\n`, 'spec: "source" in [[partition]] 1 must be a string, not an array');
  rejects('[partition]\ntype = "linux"\n', 'spec: "partition" must be an array of tables, written [[partition]]');
});

test('bad values: table, fs, sizes, uuid, labels', () => {
  rejects(`table = "apm"\n${LINUX}`, 'spec: "table" at the top level must be "gpt", "mbr", "none", not "apm"');
  rejects(`${LINUX}fs = "xfs"\n`, 'spec: "fs" in [[partition]] 1 must be "ext4", "ext2", "none", not "xfs"');
  rejects('[[partition]]\ntype = "linux"\nsize = "12X"\n', /^spec: "size" in \[\[partition\]\] 1: invalid size '12X'/);
  rejects('[[partition]]\ntype = "linux"\nsize = 1.5\n', 'spec: "size" in [[partition]] 1: invalid size 1.5');
  rejects(`size = "-4G"\n${LINUX}`, /^spec: "size" at the top level: invalid size '-4G'/);
  rejects('[[partition]]\ntype = "linux"\nsize = 0\n', 'spec: [[partition]] 1: "size" must be more than 0');
  rejects(`${LINUX}fs = "ext4"\nfs-uuid = "not-a-uuid"\n`, `spec: [[partition]] 1: "fs-uuid" 'not-a-uuid' is not a UUID (8-4-4-4-12 hex digits)`);
  rejects(`${LINUX}fs = "ext4"\nfs-label = "a-very-long-label-indeed"\n`, 'spec: [[partition]] 1: "fs-label" is longer than 16 bytes');
  rejects(`${LINUX}label = "${'x'.repeat(37)}"\n`, 'spec: [[partition]] 1: "label" is longer than the 36 UTF-16 code units a GPT name holds');
  rejects(`table = "mbr"\n${LINUX}label = "boot"\n`, 'spec: [[partition]] 1: "label" is a GPT partition name; an MBR has none');
});

test('layout rules: sizes, fill, auto, table none, missing type, fs none', () => {
  rejects('[[partition]]\ntype = "esp"\n[[partition]]\ntype = "linux"\n', 'spec: [[partition]] 1: no "size"; only the last partition may omit it (to fill the disk)');
  rejects('[[partition]]\ntype = "linux"\nsize = "auto"\n', 'spec: [[partition]] 1: size = "auto" fits a source tree, and there is no "source"');
  rejects(`table = "none"\n${LINUX}${LINUX}`, 'spec: table = "none" takes exactly one [[partition]] (the whole disk), not 2');
  rejects('table = "none"\n[[partition]]\ntype = "linux"\n', 'spec: [[partition]] 1: "type" has no meaning with table = "none" (no partition table)');
  rejects('[[partition]]\nsize = "1M"\n', 'spec: [[partition]] 1: "type" is missing (a name like linux or esp, or a GUID / 0xNN)');
  rejects(`${LINUX}fs = "none"\nsource = "x"\n`, 'spec: [[partition]] 1: "source" needs a filesystem, and fs = "none"');
  rejects(`${LINUX}root-owned = true\n`, 'spec: [[partition]] 1: "root-owned" needs a filesystem, and fs = "none"');
  rejects(`table = "mbr"\n${LINUX.repeat(5)}`, 'spec: an MBR holds at most 4 partitions, not 5');
  rejects('table = "gpt"\n', 'spec: no [[partition]]: a spec needs at least one');
  rejects(`${LINUX}source = ""\n`, 'spec: [[partition]] 1: "source" is empty');
});

test('TOML syntax errors give the line and column', () => {
  rejects('table = "gpt"\nsize = \n', /^spec: line 2, column \d+: invalid value$/);
  rejects('table = "gpt"\ntable = "mbr"\n', /^spec: line 2, column \d+: .*redefine/);
});
