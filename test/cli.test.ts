/**
 * The built executable (`node bin/hexz.js`): pack, inspect, extract, cat and verify, exit
 * codes, the one-line error format, atomic output on failure, stdin input and Ctrl-C.
 * `npm test` runs `npm run build` first, so dist/ is current.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { Archive } from '../src/index.ts';
import { FORMAT_VERSION } from '../src/format/constants.ts';
import {
  HEXZ_BIN, Rng, assertBytes, assertOneErrorLine, isZero, listDir, mixedData, randomData, runCli, tempDir, writeData,
} from './helpers.ts';

const tmp = tempDir('hexz-cli-');
after(() => tmp.cleanup());

const BLOCK = 16384;
const disk = mixedData(100 * BLOCK + 4321, { unit: BLOCK, seed: 101 });
const memory = mixedData(20 * BLOCK + 1, { unit: BLOCK, seed: 102 });
const diskPath = writeData(tmp.path('disk.raw'), disk);
const memPath = writeData(tmp.path('memory.raw'), memory);
const archive = tmp.path('both.hxz');

/** Runs the CLI and fails with its stderr when the exit code is not `expected`. */
function hexz(args: string[], expected = 0, input?: Uint8Array) {
  const r = runCli(args, { input });
  assert.equal(r.status, expected, `hexz ${args.join(' ')} exited ${r.status} (signal ${r.signal}), expected ${expected}; stderr:\n${r.stderr}`);
  return r;
}

/** A fresh empty directory inside the suite's temp dir. */
let dirs = 0;
function freshDir(): string {
  const d = tmp.path(`d${dirs++}`);
  mkdirSync(d);
  return d;
}

describe('pack, inspect, cat, extract, verify on a healthy archive', () => {
  let summary: Record<string, any>;
  before(() => {
    const r = hexz(['pack', '--disk', diskPath, '--memory', memPath, '-o', archive, '--block-size', '16K', '--workers', '2', '--json']);
    summary = JSON.parse(r.stdout.toString('utf8'));
  });

  test('pack --json prints a summary with the documented fields', () => {
    assert.equal(summary.output, archive);
    assert.match(summary.archiveId, /^[0-9a-f]{32}$/);
    assert.equal(summary.archiveBytes, statSync(archive).size);
    assert.equal(summary.logicalBytes, disk.length + memory.length);
    assert.ok(Math.abs(summary.ratio - summary.logicalBytes / summary.archiveBytes) < 1e-9);
    assert.equal(summary.compression, 'zstd');
    assert.equal(summary.level, 3);
    assert.equal(summary.blockSize, BLOCK);
    assert.equal(summary.workers, 2);
    assert.equal(summary.dedup, true);
    assert.equal(typeof summary.seconds, 'number');
    assert.equal(summary.header, undefined, 'the raw header is not part of the JSON summary');
    assert.deepEqual(summary.streams.map((s: any) => [s.name, s.logicalBytes]), [['disk', disk.length], ['memory', memory.length]]);
    const d = summary.streams[0];
    assert.ok(d.dataBlocks > 0 && d.zeroBlocks > 0 && d.dedupBlocks > 0, JSON.stringify(d));
    assert.equal(d.zeroBytes, d.zeroBlocks * BLOCK);
  });

  test('inspect --json agrees with the pack summary and the header', async () => {
    const r = JSON.parse(hexz(['inspect', archive, '--json']).stdout.toString('utf8'));
    assert.equal(r.fileBytes, statSync(archive).size);
    assert.equal(r.version, FORMAT_VERSION);
    assert.equal(r.profile, 'custom');
    assert.deepEqual(r.chunking, { kind: 'fixed' });
    assert.equal(r.archiveId, summary.archiveId);
    assert.equal(r.blockSize, BLOCK);
    assert.equal(r.compression, 'zstd');
    assert.equal(r.logicalBytes, disk.length + memory.length);
    assert.equal(r.headerBytes, 4096);
    assert.ok(!Number.isNaN(Date.parse(r.created)));
    assert.deepEqual(r.streams.map((s: any) => [s.name, s.logicalBytes]), [['disk', disk.length], ['memory', memory.length]]);
    const a = await Archive.open(archive);
    try {
      assert.equal(r.streams[0].entries, a.header.streams[0].entryCount);
      assert.equal(r.streams[0].blocks.dedup, a.header.streams[0].stats.dedupBlocks);
      assert.equal(r.dataBytes, a.header.data.length);
    } finally {
      await a.close();
    }
  });

  test('inspect without --json prints readable text', () => {
    const out = hexz(['inspect', archive]).stdout.toString('utf8');
    assert.match(out, /stream disk:/);
    assert.match(out, /stream memory:/);
    assert.ok(out.includes(summary.archiveId));
  });

  test('cat --offset/--length writes exactly the source bytes', () => {
    const ranges: [string, string | undefined, number, number][] = [
      ['0', '1', 0, 1],
      ['0', undefined, 0, disk.length],
      [String(BLOCK - 3), '10', BLOCK - 3, 10],
      ['4K', '1K', 4096, 1024],
      [String(disk.length - 5), undefined, disk.length - 5, 5],
      [String(disk.length), undefined, disk.length, 0],
      ['12345', '300000', 12345, 300000],
    ];
    for (const [off, len, o, n] of ranges) {
      const args = ['cat', archive, '--offset', off, ...(len === undefined ? [] : ['--length', len])];
      assertBytes(hexz(args).stdout, disk.subarray(o, o + n), args.join(' '));
    }
    assertBytes(hexz(['cat', archive, '--stream', 'memory', '--offset', '100', '--length', '20000']).stdout, memory.subarray(100, 20100), 'cat memory');
  });

  test('cat past the end of a stream: exit 2, one line', () => {
    const r = hexz(['cat', archive, '--offset', String(disk.length - 1), '--length', '2'], 2);
    assertOneErrorLine(r.stderr, 'cat past the end');
  });

  test('extract reproduces both streams', () => {
    const out = tmp.path('extracted.disk');
    hexz(['extract', archive, '-o', out, '--silent']);
    assertBytes(readFileSync(out), disk, 'extracted disk');
    const outMem = tmp.path('extracted.mem');
    const r = JSON.parse(hexz(['extract', archive, '--stream', 'memory', '-o', outMem, '--json']).stdout.toString('utf8'));
    assert.equal(r.stream, 'memory');
    assert.equal(r.bytes, memory.length);
    assertBytes(readFileSync(outMem), memory, 'extracted memory');
    // extract refuses to overwrite, like pack
    assertOneErrorLine(hexz(['extract', archive, '-o', out], 2).stderr, 'extract over an existing file');
  });

  test('verify: exit 0 and an OK line; --json reports ok', () => {
    const r = hexz(['verify', archive]);
    assert.match(r.stdout.toString('utf8'), /: OK \(/);
    assert.equal(r.stderr, '');
    const j = JSON.parse(hexz(['verify', archive, '--json']).stdout.toString('utf8'));
    assert.equal(j.ok, true);
    assert.ok(j.blocksChecked > 0);
    assert.equal(j.bytesChecked, disk.length + memory.length - summary.streams.reduce((n: number, s: any) => n + s.zeroBytes, 0));
  });
});

describe('sparse extract', () => {
  test('a mostly-zero image is extracted with holes', () => {
    const d = freshDir();
    const size = 64 * 1024 * 1024;
    const raw = `${d}/sparse.raw`;
    closeSync(openSync(raw, 'w'));
    truncateSync(raw, size);
    const fd = openSync(raw, 'r+');
    const writes: [number, Uint8Array][] = [[0, randomData(1000, 1)], [20 * 1024 * 1024 + 7, randomData(5000, 2)], [size - 100, randomData(100, 3)]];
    for (const [at, b] of writes) writeSync(fd, b, 0, b.length, at);
    closeSync(fd);
    hexz(['pack', '--disk', raw, '-o', `${d}/s.hxz`, '--silent']);
    const out = `${d}/out.raw`;
    hexz(['extract', `${d}/s.hxz`, '-o', out, '--silent']);
    const st = statSync(out);
    assert.equal(st.size, size);
    assert.ok(st.blocks * 512 < size / 16, `extracted file occupies ${st.blocks * 512} bytes of ${size}`);
    const got = readFileSync(out);
    for (const [at, b] of writes) assertBytes(got.subarray(at, at + b.length), b, `data at ${at}`);
    assert.ok(isZero(got.subarray(1000, 20 * 1024 * 1024 + 7)), 'hole reads as zeros');
  });
});

describe('pack options', () => {
  test('pack refuses an existing output (exit 2, one line); --force replaces it', () => {
    const d = freshDir();
    const out = `${d}/a.hxz`;
    writeFileSync(out, 'not yet an archive');
    assertOneErrorLine(hexz(['pack', '--disk', diskPath, '-o', out], 2).stderr, 'pack over an existing file');
    assert.equal(readFileSync(out, 'utf8'), 'not yet an archive');
    hexz(['pack', '--disk', diskPath, '-o', out, '--force', '--silent']);
    assertBytes(hexz(['cat', out]).stdout, disk, 'forced archive');
    assert.deepEqual(listDir(d), ['a.hxz']);
  });

  test('pack from stdin (--disk -)', () => {
    const d = freshDir();
    const out = `${d}/stdin.hxz`;
    const j = JSON.parse(hexz(['pack', '--disk', '-', '-o', out, '--json', '--block-size', '4K', '--compression', 'lz4'], 0, disk).stdout.toString('utf8'));
    assert.equal(j.logicalBytes, disk.length);
    assert.equal(j.compression, 'lz4');
    assert.equal(j.blockSize, 4096);
    assertBytes(hexz(['cat', out]).stdout, disk, 'stdin archive');
  });

  test('every codec and --no-dedup', () => {
    const d = freshDir();
    for (const c of ['zstd', 'lz4', 'none']) {
      const out = `${d}/${c}.hxz`;
      const j = JSON.parse(hexz(['pack', '--disk', diskPath, '-o', out, '--compression', c, '--no-dedup', '--json', '--block-size', '16K', '--workers', '1']).stdout.toString('utf8'));
      assert.equal(j.compression, c);
      assert.equal(j.dedup, false);
      assert.equal(j.streams[0].dedupBlocks, 0);
      assertBytes(hexz(['cat', out]).stdout, disk, `${c} archive`);
    }
  });
});

describe('errors: one line on stderr, the documented exit code, no stack trace', () => {
  let truncated = '';
  let notArchive = '';
  before(() => {
    const full = readFileSync(archive);
    truncated = writeData(tmp.path('truncated.hxz'), full.subarray(0, Math.floor(full.length / 2)));
    notArchive = writeData(tmp.path('text.hxz'), Buffer.from('hello, I am a text file\n'.repeat(400)));
  });

  const cases: [string, () => string[], number][] = [
    ['missing archive (inspect)', () => ['inspect', tmp.path('nope.hxz')], 6],
    ['missing archive (cat)', () => ['cat', tmp.path('nope.hxz')], 6],
    ['missing input (pack)', () => ['pack', '--disk', tmp.path('nope.raw'), '-o', tmp.path('never.hxz')], 6],
    ['not an archive (inspect)', () => ['inspect', notArchive], 3],
    ['not an archive (verify)', () => ['verify', notArchive], 3],
    ['truncated archive (inspect)', () => ['inspect', truncated], 4],
    ['truncated archive (cat)', () => ['cat', truncated, '--length', '10'], 4],
    ['truncated archive (extract)', () => ['extract', truncated, '-o', tmp.path('never.raw')], 4],
    ['truncated archive (verify)', () => ['verify', truncated], 4],
    ['unknown option', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--frobnicate'], 2],
    ['unknown command', () => ['frobnicate'], 2],
    ['bad --block-size 3K', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--block-size', '3K'], 2],
    ['bad --block-size 8M', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--block-size', '8M'], 2],
    ['bad --block-size 2K', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--block-size', '2K'], 2],
    ['bad --block-size text', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--block-size', 'big'], 2],
    ['bad --compression', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--compression', 'gzip'], 2],
    ['bad --level', () => ['pack', '--disk', diskPath, '-o', tmp.path('never.hxz'), '--level', '99'], 2],
    ['bad --stream', () => ['cat', archive, '--stream', 'swap'], 2],
    ['pack with no input', () => ['pack', '-o', tmp.path('never.hxz')], 2],
  ];
  for (const [what, args, code] of cases) {
    test(`${what}: exit ${code}`, () => {
      const r = hexz(args(), code);
      assertOneErrorLine(r.stderr, what);
      assert.equal(r.stdout.length, 0, `${what}: nothing on stdout`);
    });
  }

  test('no failed command above left an output behind', () => {
    for (const name of ['never.hxz', 'never.raw']) assert.ok(!listDir(tmp.dir).includes(name), `${name} exists`);
    assert.deepEqual(listDir(tmp.dir).filter((n) => n.includes('hexz-tmp')), []);
  });

  test('verify on a damaged archive: exit 4 and one line naming the file', async () => {
    const a = await Archive.open(archive);
    let storedOffset = -1;
    for await (const e of a.entries('disk')) if (e.kind === 1) { storedOffset = e.storedOffset; break; }
    await a.close();
    const bytes = readFileSync(archive);
    bytes[storedOffset + 3] ^= 0x55;
    const damaged = writeData(tmp.path('damaged.hxz'), bytes);
    const r = runCli(['verify', damaged]);
    assert.equal(r.status, 4, `verify of a damaged archive exited ${r.status}; stderr:\n${r.stderr}`);
    assertOneErrorLine(r.stderr, 'verify damaged');
    assert.ok(r.stderr.includes(damaged), `stderr names the file: ${r.stderr}`);
    const rj = runCli(['verify', damaged, '--json']);
    assert.equal(rj.status, 4);
    const j = JSON.parse(rj.stdout.toString('utf8'));
    assert.equal(j.ok, false);
    assert.equal(j.error.code, 'CORRUPT_ARCHIVE');
    assert.equal(j.error.stream, 'disk');
  });

  test('verify and extract on a damaged archive exit 4 every time (no silent exit)', async () => {
    // Small raw archive with its first block damaged: decode work is still in flight on the
    // worker threads when the error surfaces and the archive is closed.
    const d = freshDir();
    writeData(`${d}/in.raw`, randomData(8 * 4096, 9));
    hexz(['pack', '--disk', `${d}/in.raw`, '-o', `${d}/a.hxz`, '--compression', 'none', '--block-size', '4K', '--silent']);
    const a = await Archive.open(`${d}/a.hxz`);
    let storedOffset = -1;
    for await (const e of a.entries('disk')) { storedOffset = e.storedOffset; break; }
    await a.close();
    const bytes = readFileSync(`${d}/a.hxz`);
    bytes[storedOffset] ^= 1;
    const damaged = writeData(`${d}/damaged.hxz`, bytes);
    const codes: (number | null)[] = [];
    for (let i = 0; i < 20; i++) {
      const r = runCli(i % 4 === 3 ? ['extract', damaged, '-o', `${d}/out.raw`] : ['verify', damaged]);
      codes.push(r.status);
      if (r.status === 4) assertOneErrorLine(r.stderr, 'damaged archive');
    }
    assert.deepEqual(codes.filter((c) => c !== 4), [], `exit codes of 20 runs: ${codes.join(' ')} (13 = exited with a promise pending, printing nothing)`);
    assert.deepEqual(listDir(d), ['a.hxz', 'damaged.hxz', 'in.raw']);
  });
});

describe('a failed pack leaves nothing behind', () => {
  test('input is a directory', () => {
    const d = freshDir();
    mkdirSync(`${d}/adir`);
    const r = hexz(['pack', '--disk', `${d}/adir`, '-o', `${d}/out.hxz`], 6);
    assertOneErrorLine(r.stderr, 'directory input');
    assert.deepEqual(listDir(d), ['adir']);
  });

  test('a missing memory input after a valid disk input', () => {
    const d = freshDir();
    writeData(`${d}/disk.raw`, disk);
    const r = hexz(['pack', '--disk', `${d}/disk.raw`, '--memory', `${d}/missing.mem`, '-o', `${d}/out.hxz`], 6);
    assertOneErrorLine(r.stderr, 'missing memory input');
    assert.ok(r.stderr.includes('missing.mem'), r.stderr);
    assert.deepEqual(listDir(d), ['disk.raw']);
  });

  test('both inputs on stdin is a usage error', () => {
    const d = freshDir();
    const r = hexz(['pack', '--disk', '-', '--memory', '-', '-o', `${d}/out.hxz`], 2, new Uint8Array(10));
    assertOneErrorLine(r.stderr, 'two stdin inputs');
    assert.deepEqual(listDir(d), []);
  });
});

describe('Ctrl-C', () => {
  test('SIGINT during a slow pack: exit 130, no output, no temp files', async () => {
    const d = freshDir();
    const big = new Uint8Array(200 * 1024 * 1024);
    new Rng(4242).fill(big);
    writeData(`${d}/big.raw`, big);
    const child = spawn(process.execPath, [HEXZ_BIN, 'pack', '--disk', `${d}/big.raw`, '-o', `${d}/big.hxz`, '--workers', '1', '--level', '19'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
    // Wait until packing has really started (its temporary output exists), then a little more.
    const started = Date.now();
    while (!listDir(d).some((n) => n.includes('hexz-tmp')) && Date.now() - started < 15_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(listDir(d).some((n) => n.includes('hexz-tmp')), 'pack never created its temporary output');
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    assert.equal(signal, null, `killed by ${signal}; stderr: ${stderr}`);
    assert.equal(code, 130, `exit code ${code}; stderr: ${stderr}`);
    assertOneErrorLine(stderr, 'Ctrl-C');
    assert.deepEqual(listDir(d), ['big.raw']);
  });
});
