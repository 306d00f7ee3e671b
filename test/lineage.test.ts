/**
 * `lineage` and `hexz ls` (docs/FORMAT.md §15): a directory of full and thin archives shown as
 * trees by direct parent (archive id AND identity), with a 3-deep chain, siblings ordered by
 * creation time, an unrelated archive, thin archives whose parent was deleted, replaced by
 * another archive, or modified under the same id, and files that are not archives skipped.
 * The CLI tests run bin/hexz.js against dist/ (build with `npx tsc -p tsconfig.json`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { formatBytes as fmt, lineage, type LineageNode, type LineageReport, type PackResult } from '../src/index.ts';
import { UsageError, StoreError } from '../src/errors.ts';
import { assertOneErrorLine, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-lineage-');
after(() => tmp.cleanup());

const BLOCK = 4096;
const T0 = Date.UTC(2024, 0, 1);
const lib = tmp.path('lib');
mkdirSync(`${lib}/deep`, { recursive: true });

/** `data` with `blocks` overwritten by fresh bytes (so each edit is new content). */
function edited(data: Uint8Array, blocks: number[], seed: number): Uint8Array {
  const out = data.slice();
  for (const b of blocks) out.set(mixedData(BLOCK, { seed: seed * 1000 + b, unit: 1 << 20 }), b * BLOCK);
  return out;
}

const base = mixedData(64 * BLOCK, { unit: BLOCK, seed: 1 });
let inputs = 0;
const input = (data: Uint8Array) => writeData(tmp.path(`in-${inputs++}.raw`), data);

/** Packs `data` as `name` under lib/, thin against `parent` (a lib/ name) when given. */
function packAt(name: string, data: Uint8Array, createdMs: number, extra: { parent?: string; archiveId?: Uint8Array; memory?: Uint8Array } = {}): Promise<PackResult> {
  return packSmall({
    disk: input(data), memory: extra.memory ? input(extra.memory) : undefined, output: `${lib}/${name}`, blockSize: BLOCK, createdMs, force: true,
    parent: extra.parent === undefined ? undefined : `${lib}/${extra.parent}`, archiveId: extra.archiveId,
  });
}

const packed: Record<string, PackResult> = {};
let report: LineageReport;

before(async () => {
  const memory = mixedData(10 * BLOCK + 17, { unit: BLOCK, seed: 2 });
  packed['base.hxz'] = await packAt('base.hxz', base, T0, { memory });
  // The first child is created before the second but sorts after it by name: children go by time.
  packed['z-first.hxz'] = await packAt('z-first.hxz', edited(base, [3, 4], 1), T0 + 1000, { parent: 'base.hxz' });
  packed['a-second.hxz'] = await packAt('a-second.hxz', edited(base, [9], 2), T0 + 2000, { parent: 'base.hxz' });
  packed['deep/grandchild.hxz'] = await packAt('deep/grandchild.hxz', edited(base, [3, 4, 20], 1), T0 + 3000, { parent: 'z-first.hxz' });
  packed['unrelated.hxz'] = await packAt('unrelated.hxz', mixedData(5 * BLOCK, { seed: 99 }), T0 + 500);
  // A thin archive whose parent is deleted afterwards.
  await packAt('gone.hxz', mixedData(16 * BLOCK, { seed: 5 }), T0 + 100);
  packed['orphan.hxz'] = await packAt('orphan.hxz', edited(mixedData(16 * BLOCK, { seed: 5 }), [1], 5), T0 + 4000, { parent: 'gone.hxz' });
  rmSync(`${lib}/gone.hxz`);
  // A thin archive whose parent file is replaced by another archive of the same name (new id).
  const old = await packAt('swapped-parent.hxz', mixedData(16 * BLOCK, { seed: 6 }), T0 + 200);
  packed['swapped-child.hxz'] = await packAt('swapped-child.hxz', edited(mixedData(16 * BLOCK, { seed: 6 }), [2], 6), T0 + 5000, { parent: 'swapped-parent.hxz' });
  packed['swapped-parent.hxz'] = await packAt('swapped-parent.hxz', mixedData(16 * BLOCK, { seed: 7 }), T0 + 6000);
  assert.notEqual(packed['swapped-parent.hxz'].archiveId, old.archiveId);
  // A thin archive whose parent is repacked under the same archive id: same id, other identity.
  const id = new Uint8Array(16).fill(0x42);
  await packAt('same-id-parent.hxz', mixedData(16 * BLOCK, { seed: 8 }), T0 + 300, { archiveId: id });
  packed['same-id-child.hxz'] = await packAt('same-id-child.hxz', edited(mixedData(16 * BLOCK, { seed: 8 }), [0], 8), T0 + 7000, { parent: 'same-id-parent.hxz' });
  packed['same-id-parent.hxz'] = await packAt('same-id-parent.hxz', mixedData(16 * BLOCK, { seed: 9 }), T0 + 8000, { archiveId: id });
  // Not archives: skipped (the .hxz ones), or ignored (other names).
  writeFileSync(`${lib}/notes.hxz`, 'not an archive\n');
  writeFileSync(`${lib}/deep/empty.hxz`, '');
  writeFileSync(`${lib}/readme.txt`, 'ignored\n');
  report = await lineage(lib);
});

/** The node at `path` anywhere in the trees. */
function node(path: string, list: LineageNode[] = report.roots): LineageNode | undefined {
  for (const n of list) {
    if (n.path === path) return n;
    const found = node(path, n.children);
    if (found) return found;
  }
  return undefined;
}

const names = (list: LineageNode[]) => list.map((n) => n.path);

describe('lineage', () => {
  test('roots are full archives and thin ones whose parent is not here, oldest first', () => {
    assert.deepEqual(names(report.roots), ['base.hxz', 'unrelated.hxz', 'orphan.hxz', 'swapped-child.hxz', 'swapped-parent.hxz', 'same-id-child.hxz', 'same-id-parent.hxz']);
    assert.equal(report.archives, 10);
  });

  test('children hang beneath their direct parent, ordered by creation time, three deep', () => {
    const b = node('base.hxz')!;
    assert.deepEqual(names(b.children), ['z-first.hxz', 'a-second.hxz']);
    assert.deepEqual(names(b.children[0].children), ['deep/grandchild.hxz']);
    assert.deepEqual(b.children[1].children, []);
    const g = node('deep/grandchild.hxz')!;
    assert.deepEqual(g.parent, { archiveId: packed['z-first.hxz'].archiveId, recordedPath: '../z-first.hxz', status: 'found', path: 'z-first.hxz', atRecordedPath: true });
  });

  test('sizes, ids and flags match what pack reported', () => {
    for (const [path, r] of Object.entries(packed)) {
      const n = node(path)!;
      assert.ok(n, path);
      assert.equal(n.archiveId, r.archiveId, path);
      assert.equal(n.fileBytes, r.archiveBytes, path);
      assert.equal(n.ownBytes, r.header.data.length, path);
      assert.equal(n.logicalBytes, r.logicalBytes, path);
      assert.equal(n.createdMs, r.header.createdMs, path);
      assert.equal(n.created, new Date(r.header.createdMs).toISOString(), path);
      assert.equal(n.thin, r.thin !== null, path);
      assert.equal(n.referencedBytes, r.thin ? r.thin.referencedBytes : null, path);
      assert.equal(n.encrypted, false);
      assert.equal(n.signed, false);
    }
    // A thin child stores only what its chain lacks.
    assert.ok(node('z-first.hxz')!.ownBytes < node('base.hxz')!.ownBytes / 4);
    assert.equal(node('base.hxz')!.logicalBytes, 64 * BLOCK + 10 * BLOCK + 17);
    assert.equal(report.fileBytes, Object.values(packed).reduce((n, r) => n + r.archiveBytes, 0));
  });

  test('a deleted parent is flagged missing, with its id and recorded path', () => {
    assert.deepEqual(node('orphan.hxz')!.parent, { archiveId: packed['orphan.hxz'].thin!.parentId, recordedPath: 'gone.hxz', status: 'missing' });
  });

  test('a parent replaced by another archive of the same name is flagged', () => {
    const p = node('swapped-child.hxz')!.parent!;
    assert.equal(p.status, 'replaced');
    assert.equal(p.archiveId, packed['swapped-child.hxz'].thin!.parentId);
    assert.match(p.problem!, new RegExp(`swapped-parent\\.hxz is another archive \\(id ${packed['swapped-parent.hxz'].archiveId}\\)`));
    assert.deepEqual(node('swapped-parent.hxz')!.children, []);
  });

  test('a parent with the same archive id but another identity is flagged modified', () => {
    const p = node('same-id-child.hxz')!.parent!;
    assert.equal(p.status, 'modified');
    assert.equal(p.archiveId, '42'.repeat(16));
    assert.equal(p.path, 'same-id-parent.hxz');
    assert.deepEqual(node('same-id-parent.hxz')!.children, []);
  });

  test('files named *.hxz that are not archives are skipped, not fatal; other names are ignored', () => {
    assert.deepEqual(report.skipped.map((s) => [s.path, s.code]), [['deep/empty.hxz', 'NOT_AN_ARCHIVE'], ['notes.hxz', 'NOT_AN_ARCHIVE']]);
    for (const s of report.skipped) assert.ok(s.reason.length > 0 && !s.reason.includes(lib), s.reason);
  });

  test('a child found elsewhere than its recorded path is attached, and says so; its parent outside DIR is found', async () => {
    const d = tmp.path('moved');
    mkdirSync(`${d}/sub`, { recursive: true });
    await packSmall({ disk: input(base), output: `${d}/p.hxz`, blockSize: BLOCK, createdMs: T0 });
    await packSmall({ disk: input(edited(base, [1], 3)), output: `${d}/sub/c.hxz`, parent: `${d}/p.hxz`, createdMs: T0 + 1 });
    writeFileSync(`${d}/c-copy.hxz`, readFileSync(`${d}/sub/c.hxz`));
    const r = await lineage(d);
    assert.deepEqual(names(r.roots[0].children), ['c-copy.hxz', 'sub/c.hxz']);
    assert.equal(r.roots[0].children[0].parent!.atRecordedPath, false);
    assert.equal(r.roots[0].children[1].parent!.atRecordedPath, true);
    // Listing only sub/: the parent lies outside it, at the recorded path.
    const sub = await lineage(`${d}/sub`);
    assert.deepEqual(sub.roots[0].parent, { archiveId: sub.roots[0].parent!.archiveId, recordedPath: '../p.hxz', status: 'outside', path: `${d}/p.hxz` });
  });

  test('an empty directory lists nothing; a file or a missing path is an error', async () => {
    const empty = tmp.path('empty');
    mkdirSync(empty);
    assert.deepEqual(await lineage(empty), { dir: empty, roots: [], archives: 0, fileBytes: 0, logicalBytes: 0, skipped: [] });
    await assert.rejects(lineage(`${lib}/base.hxz`), UsageError);
    await assert.rejects(lineage(tmp.path('nope')), StoreError);
  });
});

describe('hexz ls', () => {
  test('text: one line per archive, the tree drawn, problems flagged, skipped files warned on stderr', () => {
    const r = runCli(['ls', lib]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.toString('utf8').trimEnd().split('\n');
    assert.match(lines[0], /^ARCHIVE\s+ID\s+CREATED \(UTC\)\s+LOGICAL\s+OWN\s+FILE\s+NOTES$/);
    const rows = lines.slice(1, -1);
    assert.equal(rows.length, 10);
    const at = (name: string) => rows.findIndex((l) => l.includes(name));
    assert.match(rows[at('base.hxz')], /^base\.hxz\s/);
    assert.match(rows[at('base.hxz')], new RegExp(`2024-01-01 00:00:00\\s+${fmt(64 * BLOCK + 10 * BLOCK + 17)}`));
    assert.match(rows[at('z-first.hxz')], /^├── z-first\.hxz\s.*thin, refers to /);
    assert.match(rows[at('deep/grandchild.hxz')], /^│   └── deep\/grandchild\.hxz\s/);
    assert.match(rows[at('a-second.hxz')], /^└── a-second\.hxz\s/);
    assert.ok(at('z-first.hxz') < at('deep/grandchild.hxz') && at('deep/grandchild.hxz') < at('a-second.hxz'));
    assert.match(rows[at('orphan.hxz')], new RegExp(`^orphan\\.hxz .*parent missing: id ${packed['orphan.hxz'].thin!.parentId} \\(recorded path gone\\.hxz\\)$`));
    assert.match(rows[at('swapped-child.hxz')], /parent replaced: swapped-parent\.hxz is another archive/);
    assert.match(rows[at('same-id-child.hxz')], /parent modified: same-id-parent\.hxz has the parent's archive id but was modified/);
    assert.equal(lines.at(-1), `10 archives in 7 trees, ${fmt(report.fileBytes)} on disk, ${fmt(report.logicalBytes)} logical; 2 skipped`);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      'hexz: warning: deep/empty.hxz: skipped: ' + report.skipped[0].reason,
      'hexz: warning: notes.hxz: skipped: ' + report.skipped[1].reason,
    ]);
  });

  test('--json is the library report, all sizes in bytes, nothing on stderr', () => {
    const r = runCli(['ls', '--json', lib]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout.toString('utf8')), JSON.parse(JSON.stringify(report)));
  });

  test('errors: not a directory (exit 2), missing (exit 6), one line each', () => {
    const file = runCli(['ls', `${lib}/base.hxz`]);
    assert.equal(file.status, 2);
    assertOneErrorLine(file.stderr, 'ls FILE');
    const missing = runCli(['ls', tmp.path('nope')]);
    assert.equal(missing.status, 6);
    assertOneErrorLine(missing.stderr, 'ls MISSING');
  });
});
