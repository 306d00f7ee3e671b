/** The pure parts of hexz mount: lseek SEEK_DATA/SEEK_HOLE over extents, and /proc/self/mountinfo. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEEK_DATA, SEEK_HOLE, seekDataHole } from '../src/mount/seek-data-hole.js';
import { parseMountInfo } from '../src/mount/mount-table.js';
import type { StreamExtent } from '../src/archive/stream-view.js';

/** An extents function over a fixed list of runs (clipped like StreamView.extents), counting calls. */
function extentsOf(runs: StreamExtent[]) {
  const calls = { n: 0 };
  const fn = async (offset: number, length: number, max: number): Promise<StreamExtent[]> => {
    calls.n++;
    const end = offset + length;
    return runs.filter((r) => r.offset + r.length > offset && r.offset < end).slice(0, max)
      .map((r) => ({ offset: Math.max(r.offset, offset), length: Math.min(end, r.offset + r.length) - Math.max(r.offset, offset), zero: r.zero }));
  };
  return { fn, calls };
}

test('SEEK_DATA / SEEK_HOLE as lseek(2) specifies, holes being zero runs', async () => {
  // data [0,10) zero [10,30) data [30,40) zero [40,50)
  const { fn } = extentsOf([{ offset: 0, length: 10, zero: false }, { offset: 10, length: 20, zero: true }, { offset: 30, length: 10, zero: false }, { offset: 40, length: 10, zero: true }]);
  const size = 50;
  assert.equal(await seekDataHole(fn, size, 0, SEEK_DATA), 0);
  assert.equal(await seekDataHole(fn, size, 5, SEEK_DATA), 5);
  assert.equal(await seekDataHole(fn, size, 10, SEEK_DATA), 30);
  assert.equal(await seekDataHole(fn, size, 41, SEEK_DATA), undefined, 'no data after: ENXIO');
  assert.equal(await seekDataHole(fn, size, 0, SEEK_HOLE), 10);
  assert.equal(await seekDataHole(fn, size, 12, SEEK_HOLE), 12);
  assert.equal(await seekDataHole(fn, size, 30, SEEK_HOLE), 40);
  assert.equal(await seekDataHole(fn, size, 50, SEEK_HOLE), undefined, 'at the end: ENXIO');
  assert.equal(await seekDataHole(fn, size, -1, SEEK_DATA), undefined);
  // A file with no zero run ends in the implicit hole at its size.
  const all = extentsOf([{ offset: 0, length: 8, zero: false }]);
  assert.equal(await seekDataHole(all.fn, 8, 3, SEEK_HOLE), 8);
});

test('seeking walks a huge number of extents a bounded step at a time', async () => {
  const runs: StreamExtent[] = [];
  for (let i = 0; i < 2000; i++) runs.push({ offset: i * 2, length: 1, zero: false }, { offset: i * 2 + 1, length: 1, zero: i !== 1999 });
  runs[runs.length - 1] = { offset: 3999, length: 1, zero: false };
  runs.push({ offset: 4000, length: 10, zero: true });
  // Merge neighbours of the same kind as StreamView does.
  const merged: StreamExtent[] = [];
  for (const r of runs) {
    const last = merged[merged.length - 1];
    if (last && last.zero === r.zero && last.offset + last.length === r.offset) last.length += r.length;
    else merged.push({ ...r });
  }
  const { fn, calls } = extentsOf(merged);
  assert.equal(await seekDataHole(fn, 4010, 3998, SEEK_HOLE), 4000);
  assert.equal(await seekDataHole(fn, 4010, 0, SEEK_HOLE), 1);
  calls.n = 0;
  assert.equal(await seekDataHole(fn, 4010, 1, SEEK_HOLE), 1);
  assert.ok(calls.n <= 1);
});

test('mountinfo lines: optional fields, octal escapes, malformed lines skipped', () => {
  const text = [
    '36 35 0:40 / /mnt/x rw,nosuid - fuse.hexz hexz:vm.hxz ro',
    '37 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext4 /dev/loop0 rw,errors=continue',
    'garbage line',
    '',
    '38 35 0:41 / /mnt/y rw - fuse.squashfuse',
  ].join('\n');
  assert.deepEqual(parseMountInfo(text), [
    { mountPoint: '/mnt/x', fsType: 'fuse.hexz', source: 'hexz:vm.hxz' },
    { mountPoint: '/mnt/with space', fsType: 'ext4', source: '/dev/loop0' },
  ]);
});

test('warmExports reads 4 KiB of each export\'s first data run once, and swallows failures', async () => {
  const { warmExports } = await import('../src/serve/latency-tuning.js');
  const reads: [string, number, number][] = [];
  const exportOf = (name: string, runs: StreamExtent[], fail = false) => ({
    name, description: name, size: 1 << 20, blockSize: 65536, archiveId: '00', etag: '"x"', modified: new Date(0),
    extents: extentsOf(runs).fn,
    read: async (offset: number, length: number) => {
      reads.push([name, offset, length]);
      if (fail) throw new Error('damaged block');
      return new Uint8Array(length);
    },
  });
  await warmExports([
    exportOf('disk', [{ offset: 0, length: 65536, zero: true }, { offset: 65536, length: 1000, zero: false }]),
    exportOf('memory', [{ offset: 0, length: 1 << 20, zero: true }]),
    exportOf('bad', [{ offset: 8192, length: 65536, zero: false }], true),
  ]);
  assert.deepEqual(reads, [['disk', 65536, 1000], ['bad', 8192, 4096]], 'the first data run, at most 4 KiB; an all-zero export is not read');
});
