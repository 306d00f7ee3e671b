/**
 * `kill -9` in the middle of every command that writes a file — pack (fresh output, and over an
 * existing one with -f), extract (over an existing file with -f), sign, passwd, flatten — leaves
 * the old file (if any) byte-identical and nothing at the output path, only a temporary file
 * named for the output and the killed pid; the next run of the same command removes it and
 * writes the right output. Runs the built CLI (`npm test` builds dist/ first).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, ftruncateSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { Archive } from '../src/index.ts';
import { tempOwnerPid } from '../src/store/temp-path.ts';
import { HEXZ_BIN, assertBytes, assertNoNodeWarning, randomData, runCli, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const tmp = tempDir('hexz-crash-');
after(() => tmp.cleanup());
const p = tmp.path;
const PASSWORD = 'crash test';
const NEW_PASSWORD = 'after the crash';
/** The CLI's environment: passwords from files only, no parent search path, no debug output. */
const ENV = { HEXZ_PASSWORD: undefined, HEXZ_NEW_PASSWORD: undefined, HEXZ_PATH: undefined, HEXZ_DEBUG: undefined };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A 128 MiB sparse disk holding 48 MiB of random data (3 MiB every 8 MiB): big enough that
 * writing and syncing any output of it takes a while, cheap to make.
 */
function writeSparseDisk(path: string, seed: number): Uint8Array {
  const disk = new Uint8Array(128 * MiB);
  for (let at = 0, k = 0; at < disk.length; at += 8 * MiB, k++) disk.set(randomData(3 * MiB, seed + k), at + MiB);
  const fd = openSync(path, 'w');
  try {
    for (let at = 0; at < disk.length; at += 8 * MiB) writeSync(fd, disk, at + MiB, 3 * MiB, at + MiB);
    ftruncateSync(fd, disk.length); // the file ends in a hole
  } finally {
    closeSync(fd);
  }
  return disk;
}

/** Runs the CLI and fails with its stderr unless it exits 0. */
function hexz(args: string[], input?: Uint8Array) {
  const r = runCli(args, { input, env: ENV });
  assert.equal(r.status, 0, `hexz ${args.join(' ')} exited ${r.status} (signal ${r.signal}); stderr:\n${r.stderr}`);
  return r;
}

/** The temporary files of `target` in its directory, with the pid of the writer that made each. */
function tempsOf(target: string): { name: string; pid: number }[] {
  return readdirSync(dirname(target)).flatMap((name) => {
    const pid = tempOwnerPid(target, name);
    return pid === undefined ? [] : [{ name, pid }];
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1; // gone between listing and stat
  }
}

/** Writes `data` to the child's stdin a slice at a time, slowly, and never ends it. */
async function feedSlowly(stdin: Writable, data: Uint8Array, stop: () => boolean): Promise<void> {
  stdin.on('error', () => {}); // EPIPE once the child is killed
  for (let at = 0; at < data.length && !stop(); at += 256 * 1024) {
    stdin.write(data.subarray(at, at + 256 * 1024));
    await sleep(10);
  }
}

/**
 * Spawns `hexz ...args` and sends SIGKILL as soon as its temporary file for `target` holds at
 * least `minBytes`. Resolves to whether it died of the kill (rather than finishing first), its
 * pid and stderr.
 */
async function killWhileWriting(args: string[], target: string, options: { minBytes: number; slowInput?: Uint8Array }): Promise<{ killed: boolean; pid: number; stderr: string }> {
  const child = spawn(process.execPath, [HEXZ_BIN, ...args], { stdio: [options.slowInput ? 'pipe' : 'ignore', 'ignore', 'pipe'], env: { ...process.env, ...ENV } });
  const pid = child.pid!;
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((res) => child.on('exit', (code, signal) => { exit = { code, signal }; res(); }));
  if (options.slowInput) void feedSlowly(child.stdin!, options.slowInput, () => exit !== undefined);
  const deadline = Date.now() + 60_000;
  while (!exit && Date.now() < deadline) {
    const own = tempsOf(target).find((t) => t.pid === pid && !t.name.endsWith('.index'));
    if (own && sizeOf(join(dirname(target), own.name)) >= options.minBytes) {
      child.kill('SIGKILL');
      break;
    }
    await sleep(1);
  }
  if (!exit && Date.now() >= deadline) child.kill('SIGKILL');
  await exited;
  assertNoNodeWarning(stderr, `hexz ${args.join(' ')}`);
  return { killed: exit!.signal === 'SIGKILL', pid, stderr };
}

/**
 * Kills `hexz ...args` while it writes `target`, checks the old `target` (or its absence) and
 * the stale temporary file, then runs the same command again and checks that the temporary
 * file is gone. A run that finished before the kill landed is undone and tried again.
 */
async function crashThenRerun(what: string, args: string[], target: string, options: { minBytes?: number; slowInput?: Uint8Array; rerunInput?: Uint8Array } = {}): Promise<void> {
  const before = existsSync(target) ? readFileSync(target) : undefined;
  const restore = () => (before ? writeFileSync(target, before) : rmSync(target, { force: true }));
  let stale: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const r = await killWhileWriting(args, target, { minBytes: options.minBytes ?? MiB, slowInput: options.slowInput });
    stale = tempsOf(target).filter((t) => t.pid === r.pid).map((t) => t.name);
    if (r.killed && stale.length > 0) break;
    // Too fast for the kill: it finished (or was past its rename). Undo and try again.
    assert.ok(attempt < 3, `${what}: finished before it could be killed mid-way in ${attempt} attempts (stderr: ${r.stderr})`);
    for (const t of stale) rmSync(join(dirname(target), t), { force: true });
    restore();
  }
  if (before) assert.ok(readFileSync(target).equals(before), `${what}: ${target} changed although the command was killed`);
  else assert.equal(existsSync(target), false, `${what}: a killed run left ${target}`);
  const rerun = hexz(args, options.rerunInput);
  assert.equal(rerun.stderr, '', `${what}: rerun stderr`);
  assert.deepEqual(tempsOf(target), [], `${what}: the rerun left stale temporary files (killed run's: ${stale.join(', ')})`);
}

async function assertArchiveHolds(path: string, expected: Uint8Array, options: { password?: string } = {}): Promise<void> {
  const a = await Archive.open(path, { password: options.password });
  try {
    assertBytes(await a.readAt('disk', 0, a.size('disk')), expected, path);
  } finally {
    await a.close();
  }
}

describe('kill -9 mid-way, then the same command again', () => {
  let disk: Uint8Array;
  let child: Uint8Array;
  const raw = p('disk.raw');
  const plain = p('plain.hxz');
  const encrypted = p('encrypted.hxz');
  const thin = p('thin.hxz');
  const pw = p('pw.txt');
  const newPw = p('new-pw.txt');

  before(() => {
    disk = writeSparseDisk(raw, 100);
    writeFileSync(pw, `${PASSWORD}\n`);
    writeFileSync(newPw, `${NEW_PASSWORD}\n`);
    // Stored uncompressed so every command's output is as big as the data (slow enough to kill).
    hexz(['pack', '--disk', raw, '-o', plain, '--compression', 'none', '--block-size', '1M', '--silent']);
    hexz(['pack', '--disk', raw, '-o', encrypted, '--compression', 'none', '--block-size', '1M', '--encrypt', '--password-file', pw, '--kdf-memory', '256K', '--silent']);
    // A thin child of `plain`: the same disk with its first data run changed.
    child = disk.slice();
    child.set(randomData(3 * MiB, 999), MiB);
    const childRaw = p('child.raw');
    copyFileSync(raw, childRaw);
    const fd = openSync(childRaw, 'r+');
    try {
      writeSync(fd, child, MiB, 3 * MiB, MiB);
    } finally {
      closeSync(fd);
    }
    hexz(['pack', '--disk', childRaw, '--parent', plain, '-o', thin, '--silent']);
  });

  test('pack from a slow stdin: no output, then a clean rerun', async () => {
    const input = randomData(24 * MiB, 7);
    const out = p('stdin.hxz');
    await crashThenRerun('pack', ['pack', '--disk', '-', '-o', out, '--workers', '1', '--silent'], out, { slowInput: input, rerunInput: input, minBytes: 1 });
    await assertArchiveHolds(out, input);
  });

  test('pack -f over an existing archive: the old archive survives byte for byte', async () => {
    const out = p('replaced.hxz');
    copyFileSync(plain, out);
    await crashThenRerun('pack -f', ['pack', '--disk', raw, '-o', out, '-f', '--compression', 'none', '--block-size', '64K', '--silent'], out);
    await assertArchiveHolds(out, disk);
    const a = await Archive.open(out);
    assert.equal(a.info.blockSize, 64 * 1024, 'the rerun wrote the new archive');
    await a.close();
  });

  test('extract -f over an existing file: the old file survives', async () => {
    const out = p('extracted.raw');
    writeFileSync(out, 'an older extraction\n');
    await crashThenRerun('extract -f', ['extract', plain, '-o', out, '-f', '--silent'], out);
    assertBytes(readFileSync(out), disk, 'extracted disk');
  });

  test('sign: the archive survives unchanged; the rerun signs it', async () => {
    const target = p('to-sign.hxz');
    copyFileSync(plain, target);
    hexz(['keygen', '-o', p('release')]);
    await crashThenRerun('sign', ['sign', target, '--key', p('release.key')], target);
    hexz(['verify', target, '--pubkey', p('release.pub'), '--signature-only']);
  });

  test('passwd: the archive keeps its old password; the rerun changes it', async () => {
    const target = p('to-rekey.hxz');
    copyFileSync(encrypted, target);
    await crashThenRerun('passwd', ['passwd', target, '--password-file', pw, '--new-password-file', newPw, '--silent'], target);
    await assertArchiveHolds(target, disk, { password: NEW_PASSWORD });
    await assert.rejects(Archive.open(target, { password: PASSWORD }));
  });

  test('flatten: no output, then a standalone archive', async () => {
    const out = p('flat.hxz');
    await crashThenRerun('flatten', ['flatten', thin, '-o', out, '--workers', '1', '--silent'], out);
    const a = await Archive.open(out);
    try {
      assert.equal(a.parentRecords.length, 0, 'flattened archive has no parents');
    } finally {
      await a.close();
    }
    await assertArchiveHolds(out, child);
  });
});
