/**
 * Memory and scale (issue 14), not timed: a pack of a 16 TiB sparse input with data at a few
 * places keeps its peak RSS under 256 MiB; a stream whose index has millions of entries opens by
 * reading a bounded number of bytes (counted) and without holding its index (3 million entries
 * with HEXZ_SLOW=1, 1 million otherwise); with HEXZ_SLOW=1, 8 GiB piped through stdin packs in
 * flat memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Archive, ArchiveWriter, CountingSource, FileSource } from '../src/index.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { Codec } from '../src/format/constants.ts';
import { tempDir } from './helpers.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'hexz.js');
const CI = process.env.CI === 'true';
const TiB = 2 ** 40;
const GiB = 2 ** 30;
const RSS_BOUND_KIB = 256 * 1024;
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Skip reason for a test needing `tools`, or false (with CI=true a missing tool fails instead). */
function needs(...tools: string[]): string | false {
  const missing = tools.filter((t) => !(t.startsWith('/') ? existsSync(t) : has(t)));
  if (!missing.length) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (CI) test(`${missing.join(', ')} present (required in CI)`, () => assert.fail(reason));
  return reason;
}

/** Runs the built CLI under /usr/bin/time; its peak RSS in KiB. */
function packRss(args: string[], input?: string): { status: number | null; stderr: string; rssKiB: number } {
  const r = spawnSync(TIME!, ['-f', 'RSS %M', process.execPath, CLI, 'pack', ...args], { encoding: 'utf8', input, maxBuffer: 1 << 24 });
  const m = /RSS (\d+)/.exec(r.stderr);
  return { status: r.status, stderr: r.stderr, rssKiB: m ? Number(m[1]) : NaN };
}

const PIECES = [{ at: 3 * GiB + 4096, text: 'first' }, { at: 5 * TiB + 12345, text: 'middle' }];

test('pack of a sparse 16 TiB input (raw file and qcow2) with data at a few places stays under 256 MiB RSS', { skip: needs('/usr/bin/time', 'qemu-img', 'qemu-io'), timeout: 300_000 }, async () => {
  const tmp = tempDir('hexz-scale-');
  try {
    // ext4 caps a file at 16 TiB minus a block: the raw input is 16 TiB - 1 MiB, the qcow2 a full 16 TiB.
    const raw = tmp.path('big.raw');
    const rawSize = 16 * TiB - (1 << 20);
    closeSync(openSync(raw, 'w'));
    truncateSync(raw, rawSize);
    const fd = openSync(raw, 'r+');
    for (const p of [...PIECES, { at: rawSize - 10, text: 'last' }]) writeSync(fd, Buffer.from(p.text), 0, p.text.length, p.at);
    closeSync(fd);
    const qcow = tmp.path('big.qcow2');
    assert.equal(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, '16T']).status, 0);
    const writes = [...PIECES, { at: 16 * TiB - 4096, text: 'last' }].flatMap((p) => ['-c', `write -P 0x61 ${p.at - (p.at % 512)} 512`]);
    assert.equal(spawnSync('qemu-io', ['-f', 'qcow2', ...writes, qcow], { stdio: 'ignore' }).status, 0);

    for (const [input, size] of [[raw, rawSize], [qcow, 16 * TiB]] as const) {
      const out = `${input}.hxz`;
      const r = packRss(['--disk', input, '-o', out, '--silent']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.rssKiB <= RSS_BOUND_KIB, `${input}: peak RSS ${r.rssKiB} KiB > ${RSS_BOUND_KIB} KiB`);
      const a = await Archive.open(out);
      try {
        assert.equal(a.size('disk'), size);
        if (input === raw) for (const p of PIECES) assert.equal(Buffer.from(await a.readAt('disk', p.at, p.text.length)).toString(), p.text);
        else for (const p of PIECES) assert.ok((await a.readAt('disk', p.at - (p.at % 512), 512)).every((b) => b === 0x61));
        assert.ok((await a.readAt('disk', 8 * TiB, 4096)).every((b) => b === 0), 'a hole reads as zeros');
      } finally {
        await a.close();
      }
    }
  } finally {
    tmp.cleanup();
  }
});

test('a stream with millions of index entries opens reading a bounded number of bytes, and reads in O(depth)', { timeout: 300_000 }, async () => {
  const tmp = tempDir('hexz-scale-index-');
  try {
    // Alternating 4 KiB references to one stored block and 4 KiB zero runs: every entry distinct in
    // place (zero runs merge only when adjacent), written straight to the index: 1 million of them
    // (about a minute's writing for 3 million with HEXZ_SLOW=1).
    const path = tmp.path('many.hxz');
    const BLOCK = 4096;
    const PAIRS = process.env.HEXZ_SLOW === '1' ? 1_500_000 : 500_000;
    const w = await ArchiveWriter.create(path, { blockSize: BLOCK, codec: Codec.ZSTD, level: 3, streamSizes: { disk: 2 * PAIRS * BLOCK + BLOCK } });
    w.beginStream('disk');
    const block = new Uint8Array(BLOCK).fill(7);
    const hash = blake3(block);
    const ref = await w.addData(BLOCK, hash, Codec.NONE, block);
    for (let i = 0; i < PAIRS; i++) {
      await w.addZero(BLOCK);
      await w.addDedup(BLOCK, hash, ref);
    }
    await w.endStream();
    await w.finalize();

    const heapBefore = process.memoryUsage();
    const counting = new CountingSource(await FileSource.open(path));
    const a = await Archive.open(counting);
    try {
      const entries = 2 * PAIRS + 1;
      assert.ok(a.header.streams[0].entryCount === entries, `${a.header.streams[0].entryCount} entries`);
      // The index is 35-100 MiB; open reads the header and the root area only.
      assert.ok(counting.bytesRead <= 512 << 10, `open read ${counting.bytesRead} bytes`);
      const atOpen = counting.bytesRead;
      const off = (PAIRS / 2 + 1) * 2 * BLOCK; // a referenced block near the middle (pair i's is at (i + 1) * 8 KiB)
      assert.ok((await a.readAt('disk', off, BLOCK)).every((b) => b === 7));
      assert.ok((await a.readAt('disk', off - BLOCK, BLOCK)).every((b) => b === 0));
      // One node per level below the root, and the block.
      assert.ok(counting.bytesRead - atOpen <= 3 * (128 << 10), `a read cost ${counting.bytesRead - atOpen} bytes`);
      const after = process.memoryUsage();
      const grown = after.heapUsed + after.external + after.arrayBuffers - (heapBefore.heapUsed + heapBefore.external + heapBefore.arrayBuffers);
      assert.ok(grown < 48 << 20, `opening and two reads grew memory by ${grown} bytes`);
    } finally {
      await a.close();
    }
  } finally {
    tmp.cleanup();
  }
});

test('8 GiB piped through stdin packs in flat memory', { skip: process.env.HEXZ_SLOW === '1' ? needs('/usr/bin/time') : 'set HEXZ_SLOW=1 (packs 8 GiB)', timeout: 900_000 }, async () => {
  const tmp = tempDir('hexz-scale-stdin-');
  try {
    const out = tmp.path('piped.hxz');
    // A generator child: 8 GiB of distinct, compressible 64 KiB blocks (a counter in text).
    const gen = `const b=Buffer.alloc(65536);let i=0;const n=131072;function w(){while(i<n){b.fill('block '+i+' of text; ');i++;if(!process.stdout.write(b))return process.stdout.once('drain',w);}}w();`;
    const producer = spawn(process.execPath, ['-e', gen], { stdio: ['ignore', 'pipe', 'inherit'] });
    const packer = spawn(TIME!, ['-f', 'RSS %M', process.execPath, CLI, 'pack', '--disk', '-', '-o', out, '--silent'], { stdio: ['pipe', 'ignore', 'pipe'] });
    producer.stdout.pipe(packer.stdin);
    let stderr = '';
    packer.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const status = await new Promise<number | null>((res) => packer.on('exit', res));
    assert.equal(status, 0, stderr);
    const rss = Number(/RSS (\d+)/.exec(stderr)?.[1]);
    assert.ok(rss <= RSS_BOUND_KIB, `peak RSS ${rss} KiB > ${RSS_BOUND_KIB} KiB`);
    const a = await Archive.open(out);
    try {
      assert.equal(a.size('disk'), 8 * GiB);
      assert.equal(Buffer.from(await a.readAt('disk', 100_000 * 65536, 12)).toString(), 'block 100000');
    } finally {
      await a.close();
    }
  } finally {
    tmp.cleanup();
  }
});
