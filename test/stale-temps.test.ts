/**
 * Temporary names carry the writer's pid, and removeStaleTemps removes exactly the leftovers of
 * dead writers of one output: not live writers', not this process's, not other outputs'.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { processAlive, removeStaleTemps } from '../src/store/stale-temps.ts';
import { tempOwnerPid, tempPathFor } from '../src/store/temp-path.ts';
import { listDir, tempDir } from './helpers.ts';

const tmp = tempDir('hexz-stale-');
after(() => tmp.cleanup());

describe('temporary names', () => {
  test('tempPathFor: a hidden sibling naming the output and the pid', () => {
    const t = tempPathFor(tmp.path('vm.hxz'), 4242);
    assert.match(basename(t), /^\.vm\.hxz\.hexz-tmp-4242-[0-9a-f]{12}$/);
    assert.equal(tempOwnerPid(tmp.path('vm.hxz'), basename(t)), 4242);
    assert.equal(tempOwnerPid(tmp.path('vm.hxz'), `${basename(t)}.index`), 4242, 'side file of the writer');
    assert.match(basename(tempPathFor(tmp.path('vm.hxz'))), new RegExp(`-${process.pid}-`));
  });

  test('tempOwnerPid: only temporary files of that output', () => {
    const out = tmp.path('vm.hxz');
    for (const name of [
      'vm.hxz', '.vm.hxz', '.vm.hxz.hexz-tmp-', '.vm.hxz.hexz-tmp-12-abc', '.vm.hxz.hexz-tmp-0123456789ab', // older names had no pid
      '.vm.hxz.bak.hexz-tmp-12-0123456789ab', '.vm.hxz.hexz-tmp-12-0123456789ab.', '.vm.hxz.hexz-tmp-12-0123456789ab/x',
      '.vm.hxz.hexz-tmp-012-0123456789ab', '.vm.hxz.hexz-tmp-12-0123456789AB',
    ]) assert.equal(tempOwnerPid(out, name), undefined, name);
    assert.equal(tempOwnerPid(tmp.path('vm'), '.vm.hxz.hexz-tmp-12-0123456789ab'), undefined, 'an output whose name is a prefix');
  });
});

describe('removeStaleTemps', () => {
  test('removes dead writers\' files of the output and nothing else', async () => {
    const out = tmp.path('disk.raw');
    const dead = [tempPathFor(out, 111), `${tempPathFor(out, 222)}.index`];
    const live = tempPathFor(out, 333);
    const mine = tempPathFor(out);
    const other = tempPathFor(tmp.path('other.raw'), 111);
    const unrelated = tmp.path('.disk.raw.hexz-tmp-0123456789ab');
    for (const f of [...dead, live, mine, other, unrelated]) writeFileSync(f, 'x');
    const asked: number[] = [];
    const removed = await removeStaleTemps(out, (pid) => {
      asked.push(pid);
      return pid === 333;
    });
    assert.deepEqual(removed.sort(), dead.sort());
    assert.deepEqual(listDir(tmp.dir), [live, mine, other, unrelated].map((f) => basename(f)).sort());
    assert.ok(!asked.includes(process.pid), 'this process is never asked about: its files are live');
  });

  test('a directory that cannot be listed is not an error', async () => {
    assert.deepEqual(await removeStaleTemps(tmp.path('missing/dir/out.hxz')), []);
  });

  test('processAlive: this process yes, an unused pid no', () => {
    assert.equal(processAlive(process.pid), true);
    assert.equal(processAlive(2 ** 22 + 12345), false); // above Linux's pid_max limit
  });
});
