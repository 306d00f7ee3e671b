/**
 * `hexz mount` / `hexz umount` end to end through the kernel's FUSE, as a user runs them: the
 * built CLI mounts in the background (or --foreground), real programs (cmp, dd, cp, python's
 * os.lseek, losetup + mount of the ext4 inside a GPT disk) read the files, and unmounting ends
 * the server. Needs root, /dev/fuse, fusermount3 (Debian fuse3) and the hexz-fuse addon
 * (libfuse3-dev at npm install): skipped with a message elsewhere, a failure with CI=true.
 * Every test unmounts what it mounted, even when it fails (a hung mount point under /tmp would
 * break other tests on the machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Archive } from '../src/index.ts';
import { assertBytes, assertOneErrorLine, HEXZ_BIN, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.js';

const MiB = 1 << 20;
const CI = process.env.CI === 'true';
const runs = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const addonBuilt = (() => {
  try {
    createRequire(import.meta.url)('hexz-fuse');
    return true;
  } catch {
    return false;
  }
})();

/** The `skip` option: false when FUSE mounts can run here, else why (with CI=true: a failing test). */
function fuseSkip(): string | false {
  const missing = [
    process.getuid?.() !== 0 && 'root',
    !existsSync('/dev/fuse') && '/dev/fuse',
    !runs('sh', ['-c', 'command -v fusermount3']) && 'fusermount3 (Debian fuse3)',
    !addonBuilt && 'the hexz-fuse addon (Debian libfuse3-dev, then npm rebuild hexz-fuse)',
  ].filter(Boolean);
  if (!missing.length) return false;
  const reason = `FUSE mount tests need ${missing.join(', ')}`;
  if (CI) test('FUSE mounts can run (required in CI)', () => assert.fail(reason));
  else console.log(`# ${reason}: skipped`);
  return reason;
}
const skip = fuseSkip();

/** Whether `dir` is a mount point now. */
function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

/** The pid of the hexz mount server serving `dir` (found by its command line; never killed by name). */
function serverPid(dir: string): number | undefined {
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const argv = (() => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      } catch {
        return [];
      }
    })();
    if (argv.includes('mount') && argv.includes(dir) && argv.some((a) => a.endsWith('hexz.js'))) return Number(p);
  }
  return undefined;
}

/** The fusermount3 auto_unmount watchdog of `dir`. */
function watchdogPid(dir: string): number | undefined {
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('fusermount3') && argv.includes(dir)) return Number(p);
    } catch { /* gone */ }
  }
  return undefined;
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unmounts whatever is left on `dir` (lazily), so a failing test leaves no mount behind. */
function forceUnmount(...dirs: string[]): void {
  for (const dir of dirs) {
    for (let i = 0; i < 3 && mounted(dir); i++) spawnSync('fusermount3', ['-uz', dir], { stdio: 'ignore' });
  }
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) assert.fail(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Runs a command asynchronously (for readers that must overlap); resolves to its stdout. */
function shAsync(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} ${args.join(' ')}: ${code} ${err}`))));
  });
}

function hexzOk(args: string[]): void {
  const r = runCli(args);
  assert.equal(r.status, 0, `hexz ${args.join(' ')}: ${r.stderr}`);
}

/** A 6 MiB disk with a 2 MiB zero hole at 2 MiB, a 1 MiB memory dump, packed with 64 KiB blocks. */
async function makeArchive(tmp: ReturnType<typeof tempDir>) {
  const disk = mixedData(6 * MiB, { seed: 21 });
  disk.fill(0, 2 * MiB, 4 * MiB);
  const memory = mixedData(MiB, { seed: 22 });
  writeData(tmp.path('disk.raw'), disk);
  writeData(tmp.path('mem.raw'), memory);
  const archive = tmp.path('vm.hxz');
  await packSmall({ disk: tmp.path('disk.raw'), memory: tmp.path('mem.raw'), output: archive, blockSize: 65536 });
  const a = await Archive.open(archive);
  const createdMs = a.header.createdMs;
  await a.close();
  const mnt = tmp.path('mnt');
  mkdirSync(mnt);
  return { disk, memory, archive, createdMs, mnt };
}

test('mount: files, sizes, mtime, cmp, 4 parallel readers, SEEK_DATA/SEEK_HOLE, sparse copies, read-only; umount ends the server', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const { disk, archive, createdMs, mnt } = await makeArchive(tmp);
  try {
    hexzOk(['mount', archive, mnt]);
    // It returned once mounted, and the server runs on in the background.
    assert.ok(mounted(mnt), 'mounted when hexz mount returned');
    const pid = serverPid(mnt);
    assert.ok(pid, 'a background server');
    assert.deepEqual(readdirSync(mnt).sort(), ['disk', 'memory']);
    for (const [name, size] of [['disk', 6 * MiB], ['memory', MiB]] as const) {
      const st = statSync(join(mnt, name));
      assert.ok(st.isFile());
      assert.equal(st.size, size, `${name} size`);
      assert.equal(st.mtimeMs, createdMs, `${name} mtime is the archive's creation time`);
      assert.equal(st.mode & 0o777, 0o444, `${name} is read-only`);
    }
    // Four readers at once, each its own 1.5 MiB range, first reads of this mount (nothing
    // cached yet): the server answers their requests concurrently.
    const parts = await Promise.all([0, 1, 2, 3].map((i) => shAsync('dd', [`if=${join(mnt, 'disk')}`, 'bs=256k', `iflag=skip_bytes,count_bytes`, `skip=${i * 1.5 * MiB}`, `count=${1.5 * MiB}`, 'status=none'])));
    parts.forEach((p, i) => assertBytes(p, disk.subarray(i * 1.5 * MiB, (i + 1) * 1.5 * MiB), `parallel reader ${i}`));
    sh('cmp', [join(mnt, 'disk'), tmp.path('disk.raw')]);
    sh('cmp', [join(mnt, 'memory'), tmp.path('mem.raw')]);

    // Holes: the zero blocks 2..4 MiB (and the all-zero 4 KiB pieces inside 64 KiB blocks are data).
    const seeks = sh('python3', ['-c', `
import os
fd = os.open(${JSON.stringify(join(mnt, 'disk'))}, os.O_RDONLY)
out = [os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, ${2 * MiB + 5}, os.SEEK_DATA), os.lseek(fd, ${4 * MiB}, os.SEEK_HOLE)]
try:
    os.lseek(fd, ${6 * MiB}, os.SEEK_DATA); out.append('no ENXIO')
except OSError as e:
    out.append(e.strerror)
print(out)`]);
    assert.equal(seeks.trim(), `[0, ${2 * MiB}, ${4 * MiB}, ${6 * MiB}, 'No such device or address']`);
    sh('cp', ['--sparse=always', join(mnt, 'disk'), tmp.path('cp.raw')]);
    sh('dd', [`if=${join(mnt, 'disk')}`, `of=${tmp.path('dd.raw')}`, 'bs=64k', 'conv=sparse', 'status=none']);
    for (const copy of ['cp.raw', 'dd.raw']) {
      sh('cmp', [tmp.path(copy), tmp.path('disk.raw')]);
      const allocated = statSync(tmp.path(copy)).blocks * 512;
      assert.ok(allocated <= 4 * MiB + 256 * 1024, `${copy} is sparse: ${allocated} bytes allocated for 6 MiB with a 2 MiB hole`);
    }

    // Read-only: opening for writing fails (EROFS from the ro mount).
    assert.throws(() => openSync(join(mnt, 'disk'), 'r+'), (e: NodeJS.ErrnoException) => e.code === 'EROFS' || e.code === 'EACCES');

    hexzOk(['umount', mnt]);
    assert.ok(!mounted(mnt), 'unmounted');
    await waitFor('the server to exit', () => !existsSync(`/proc/${pid}`));
  } finally {
    forceUnmount(mnt);
    tmp.cleanup();
  }
});

test('mount --overlay: dd writes land in the overlay, survive a remount, show in hexz overlay; --foreground exits 0 on umount and on SIGTERM', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const { disk, archive, mnt } = await makeArchive(tmp);
  const ovl = tmp.path('vm.ovl');
  const archiveBytes = readFileSync(archive);
  try {
    // --foreground: stays attached until `hexz umount`, then exits 0 with the overlay closed.
    const fg = spawn(process.execPath, [HEXZ_BIN, 'mount', archive, mnt, '--overlay', ovl, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    fg.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((r) => fg.on('close', (code) => r(code)));
    await waitFor('the foreground mount', () => stderr.includes('mounted'));
    assert.equal(statSync(join(mnt, 'disk')).mode & 0o777, 0o644);
    writeFileSync(tmp.path('patch'), Buffer.from('hexz was here'));
    sh('dd', [`if=${tmp.path('patch')}`, `of=${join(mnt, 'disk')}`, 'bs=1', `seek=${3 * MiB}`, 'conv=notrunc,fsync', 'status=none']);
    const expected = Buffer.from(disk);
    expected.write('hexz was here', 3 * MiB);
    writeData(tmp.path('expected.raw'), expected);
    sh('cmp', [join(mnt, 'disk'), tmp.path('expected.raw')]);
    // A disk does not grow: writing past its end fails like a full device.
    assert.throws(() => sh('dd', [`if=${tmp.path('patch')}`, `of=${join(mnt, 'disk')}`, 'bs=1', `seek=${6 * MiB}`, 'conv=notrunc', 'status=none']), /No space left/);
    hexzOk(['umount', mnt]);
    assert.equal(await exited, 0, `foreground server exit status: ${stderr}`);
    assert.ok(!mounted(mnt));

    // The write is in the overlay (not the archive), and seen again through a new mount.
    const report = JSON.parse(sh(process.execPath, [HEXZ_BIN, 'overlay', ovl, '--json'])) as { streams: { name: string; ranges: { offset: number; length: number }[] }[] };
    assert.deepEqual(report.streams.find((s) => s.name === 'disk')!.ranges.map((r) => [r.offset, r.length]), [[3 * MiB, 4096]]);
    assert.ok(readFileSync(archive).equals(archiveBytes), 'the archive is unchanged');
    hexzOk(['mount', archive, mnt, '--overlay', ovl]);
    sh('cmp', [join(mnt, 'disk'), tmp.path('expected.raw')]);
    hexzOk(['umount', mnt]);

    // SIGTERM unmounts and exits 0.
    const fg2 = spawn(process.execPath, [HEXZ_BIN, 'mount', archive, mnt, '--foreground'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr2 = '';
    fg2.stderr.setEncoding('utf8').on('data', (s: string) => (stderr2 += s));
    const exited2 = new Promise<number | null>((r) => fg2.on('close', (code) => r(code)));
    await waitFor('the foreground mount', () => stderr2.includes('mounted'));
    fg2.kill('SIGTERM');
    assert.equal(await exited2, 0, `exit status after SIGTERM: ${stderr2}`);
    assert.ok(!mounted(mnt), 'SIGTERM unmounted');
  } finally {
    forceUnmount(mnt);
    tmp.cleanup();
  }
});

test('mount: a server killed with -9 leaves no hung mount point (auto_unmount), and hexz umount cleans up a dead one', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const { archive, mnt } = await makeArchive(tmp);
  try {
    hexzOk(['mount', archive, mnt]);
    process.kill(serverPid(mnt)!, 'SIGKILL');
    // fusermount3's auto_unmount watchdog unmounts as soon as the server's /dev/fuse closes.
    await waitFor('auto_unmount after kill -9', () => !mounted(mnt));
    assert.deepEqual(readdirSync(mnt), []);

    // Server and watchdog both killed (say, by the OOM killer): the mount point is dead.
    hexzOk(['mount', archive, mnt]);
    const server = serverPid(mnt)!;
    process.kill(watchdogPid(mnt)!, 'SIGKILL');
    process.kill(server, 'SIGKILL');
    await waitFor('the server to die', () => !existsSync(`/proc/${server}`));
    assert.throws(() => readdirSync(mnt), (e: NodeJS.ErrnoException) => e.code === 'ENOTCONN', 'a dead FUSE mount answers ENOTCONN');
    const r = runCli(['umount', mnt]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /server had died/);
    assert.ok(!mounted(mnt), 'hexz umount removed the dead mount');
    assert.deepEqual(readdirSync(mnt), []);
  } finally {
    forceUnmount(mnt);
    tmp.cleanup();
  }
});

test('mount: errors before the mount is ready are one line from hexz mount, non-zero', { skip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const { archive, mnt } = await makeArchive(tmp);
  try {
    writeFileSync(tmp.path('bad.hxz'), 'not an archive');
    for (const [args, status] of [
      [['mount', tmp.path('missing.hxz'), mnt], 6],
      [['mount', tmp.path('bad.hxz'), mnt], 3],
      [['mount', archive, tmp.path('nodir')], 2],
      [['umount', mnt], 2],
    ] as const) {
      const r = runCli([...args]);
      assert.equal(r.status, status, `hexz ${args.join(' ')}: ${r.stderr}`);
      assertOneErrorLine(r.stderr, `hexz ${args.join(' ')}`);
      assert.ok(!mounted(mnt));
    }
  } finally {
    forceUnmount(mnt);
    tmp.cleanup();
  }
});

// The real use: the ext4 file system inside a GPT disk, through a read-only loop device.
const loopSkip = skip || (() => {
  const missing = ['losetup', 'sgdisk', 'mkfs.ext4'].filter((t) => !runs('sh', ['-c', `command -v ${t}`]));
  if (missing.length) return `${missing.join(', ')} not installed (Debian mount, gdisk, e2fsprogs)`;
  if (!existsSync('/dev/loop-control')) return 'the kernel has no loop devices (/dev/loop-control missing)';
  return false;
})();
if (loopSkip && !skip) console.log(`# ${loopSkip}: loop-mount test skipped`);

test('mount: losetup + mount -o ro of the ext4 partition of a GPT disk inside the archive shows the source tree', { skip: loopSkip, timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const mnt = tmp.path('mnt');
  const fsDir = tmp.path('fs');
  let loop: string | undefined;
  try {
    const src = tmp.path('src');
    mkdirSync(join(src, 'etc'), { recursive: true });
    writeFileSync(join(src, 'etc', 'hostname'), 'hexz-test\n');
    writeFileSync(join(src, 'big.bin'), mixedData(3 * MiB + 123, { seed: 31 }));
    writeFileSync(join(src, 'empty'), '');
    const img = tmp.path('gpt.img');
    // A 24 MiB GPT disk with one partition from 1 MiB; ext4 written into it at that offset by
    // mkfs.ext4 -d (no root tools, no loop device needed to make it).
    writeFileSync(img, '');
    sh('truncate', ['-s', '24M', img]);
    sh('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', img]);
    sh('mkfs.ext4', ['-q', '-F', '-d', src, '-E', 'offset=1048576', img, '22M']);
    await packSmall({ disk: img, output: tmp.path('gpt.hxz'), blockSize: 65536 });
    mkdirSync(mnt);
    mkdirSync(fsDir);
    hexzOk(['mount', tmp.path('gpt.hxz'), mnt]);
    const attach = spawnSync('losetup', ['-r', '--find', '--show', '-o', '1048576', join(mnt, 'disk')], { encoding: 'utf8' });
    if (attach.status !== 0) assert.fail(`losetup of the mounted disk failed (loop devices unusable here?): ${attach.stderr}`);
    loop = attach.stdout.trim();
    sh('mount', ['-o', 'ro', '-t', 'ext4', loop, fsDir]);
    try {
      assert.equal(readFileSync(join(fsDir, 'etc', 'hostname'), 'utf8'), 'hexz-test\n');
      assertBytes(readFileSync(join(fsDir, 'big.bin')), readFileSync(join(src, 'big.bin')), 'big.bin through FUSE + loop + ext4');
      assert.equal(statSync(join(fsDir, 'empty')).size, 0);
    } finally {
      sh('umount', [fsDir]);
    }
  } finally {
    if (mounted(fsDir)) spawnSync('umount', ['-l', fsDir]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    if (mounted(mnt)) hexzOk(['umount', mnt]);
    forceUnmount(mnt);
    tmp.cleanup();
  }
});
