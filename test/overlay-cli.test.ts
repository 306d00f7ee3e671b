/**
 * `hexz overlay FILE [--json]` through the built CLI (run `npx tsc -p tsconfig.json` first): the
 * report of a real overlay, a missing base, and one clear error line for files that are not
 * (good) overlays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { Overlay } from '../src/overlay/overlay.ts';
import { assertOneErrorLine, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.ts';

const BS = 65536;
const PAGE = 4096;

test('hexz overlay --json: base, per-stream dirty pages and ranges, log statistics', async () => {
  const t = tempDir('hexz-ovl-cli-');
  try {
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), mixedData(8 * BS + 100, { unit: BS })), memory: writeData(t.path('m.raw'), mixedData(2 * BS)), output: basePath, blockSize: BS });
    const base = await Archive.open(basePath);
    const file = t.path('vm.overlay');
    const ov = await Overlay.create(file, base);
    await ov.write('disk', 10, new Uint8Array(100).fill(1)); // page 0, read-modify-write
    await ov.write('disk', PAGE, new Uint8Array(PAGE).fill(2)); // page 1: merges with page 0 into one range
    await ov.write('disk', PAGE, new Uint8Array(PAGE).fill(3)); // rewritten: garbage
    await ov.writeZeroes('disk', 4 * BS, 2 * BS);
    await ov.trim('disk', 8 * BS, 100); // the partial last page, up to the end
    await ov.flush();
    await ov.write('memory', 0, new Uint8Array(PAGE).fill(4)); // not flushed
    const id = Buffer.from(base.archiveId).toString('hex');
    // A server may hold it: the report reads without the lock.
    let r = runCli(['overlay', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.toString());
    assert.equal(report.path, file);
    assert.equal(report.pageSize, 4096);
    assert.equal(report.version, 1);
    assert.deepEqual(report.base, { archiveId: id, identity: report.base.identity, recordedPath: 'base.hxz', found: true, path: basePath });
    assert.match(report.base.identity, /^[0-9a-f]{64}$/);
    const [disk, memory] = report.streams;
    assert.deepEqual(disk, {
      name: 'disk', size: 8 * BS + 100, dirtyPages: 2 + 32 + 1, dirtyBytes: 2 * PAGE + 2 * BS + 100, dataPages: 2, zeroPages: 33,
      ranges: [{ offset: 0, length: 2 * PAGE, zero: false }, { offset: 4 * BS, length: 2 * BS, zero: true }, { offset: 8 * BS, length: 100, zero: true }],
    });
    assert.deepEqual(memory, { name: 'memory', size: 2 * BS, dirtyPages: 1, dirtyBytes: PAGE, dataPages: 1, zeroPages: 0, ranges: [{ offset: 0, length: PAGE, zero: false }] });
    const log = report.log;
    assert.equal(log.records, 6);
    assert.equal(log.liveBytes, 3 * PAGE);
    assert.equal(log.logBytes, 6 * 64 + 4 * PAGE);
    assert.equal(log.garbageBytes, log.logBytes - log.liveBytes);
    assert.equal(log.lastSequence, 6);
    assert.equal(log.flushedSequence, 5);
    assert.equal(log.unflushedBytes, 64 + PAGE);
    assert.equal(log.tornBytes, 0);
    assert.equal(log.fileBytes, 4096 + log.logBytes);
    await ov.close();
    await base.close();

    r = runCli(['overlay', file]);
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, new RegExp(`base: +${id} at ${basePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(text, /disk \(.*\): 35 pages dirty \(2 data, 33 zero\)/);
    assert.match(text, /torn tail: +none/);

    // The base gone: reported, not an error; found again with --parent-dir.
    renameSync(basePath, t.path('moved.hxz'));
    r = runCli(['overlay', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const missing = JSON.parse(r.stdout.toString()).base;
    assert.equal(missing.found, false);
    assert.match(missing.problem, /^missing/);
    assert.match(runCli(['overlay', file]).stdout.toString(), /NOT AVAILABLE: missing/);
    r = runCli(['overlay', file, '--json', '--parent-dir', t.dir]);
    assert.equal(JSON.parse(r.stdout.toString()).base.found, true);
  } finally {
    t.cleanup();
  }
});

test('hexz overlay on bad files: one error line and a distinct exit code', async () => {
  const t = tempDir('hexz-ovl-cli-');
  try {
    const basePath = t.path('base.hxz');
    await packSmall({ disk: writeData(t.path('d.raw'), mixedData(2 * BS)), output: basePath, blockSize: BS });
    const base = await Archive.open(basePath);
    const file = t.path('vm.overlay');
    const ov = await Overlay.create(file, base);
    await ov.write('disk', 0, new Uint8Array(PAGE).fill(9));
    await ov.close();
    await base.close();
    const good = readFileSync(file);
    const cases: [string, Uint8Array | undefined, number, RegExp][] = [
      ['not-an-overlay', Buffer.alloc(8192, 0x41), 3, /not an overlay file \(wrong magic\)/],
      ['truncated-header', good.subarray(0, 1000), 3, /not an overlay file \(1000 bytes, shorter than/],
      ['empty', new Uint8Array(0), 3, /not an overlay file/],
      ['damaged-header', Buffer.concat([good.subarray(0, 200), Buffer.from([good[200] ^ 1]), good.subarray(201)]), 4, /overlay header fails its checksum/],
      ['damaged-record', Buffer.concat([good.subarray(0, 5000), Buffer.from([good[5000] ^ 1]), good.subarray(5001)]), 4, /record at byte 4096 fails its checksum \(flushed data damaged/],
      ['missing', undefined, 6, /no such file/],
      ['an-archive', readFileSync(basePath), 3, /not an overlay file \(it is a hexz archive\)/],
    ];
    for (const [name, bytes, status, message] of cases) {
      const path = t.path(name);
      if (bytes) writeFileSync(path, bytes);
      const r = runCli(['overlay', path]);
      assert.equal(r.status, status, `${name}: ${r.stderr}`);
      assertOneErrorLine(r.stderr, name);
      assert.match(r.stderr, message, name);
      assert.ok(r.stderr.includes(path), `${name}: the message names the file: ${r.stderr}`);
    }
  } finally {
    t.cleanup();
  }
});
