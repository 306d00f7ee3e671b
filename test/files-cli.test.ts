/**
 * Files inside disk archives, through the built CLI: `hexz files`, `hexz get`, `hexz cat
 * --file` and `hexz diff --files` on archives of real GPT and MBR disks, their output forms
 * (text, --long, --json), exit codes and one-line errors, encrypted and thin archives.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BULK_BYTES, expectedListing, HAVE_VFAT, IS_ROOT, makeGptImage, makeMbrImage, makeTree, makeVersion2, SKIP_WITHOUT_TOOLS, V2_EXPECTED,
} from './files-fixtures.ts';
import { assertOneErrorLine, packSmall, runCli, tempDir } from './helpers.ts';

const PASSWORD = 'cli files — пароль';
const KDF = { memoryKiB: 256, iterations: 1, lanes: 1 };

function ok(args: string[], env?: Record<string, string>): { stdout: string; stderr: string } {
  const r = runCli(args, { env });
  assert.equal(r.status, 0, `hexz ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

function fails(args: string[], status: number, pattern: RegExp): string {
  const r = runCli(args);
  assert.equal(r.status, status, `hexz ${args.join(' ')}: expected exit ${status}, got ${r.status}: ${r.stderr}`);
  assertOneErrorLine(r.stderr, `hexz ${args.join(' ')}`);
  assert.match(r.stderr, pattern);
  return r.stderr;
}

describe('hexz files | get | cat --file | diff --files', { skip: SKIP_WITHOUT_TOOLS }, () => {
  const tmp = tempDir('hexz-files-cli-');
  const tree = tmp.path('tree');
  const gpt = tmp.path('gpt.hxz');

  before(async () => {
    makeTree(tree);
    makeGptImage(tree, tmp.path('gpt.img'));
    await packSmall({ disk: tmp.path('gpt.img'), output: gpt });
  });
  after(() => tmp.cleanup());

  test('files: the partition table, a blank line, then every path of the tree', () => {
    const { stdout, stderr } = ok(['files', gpt]);
    assert.equal(stderr, '');
    const [table, listing] = stdout.split('\n\n');
    const lines = table.split('\n');
    assert.equal(lines[0], 'disk: GPT, 1 partition');
    assert.match(lines[1], /^ {2}# +type +offset +size +filesystem +label +uuid$/);
    assert.match(lines[2], /^ {2}1 +Linux filesystem +1\.00 MiB +62\.98 MiB +ext4 +[0-9a-f-]{36} +<- listed$/);
    const paths = listing.trimEnd().split('\n').filter((p) => !p.startsWith('/lost+found'));
    assert.deepEqual(paths, expectedListing(tree).map((x) => x.path));
  });

  test('files --long: ls -l columns with special bits, owners, sizes, times and link targets; --no-recursive', () => {
    const { stdout } = ok(['files', gpt, '/modes', '--long']);
    const byPath = new Map(stdout.split('\n\n')[1].trimEnd().split('\n').map((l) => [l.split(' ').filter(Boolean)[6], l]));
    assert.match(byPath.get('/modes/suid')!, /^-rwsr-xr-x +1 0 +0 +10 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \/modes\/suid$/);
    assert.match(byPath.get('/modes/sticky')!, /^drwxrwxrwt /);
    assert.match(byPath.get('/modes/sgid-dir')!, /^drwxrwsr-x /);
    assert.match(byPath.get('/modes/private')!, /^-rw------- +1 .* 2001-09-09T01:46:40Z \/modes\/private$/);
    if (IS_ROOT) assert.match(byPath.get('/modes/owned')!, /^-rw-r--r-- +1 1234 +5678 /);
    const links = ok(['files', gpt, '/links', '-l', '--no-recursive']).stdout;
    assert.match(links, /^lrwxrwxrwx +1 .* \/links\/rel -> \.\.\/files\/text$/m);
    if (IS_ROOT) assert.match(ok(['files', gpt, '/special', '-l']).stdout, /^crw-r--r-- +1 0 +0 +1, 3 .* \/special\/null$/m);
  });

  test('files --json: one document with the partitions and every entry', () => {
    const doc = JSON.parse(ok(['files', gpt, '--json']).stdout) as {
      table: string; partition: number; partitions: { number: number; filesystem: string; offset: number }[];
      filesystem: { kind: string; clean: boolean }; entries: { path: string; type: string; mode: number; permissions: string; size: number; mtime: string; target?: string }[];
    };
    assert.deepEqual([doc.table, doc.partition, doc.partitions[0].filesystem, doc.partitions[0].offset, doc.filesystem.kind], ['gpt', 1, 'ext4', 1 << 20, 'ext4']);
    const expected = expectedListing(tree);
    const entries = doc.entries.filter((e) => !e.path.startsWith('/lost+found'));
    assert.deepEqual(entries.map((e) => e.path), expected.map((x) => x.path));
    const suid = entries.find((e) => e.path === '/modes/suid')!;
    assert.deepEqual([suid.type, suid.mode, suid.permissions, suid.size], ['file', 0o4755, '-rwsr-xr-x', 10]);
    assert.match(suid.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(entries.find((e) => e.path === '/links/abs')!.target, '/files/text');
  });

  test('cat --file: a file byte for byte (sparse, symlinked, a range); directories and missing paths are exit 2', () => {
    for (const path of ['files/mixed3m', 'sparse/s1', 'files/f0', 'names/中文目录/文件.txt', 'bulk/r3']) {
      const r = runCli(['cat', gpt, '--file', `/${path}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.equals(readFileSync(join(tree, path))), `cat --file /${path}`);
    }
    assert.ok(runCli(['cat', gpt, '--file', '/links/rel']).stdout.equals(readFileSync(join(tree, 'files/text'))));
    const part = runCli(['cat', gpt, '--file', '/files/mixed3m', '--offset', '1M', '--length', '100K']);
    assert.ok(part.stdout.equals(readFileSync(join(tree, 'files/mixed3m')).subarray(1 << 20, (1 << 20) + 102400)), 'a range of the file');
    fails(['cat', gpt, '--file', '/deep'], 2, /\/deep: is a directory/);
    fails(['cat', gpt, '--file', '/no/such'], 2, /^hexz: .*gpt\.hxz: no such file or directory: \/no\/such \(partition 1\)/);
    fails(['cat', gpt, '--file', '/files/f0', '--offset', '1M'], 2, /past the end of \/files\/f0/);
  });

  test('get: restores files and directories; refuses to overwrite unless --force; warns about what it skips', () => {
    const out = tmp.path('out');
    const { stdout, stderr } = ok(['get', gpt, '/hl', '/links/rel', '/special', '/sparse/s1', '-o', out]);
    assert.match(stdout, /^restored: +4 items -> .*out \(partition 1\)$/m);
    assert.equal(statSync(join(out, 'hl/a')).ino, statSync(join(out, 'hl/sub/c')).ino);
    assert.equal(readlinkSync(join(out, 'rel')), '../files/text');
    assert.ok(statSync(join(out, 'special/fifo')).isFIFO(), 'a fifo');
    assert.ok(readFileSync(join(out, 's1')).equals(readFileSync(join(tree, 'sparse/s1'))), 'content of s1');
    if (existsSync(join(tree, 'special/sock'))) assert.match(stderr, /^hexz: warning: \/special\/sock: socket not restored/m);
    fails(['get', gpt, '/hl', '-o', out], 2, /hl: output exists \(use --force to overwrite\)/);
    writeFileSync(join(out, 'hl', 'extra'), 'gone after --force');
    const forced = JSON.parse(ok(['get', gpt, '/hl', '-o', out, '--force', '--json']).stdout) as { files: number; hardLinks: number; items: { path: string; output: string }[] };
    assert.deepEqual([forced.files, forced.hardLinks, forced.items.map((i) => i.path)], [1, 2, ['/hl']]);
    assert.ok(!existsSync(join(out, 'hl', 'extra')), '--force replaces the directory');
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.hexz-tmp-')), []);
    fails(['get', gpt, '/nope', '-o', out], 2, /no such file or directory: \/nope/);
    assert.equal(runCli(['get', gpt, '/hl']).status, 2, '-o is required');
  });

  test('diff --files: a thin child of an edited disk, as A/D/M lines and as JSON', async () => {
    makeVersion2(tmp.path('gpt.img'), tmp.path('v2.img'), tmp.path('v2-scratch'));
    await packSmall({ disk: tmp.path('v2.img'), output: tmp.path('v2.hxz'), parent: gpt });
    const { stdout } = ok(['diff', gpt, tmp.path('v2.hxz'), '--files']);
    assert.match(stdout, /^changes: +3 added, 2 removed, 8 changed$/m);
    const lines = stdout.split('\n\n')[1].trimEnd().split('\n');
    const expected = [
      ...V2_EXPECTED.added.map((p) => `A ${p}`), ...V2_EXPECTED.removed.map((p) => `D ${p}`), ...[...V2_EXPECTED.changed.keys()].map((p) => `M ${p}`),
    ];
    assert.deepEqual(lines.map((l) => l.split('  (')[0]).sort(), expected.sort());
    assert.match(stdout, /^M \/bulk\/r2 {2}\(content; file, 2\.00 MiB, 4\.00 KiB changed\)$/m);
    assert.match(stdout, /^M \/emptydir {2}\(type; dir -> file, /m);
    const order = lines.map((l) => l.split('  (')[0].slice(2));
    assert.deepEqual(order, [...order].sort(cmp), 'sorted by path');
    const json = JSON.parse(ok(['diff', gpt, tmp.path('v2.hxz'), '--files', '--json']).stdout) as {
      added: { path: string }[]; removed: { path: string }[]; changed: { path: string; what: string[]; sizeA: number; sizeB: number; changedBytes: number }[];
    };
    assert.deepEqual(json.added.map((x) => x.path), V2_EXPECTED.added);
    assert.deepEqual(json.removed.map((x) => x.path), V2_EXPECTED.removed);
    const r2 = json.changed.find((c) => c.path === '/bulk/r2')!;
    assert.deepEqual([r2.what, r2.sizeA, r2.sizeB, r2.changedBytes], [['content'], BULK_BYTES, BULK_BYTES, 4096]);
    // Without --files, diff is the block-level comparison it always was.
    assert.match(ok(['diff', gpt, tmp.path('v2.hxz')]).stdout, /^disk: /m);
  });

  test('encrypted and thin archives: the password from a file, parents found as usual', async () => {
    const enc = tmp.path('enc.hxz');
    await packSmall({ disk: tmp.path('gpt.img'), output: enc, encrypt: { password: PASSWORD, kdf: KDF } });
    writeFileSync(tmp.path('pw'), `${PASSWORD}\n`);
    const listed = ok(['files', enc, '/hl', '--password-file', tmp.path('pw')]).stdout;
    assert.deepEqual(listed.split('\n\n')[1].trimEnd().split('\n'), ['/hl/a', '/hl/b', '/hl/sub', '/hl/sub/c']);
    const r = runCli(['cat', enc, '--file', '/hl/a', '--password-file', tmp.path('pw')]);
    assert.equal(r.stdout.toString(), 'linked three times');
    fails(['files', enc, '--password-file', tmp.path('pw-missing')], 6, /pw-missing/);
    assert.match(ok(['files', tmp.path('v2.hxz'), '/newdir']).stdout, /^\/newdir\/x$/m);
  });

  test('partition choice: an MBR disk with vfat and a logical ext4; --partition of the vfat one is exit 5', async () => {
    makeMbrImage(tree, tmp.path('mbr.img'));
    const mbr = tmp.path('mbr.hxz');
    await packSmall({ disk: tmp.path('mbr.img'), output: mbr });
    const { stdout } = ok(['files', mbr, '/hl', '--no-recursive']);
    assert.match(stdout, /^disk: MBR, 3 partitions$/m);
    assert.match(stdout, /^ {2}5 +Linux +11\.00 MiB +53\.00 MiB +ext4 +[0-9a-f-]{36} +<- listed$/m);
    assert.match(stdout, /^ {2}2 +Extended +.* extended *$/m);
    if (HAVE_VFAT) fails(['files', mbr, '--partition', '1'], 5, /^hexz: .*mbr\.hxz: partition 1 holds vfat: unsupported filesystem \(ext2\/3\/4 are supported\)$/m);
    fails(['files', mbr, '--partition', '9'], 2, /no partition 9; it has partition 1 .* partition 5 \(ext4/);
    fails(['files', mbr, '--partition', 'x'], 2, /--partition/);
  });

  test('--help of files and get names their options', () => {
    const files = ok(['files', '--help']).stdout;
    for (const opt of ['--partition', '--long', '--json', '--no-recursive', '--password-file', '--parent-dir']) assert.ok(files.includes(opt), `files --help: ${opt}`);
    const get = ok(['get', '--help']).stdout;
    for (const opt of ['--output', '--partition', '--force', '--silent', '--json']) assert.ok(get.includes(opt), `get --help: ${opt}`);
    assert.ok(ok(['cat', '--help']).stdout.includes('--file'));
    assert.ok(ok(['diff', '--help']).stdout.includes('--files'));
  });
});

/** Path order: component by component, by bytes. */
function cmp(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]), Buffer.from(y[i]));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}
