/**
 * A pack and an extract into a nearly full file system (a small tmpfs) end with a StoreError
 * saying "no space left on device" and naming the output, exit 6 with one line on stderr, and
 * leave nothing behind: no output, no temporary file. Mounting needs root; without it (or
 * without tmpfs) the tests skip, except under CI=true, where they fail.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Archive, StoreError, extract, pack } from '../src/index.ts';
import { assertOneErrorLine, listDir, randomData, runCli, tempDir, writeData } from './helpers.ts';

const MiB = 1024 * 1024;
const tmp = tempDir('hexz-full-');
const mnt = tmp.path('small');
/** Why the tmpfs could not be mounted; undefined once it is. */
let unavailable: string | undefined = 'not tried';

before(() => {
  mkdirSync(mnt);
  if (process.getuid?.() !== 0) {
    unavailable = 'mounting a tmpfs needs root';
    return;
  }
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { encoding: 'utf8' });
  unavailable = r.status === 0 ? undefined : `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
});

after(() => {
  if (unavailable === undefined) {
    const r = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (r.status !== 0) spawnSync('umount', ['-l', mnt]); // lazily, if something still holds it
  }
  tmp.cleanup();
});

/** Skips the test when there is no small file system (fails instead under CI). */
function needsTmpfs(t: TestContext): boolean {
  if (unavailable === undefined) return true;
  if (process.env.CI === 'true') throw new Error(`CI: ${unavailable}`);
  t.skip(unavailable);
  return false;
}

/** Fills the small file system up to its last MiB, so any real output overflows it. */
function fillUp(): void {
  writeFileSync(`${mnt}/filler`, new Uint8Array(7 * MiB));
}

const input = randomData(16 * MiB, 31); // incompressible: its archive cannot fit either
const raw = writeData(tmp.path('input.raw'), input);
const archive = tmp.path('input.hxz');

describe('a nearly full file system', () => {
  before(async () => {
    await pack({ disk: raw, output: archive, workers: 1 });
  });

  test('pack: StoreError "no space left on device" naming the output, nothing left', async (t) => {
    if (!needsTmpfs(t)) return;
    fillUp();
    const out = `${mnt}/out.hxz`;
    await assert.rejects(pack({ disk: raw, output: out, workers: 1 }), (e: unknown) => {
      assert.ok(e instanceof StoreError, String(e));
      assert.match(e.message, /no space left on device/);
      assert.ok(e.message.includes(out), `message names the output: ${e.message}`);
      return true;
    });
    assert.deepEqual(listDir(mnt), ['filler']);
  });

  test('hexz pack: exit 6, one line naming the output, nothing left', (t) => {
    if (!needsTmpfs(t)) return;
    fillUp();
    const out = `${mnt}/cli.hxz`;
    const r = runCli(['pack', '--disk', raw, '-o', out, '--silent']);
    assert.equal(r.status, 6, r.stderr);
    assertOneErrorLine(r.stderr, 'pack into a full file system');
    assert.match(r.stderr, new RegExp(`^hexz: ${out}: .*no space left on device\\n$`));
    assert.deepEqual(listDir(mnt), ['filler']);
  });

  test('extract: StoreError naming the output, nothing left', async (t) => {
    if (!needsTmpfs(t)) return;
    fillUp();
    const out = `${mnt}/out.raw`;
    await assert.rejects(extract(archive, { output: out }), (e: unknown) => {
      assert.ok(e instanceof StoreError, String(e));
      assert.match(e.message, /no space left on device/);
      assert.ok(e.message.includes(out), `message names the output: ${e.message}`);
      return true;
    });
    assert.deepEqual(listDir(mnt), ['filler']);
  });

  test('hexz extract: exit 6, one line naming the output, nothing left', (t) => {
    if (!needsTmpfs(t)) return;
    fillUp();
    const out = `${mnt}/cli.raw`;
    const r = runCli(['extract', archive, '-o', out, '--silent']);
    assert.equal(r.status, 6, r.stderr);
    assertOneErrorLine(r.stderr, 'extract into a full file system');
    assert.match(r.stderr, new RegExp(`^hexz: ${out}: .*no space left on device\\n$`));
    assert.deepEqual(listDir(mnt), ['filler']);
  });

  test('with the space back, a pack that fits succeeds', async (t) => {
    if (!needsTmpfs(t)) return;
    writeFileSync(`${mnt}/filler`, '');
    const small = writeData(tmp.path('small.raw'), input.subarray(0, 4 * MiB));
    const out = `${mnt}/out.hxz`;
    await pack({ disk: small, output: out, workers: 1 });
    const a = await Archive.open(out);
    try {
      assert.equal(a.size('disk'), 4 * MiB);
    } finally {
      await a.close();
    }
  });
});
