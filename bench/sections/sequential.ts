/**
 * Sequential-read section: the whole disk stream read once, logical bytes / wall time, every
 * measure alternated with the others and screened:
 * - whole processes writing to /dev/null: `hexz cat` (zstd and lz4 archives) beside
 *   `zstd -d -c` and `lz4 -d -c` of the raw image's zstd / lz4 files (the target rows: both
 *   sides pay process start and a write of every byte);
 * - in this process: `Archive.open` + `createReadStream('disk')`, and `sequentialChunks` with
 *   recycled buffers (the library's fastest path), for information;
 * - `qemu-img bench` reading the zstd qcow2 in 1 MiB requests, one at a time.
 */
import { basename } from 'node:path';
import type { BenchContext, PackedArchives } from '../lib/context.js';
import { log } from '../lib/log.js';
import { warm } from '../lib/page-cache.js';
import { run, timeInProcess, type RunResult } from '../lib/run.js';
import { median } from '../lib/stats.js';
import { waitQuiet } from '../lib/wait-quiet.js';

type SequentialChunksModule = typeof import('../../dist/node/sequential-chunks.js');

const MiB = 1 << 20;

export async function sequentialSection(ctx: BenchContext, packed: PackedArchives): Promise<void> {
  const { results, input } = ctx;
  const { Archive } = ctx.lib;
  const { sequentialChunks } = (await import(ctx.build.distUrl('node/sequential-chunks.js'))) as SequentialChunksModule;
  const expect = (what: string, n: number) => {
    if (n !== input.size) throw new Error(`${what} returned ${n} bytes, expected ${input.size}`);
  };
  const createReadStream = (path: string) => () => timeInProcess(async () => {
    const a = await Archive.open(path);
    let n = 0;
    for await (const chunk of a.createReadStream('disk')) n += (chunk as Uint8Array).length;
    await a.close();
    expect(`createReadStream of ${basename(path)}`, n);
  });
  const chunks = (path: string) => () => timeInProcess(async () => {
    const a = await Archive.open(path);
    let n = 0;
    try {
      for await (const c of sequentialChunks(a, 'disk', { recycle: true })) {
        n += c.length;
        c.release?.();
      }
    } finally {
      await a.close();
    }
    expect(`sequentialChunks of ${basename(path)}`, n);
  });
  const cat = (path: string) => () => run(process.execPath, [ctx.build.bin, 'cat', path], { stdoutTo: '/dev/null' });
  const warmed = (path: string) => () => warm(path);

  await waitQuiet('sequential', ctx.quiet, ctx.settings.quietWaitMs);
  log('sequential: hexz cat, zstd -d -c, lz4 -d -c, in-process createReadStream / sequentialChunks, qemu-img bench, alternated ...');
  const m = await ctx.runs.alternate({
    catZ: { label: 'hexz cat disk.hxz', before: warmed(packed.hxzZstd), run: cat(packed.hxzZstd) },
    zs: packed.zst ? { label: 'zstd -d -c', before: warmed(packed.zst), run: () => run('zstd', ['-d', '-T0', '-c', '-q', packed.zst!], { stdoutTo: '/dev/null' }) } : undefined,
    catL: { label: 'hexz cat disk-lz4.hxz', before: warmed(packed.hxzLz4), run: cat(packed.hxzLz4) },
    l4: packed.lz4 ? { label: 'lz4 -d -c', before: warmed(packed.lz4), run: () => run('lz4', ['-d', '-c', '-q', packed.lz4!], { stdoutTo: '/dev/null' }) } : undefined,
    streamZ: { label: 'hexz createReadStream disk.hxz', before: warmed(packed.hxzZstd), run: createReadStream(packed.hxzZstd) },
    chunksZ: { label: 'hexz sequentialChunks disk.hxz', before: warmed(packed.hxzZstd), run: chunks(packed.hxzZstd) },
    streamL: { label: 'hexz createReadStream disk-lz4.hxz', before: warmed(packed.hxzLz4), run: createReadStream(packed.hxzLz4) },
    qemu: packed.qcow2 ? {
      label: 'qemu-img bench', before: warmed(packed.qcow2),
      run: () => run('qemu-img', ['bench', '-f', 'qcow2', '-c', String(Math.ceil(input.size / MiB)), '-s', '1M', '-S', '1M', '-d', '1', packed.qcow2!]),
    } : undefined,
  });
  const ms = (rs: RunResult[]) => rs.map((r) => r.ms);
  /** Median throughput of runs, MiB/s of the logical stream; null without runs. */
  const mibps = (rs: RunResult[] | undefined) => (rs ? input.size / MiB / (median(ms(rs)) / 1000) : null);
  Object.assign(results.raw, {
    hexzSeqZstdMs: ms(m.streamZ), hexzSeqLz4Ms: ms(m.streamL), hexzSeqChunksZstdMs: ms(m.chunksZ),
    hexzCatZstdMs: ms(m.catZ), hexzCatLz4Ms: ms(m.catL),
    ...(m.zs ? { zstdSeqMs: ms(m.zs) } : {}), ...(m.l4 ? { lz4SeqMs: ms(m.l4) } : {}), ...(m.qemu ? { qemuImgBenchMs: ms(m.qemu) } : {}),
  });

  const G = 'sequential read of the whole disk stream (archive in page cache; logical bytes / wall time)';
  const add = results.add.bind(results);
  const zstdPeer = { unit: 'MiB/s', peer: 'zstd -d -c > /dev/null', peerValue: mibps(m.zs), better: 'higher' } as const;
  const lz4Peer = { unit: 'MiB/s', peer: 'lz4 -d -c > /dev/null', peerValue: mibps(m.l4), better: 'higher' } as const;
  const atLeast = (hexz: number | null, peer: number | null, x: number) => (hexz === null || peer === null ? null : hexz >= x * peer);
  add({ group: G, measure: 'sequential read, zstd archive (hexz cat > /dev/null, whole process)', hexz: mibps(m.catZ), ...zstdPeer, target: '>= 1.50x', met: atLeast(mibps(m.catZ), zstdPeer.peerValue, 1.5) });
  add({ group: G, measure: 'sequential read, lz4 archive (hexz cat > /dev/null, whole process)', hexz: mibps(m.catL), ...lz4Peer, target: '>= 1.50x', met: atLeast(mibps(m.catL), lz4Peer.peerValue, 1.5) });
  add({ group: G, measure: 'sequential read, zstd archive (createReadStream, in process)', hexz: mibps(m.streamZ), ...zstdPeer, target: '' });
  add({ group: G, measure: 'sequential read, zstd archive (sequentialChunks recycle, in process)', hexz: mibps(m.chunksZ), ...zstdPeer, target: '' });
  add({ group: G, measure: 'sequential read, zstd archive (createReadStream, in process)', hexz: mibps(m.streamZ), unit: 'MiB/s', peer: 'qemu-img bench, zstd qcow2', peerValue: mibps(m.qemu), better: 'higher', target: '' });
  add({ group: G, measure: 'sequential read, lz4 archive (createReadStream, in process)', hexz: mibps(m.streamL), ...lz4Peer, target: '' });
  results.note('sequential: all measures alternated, each run with its input just read into the page cache. "hexz cat > /dev/null" = `node bin/hexz.js cat ARCHIVE` as a child process with stdout on /dev/null (node start, open, decode on worker threads, write), the scope of `zstd -d -T0 -c` / `lz4 -d -c` to /dev/null of zstd -3 / lz4 -1 files of the raw image, so the target applies there. In process (node startup not counted): Archive.open + createReadStream("disk") consumed (default 1 MiB chunks and read-ahead), and sequentialChunks(archive, "disk", { recycle: true }) with each chunk released once counted (decoded into reused shared buffers, the path `hexz cat` uses). qemu-img bench = child process, 1 MiB reads one at a time over the qcow2 (process start and image open included).');
}
