/**
 * Hostile input (issue 10): a FIFO, a character device or a directory where hexz expects an
 * archive, a parent archive, a qcow2 backing file or an input image must never block — each gives
 * one clear error line and a non-zero exit quickly; and SIGTERM/SIGINT end any command promptly
 * whatever it waits on, leaving no output behind. Runs the built CLI (npm test builds dist/);
 * every child has a spawn timeout, so a hang fails its test instead of hanging the suite.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { encodeQcow2Header } from '../src/image/qcow2-layout.ts';
import { HEXZ_BIN, assertBytes, assertOneErrorLine, listDir, mixedData, randomData, tempDir, writeData } from './helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** A command that hangs fails its test after this long instead of hanging the suite. */
const HANG_MS = 10_000;

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string; ms: number }

/**
 * Spawns `node ...args` (the CLI unless `args` say otherwise), killing it with SIGKILL after
 * HANG_MS; `started` is called once it runs (to signal it, feed it, ...). stdout is collected
 * unless `stalledStdout`, which leaves the pipe unread so writes to it block.
 */
function spawnNode(args: string[], options: { cwd?: string; input?: Uint8Array; stalledStdout?: boolean; started?: (child: ChildProcess) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const env = { ...process.env };
    delete env.HEXZ_DEBUG;
    const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    if (!options.stalledStdout) child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    const killer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(killer);
      child.stdout.destroy();
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: err, ms: performance.now() - t0 });
    });
    options.started?.(child);
  });
}

const hexz = (args: string[], options: Parameters<typeof spawnNode>[1] = {}) => spawnNode([HEXZ_BIN, ...args], options);

/** Asserts a prompt, clean refusal: exit `code`, one `hexz: ` line matching `pattern`. */
function assertRefused(r: Run, code: number, pattern: RegExp, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} after ${Math.round(r.ms)} ms (it hung)`);
  assert.equal(r.status, code, `${what}: exit ${r.status}, stderr: ${r.stderr}`);
  assertOneErrorLine(r.stderr, what);
  assert.match(r.stderr, pattern, what);
}

const mkfifo = (path: string) => execFileSync('mkfifo', [path]);

/** Resolves once `dir` holds a file whose name matches `re` (polling), or rejects after `ms`. */
async function waitForFile(dir: string, re: RegExp, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (listDir(dir).some((n) => re.test(n))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no file matching ${re} appeared in ${dir}: ${listDir(dir).join(', ')}`);
}

describe('special files are refused, never blocked on', () => {
  const tmp = tempDir('hexz-special-');
  const p = tmp.path;
  const disk = mixedData(1 << 20, { seed: 21 });
  const child = Uint8Array.from(disk);
  child.fill(0x5c, 300_000, 310_000);

  before(async () => {
    writeData(p('disk.raw'), disk);
    writeData(p('child.raw'), child);
    for (const [args, what] of [
      [['pack', '--disk', p('disk.raw'), '-o', p('parent.hxz'), '--silent'], 'pack parent'],
      [['pack', '--disk', p('child.raw'), '--parent', p('parent.hxz'), '-o', p('child.hxz'), '--silent'], 'pack thin child'],
    ] as const) {
      const r = await hexz([...args]);
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    }
    mkfifo(p('fifo.hxz'));
    mkdirSync(p('adir.hxz'));
  });
  after(() => tmp.cleanup());

  test('a FIFO as the archive of inspect, cat and verify', async () => {
    for (const cmd of ['inspect', 'cat', 'verify']) {
      const r = await hexz([cmd, p('fifo.hxz')]);
      assertRefused(r, 6, /fifo\.hxz is a FIFO, not a regular file or block device/, `${cmd} on a FIFO`);
    }
  });

  test('/dev/zero and a directory as the archive', async () => {
    assertRefused(await hexz(['inspect', '/dev/zero']), 6, /\/dev\/zero is a character device, not a regular file or block device/, 'inspect /dev/zero');
    assertRefused(await hexz(['cat', '/dev/zero']), 6, /character device/, 'cat /dev/zero');
    assertRefused(await hexz(['inspect', p('adir.hxz')]), 6, /adir\.hxz is a directory/, 'inspect a directory');
    assertRefused(await hexz(['verify', p('adir.hxz')]), 6, /adir\.hxz is a directory/, 'verify a directory');
  });

  test('a FIFO at the parent path of a thin archive, and in a --parent-dir', async () => {
    renameSync(p('parent.hxz'), p('parent.moved'));
    mkfifo(p('parent.hxz'));
    try {
      for (const cmd of ['cat', 'verify']) {
        const r = await hexz([cmd, p('child.hxz')]);
        assertRefused(r, 8, /parent\.hxz is a FIFO, not a regular file or block device/, `${cmd} with a FIFO parent`);
      }
      // inspect reports the parent's state without needing it; it must not block either.
      const ins = await hexz(['inspect', p('child.hxz')]);
      assert.equal(ins.signal, null, 'inspect with a FIFO parent hung');
      assert.equal(ins.status, 0, ins.stderr);

      // A search directory holding FIFOs under the parent's name and under another *.hxz name
      // (the archive-id scan opens every *.hxz): both are skipped without being opened.
      const pd = p('pd');
      mkdirSync(pd);
      mkfifo(`${pd}/parent.hxz`);
      mkfifo(`${pd}/other.hxz`);
      rmSync(p('parent.hxz'));
      const r = await hexz(['cat', p('child.hxz'), '--parent-dir', pd]);
      assertRefused(r, 8, /pd\/parent\.hxz is a FIFO/, 'cat with FIFOs in --parent-dir');
      // The real parent under another name in the same directory is still found by its id.
      renameSync(p('parent.moved'), `${pd}/renamed.hxz`);
      const ok = await hexz(['cat', p('child.hxz'), '--parent-dir', pd]);
      assert.equal(ok.status, 0, ok.stderr);
      assertBytes(ok.stdout, child, 'child read through the parent found by id');
      renameSync(`${pd}/renamed.hxz`, p('parent.moved'));
    } finally {
      rmSync(p('parent.hxz'), { force: true });
      if (existsSync(p('parent.moved'))) renameSync(p('parent.moved'), p('parent.hxz'));
    }
  });

  test('a FIFO as a qcow2 backing file (header crafted by hand, no qemu needed)', async () => {
    // A v3 image of 64 KiB clusters, nothing allocated, backing file name 'backing.fifo' (raw).
    const img = new Uint8Array(3 * 65536);
    img.set(encodeQcow2Header({ clusterBits: 16, size: 1 << 20, l1Size: 1, l1TableOffset: 65536, refcountTableOffset: 2 * 65536, refcountTableClusters: 1, compression: 'zlib' }));
    const name = new TextEncoder().encode('backing.fifo');
    const dv = new DataView(img.buffer);
    dv.setBigUint64(8, 512n); // backing_file_offset
    dv.setUint32(16, name.length); // backing_file_size
    img.set(name, 512);
    writeFileSync(p('over.qcow2'), img);
    mkfifo(p('backing.fifo'));
    const r = await hexz(['pack', '--disk', p('over.qcow2'), '-o', p('over.hxz')]);
    assertRefused(r, 6, /over\.qcow2: backing file 'backing\.fifo' is a FIFO, not a regular file or block device/, 'qcow2 over a FIFO');
    assert.ok(!existsSync(p('over.hxz')));
    // With a regular backing file in its place the same image packs.
    rmSync(p('backing.fifo'));
    writeData(p('backing.fifo'), disk);
    const ok = await hexz(['pack', '--disk', p('over.qcow2'), '-o', p('over.hxz'), '--silent']);
    assert.equal(ok.status, 0, ok.stderr);
  });

  test('pack: /dev/zero and a directory are refused; a FIFO as qcow2 is a usage error', async () => {
    assertRefused(await hexz(['pack', '--disk', '/dev/zero', '-o', p('z.hxz')]), 6, /\/dev\/zero is a character device/, 'pack /dev/zero');
    assertRefused(await hexz(['pack', '--memory', p('adir.hxz'), '-o', p('z.hxz')]), 6, /is a directory/, 'pack a directory');
    assertRefused(await hexz(['pack', '--disk', p('fifo.hxz'), '--disk-format', 'qcow2', '-o', p('z.hxz')]), 2, /a qcow2 disk cannot be read from a pipe/, 'pack a FIFO as qcow2');
    assert.ok(!existsSync(p('z.hxz')));
  });

  test('pack: an explicitly named pipe is a stream input (a FIFO, /dev/stdin on a pipe)', async () => {
    const data = randomData(700_000, 8);
    mkfifo(p('in.fifo'));
    const writer = spawn('sh', ['-c', `cat > '${p('in.fifo')}'`], { stdio: ['pipe', 'ignore', 'ignore'] });
    writer.stdin.on('error', () => {}); // reported by the assertions below if it matters
    writer.stdin.end(data);
    const r = await hexz(['pack', '--disk', p('in.fifo'), '-o', p('fifo-in.hxz'), '--silent']);
    assert.equal(r.status, 0, r.stderr);
    const back = await hexz(['cat', p('fifo-in.hxz')]);
    assertBytes(back.stdout, data, 'packed from a FIFO');
    // Through a shell pipe: Node's own stdio 'pipe' is a socketpair, which /dev/stdin cannot reopen.
    writeData(p('in.raw'), data);
    execFileSync('sh', ['-c', `cat '${p('in.raw')}' | '${process.execPath}' '${HEXZ_BIN}' pack --disk /dev/stdin -o '${p('stdin-in.hxz')}' --silent`], { timeout: HANG_MS });
    assertBytes((await hexz(['cat', p('stdin-in.hxz')])).stdout, data, 'packed from /dev/stdin');
  });
});

describe('SIGTERM and SIGINT end every command promptly', () => {
  const tmp = tempDir('hexz-signal-');
  const p = tmp.path;
  after(() => tmp.cleanup());

  test('pack from a stalled FIFO: SIGTERM exits 143 within 3 s, no output and no temp file', async () => {
    const dir = p('stall');
    mkdirSync(dir);
    mkfifo(`${dir}/in.fifo`);
    // The writer sends some data, then holds the pipe open without writing: pack waits on it.
    const writer = spawn('sh', ['-c', `exec 3>'${dir}/in.fifo'; head -c 300000 /dev/urandom >&3; exec sleep 30`], { stdio: 'ignore' });
    try {
      let sent = 0;
      const r = await hexz(['pack', '--disk', `${dir}/in.fifo`, '-o', `${dir}/out.hxz`, '--silent'], {
        started: (c) => void waitForFile(dir, /^\.out\.hxz\./).then(() => { sent = performance.now(); c.kill('SIGTERM'); }, () => c.kill('SIGKILL')),
      });
      assert.equal(r.signal, null, `pack was killed by ${r.signal}: it did not exit on SIGTERM`);
      assert.equal(r.status, 143, r.stderr);
      assert.ok(performance.now() - sent < 3000, `exited ${Math.round(performance.now() - sent)} ms after SIGTERM`);
      assert.deepEqual(listDir(dir), ['in.fifo'], 'nothing at the output path and no temp file');
    } finally {
      writer.kill('SIGKILL');
    }
  });

  test('cat into a stdout nobody reads: SIGINT exits 130 within the grace period', async () => {
    // A write that never drains is something abort cannot interrupt: only the grace exit ends it.
    writeData(p('big.raw'), randomData(4 << 20, 5));
    const packed = await hexz(['pack', '--disk', p('big.raw'), '-o', p('big.hxz'), '--silent']);
    assert.equal(packed.status, 0, packed.stderr);
    let sent = 0;
    const r = await hexz(['cat', p('big.hxz')], {
      stalledStdout: true,
      // Once cat has written (so it is running, handlers installed) and the pipe has filled.
      started: (c) => void c.stdout!.once('readable', () => setTimeout(() => { sent = performance.now(); c.kill('SIGINT'); }, 500)),
    });
    assert.equal(r.signal, null, `cat was killed by ${r.signal}`);
    assert.equal(r.status, 130, r.stderr);
    assert.ok(performance.now() - sent < 3500, `exited ${Math.round(performance.now() - sent)} ms after SIGINT`);
    assertOneErrorLine(r.stderr, 'cat interrupted');
  });

  test('a stuck command: the grace exit removes registered temp files and exits 143', async () => {
    // The registry is what AtomicFile-style writers use so a forced exit can still clean up.
    const temp = p('.out.hxz.hexz-tmp-test');
    const script = `
      import { writeFileSync } from 'node:fs';
      import { installShutdown } from './src/cli/shutdown.ts';
      import { liveTempFiles } from './src/store/live-temp-files.ts';
      installShutdown();
      writeFileSync(${JSON.stringify(temp)}, 'partial');
      liveTempFiles.add(${JSON.stringify(temp)});
      setInterval(() => {}, 1000); // stuck: never looks at the signal
      process.stdout.write('ready\\n');`;
    let sent = 0;
    const r = await spawnNode(['--import', 'tsx', '--input-type=module', '-e', script], {
      started: (c) => c.stdout!.once('data', () => { sent = performance.now(); c.kill('SIGTERM'); }),
    });
    assert.equal(r.signal, null, `killed by ${r.signal}: the grace exit did not fire`);
    assert.equal(r.status, 143, r.stderr);
    const after = performance.now() - sent;
    assert.ok(after >= 1500 && after < 3500, `exited ${Math.round(after)} ms after SIGTERM (grace is 2 s)`);
    assert.ok(!existsSync(temp), 'registered temp file removed');
    assert.match(r.stderr, /^hexz: cancelled \(SIGTERM\)/);
  });
});
