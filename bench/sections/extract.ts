/**
 * Extract section: `hexz extract` of the zstd and lz4 archives beside `zstd -d -T0` and
 * `lz4 -d`, alternated and screened, then one run of `qemu-img convert -O raw` of the qcow2.
 * Every run writes a new sparse file (the last one deleted and synced first); archives are in
 * the page cache.
 */
import { statSync } from 'node:fs';
import type { BenchContext, PackedArchives } from '../lib/context.js';
import { log } from '../lib/log.js';
import { freshOutput as fresh, syncAll, warm } from '../lib/page-cache.js';
import { msSince, nowNs, run } from '../lib/run.js';
import { medianS } from '../lib/screened-runs.js';
import { median } from '../lib/stats.js';
import { waitQuiet } from '../lib/wait-quiet.js';

const allocated = (p: string) => statSync(p).blocks * 512;

export async function extractSection(ctx: BenchContext, packed: PackedArchives): Promise<void> {
  const { results } = ctx;
  const X = ctx.path('extracted.raw');
  const hexzBin = ctx.build.bin;
  // Before every run: the last output gone and synced, this run's archive in the page cache.
  const before = (archive: string) => () => {
    fresh(X)();
    warm(archive);
  };
  await waitQuiet('extract', ctx.quiet, ctx.settings.quietWaitMs);
  log('extract: hexz extract (zstd archive), zstd -d -T0, hexz extract (lz4 archive), lz4 -d, alternated ...');
  const zstdFsyncs: number[] = [];
  let hexzAllocated = 0;
  let zstdAllocated = 0;
  let lz4Allocated = 0;
  const { hz, zs, hl, l4 } = await ctx.runs.alternate({
    hz: {
      label: 'hexz extract', before: before(packed.hxzZstd), run: async () => {
        const r = await run(process.execPath, [hexzBin, 'extract', packed.hxzZstd, '-o', X, '--silent']);
        hexzAllocated = allocated(X);
        return r;
      },
    },
    zs: packed.zst ? {
      label: 'zstd -d', before: before(packed.zst), run: async () => {
        const r = await run('zstd', ['-d', '-T0', '-f', '-q', packed.zst!, '-o', X]);
        const t0 = nowNs();
        syncAll(X); // fsync of the output alone, timed separately (hexz extract fsyncs its output)
        zstdFsyncs.push(msSince(t0));
        zstdAllocated = allocated(X);
        return r;
      },
    } : undefined,
    hl: { label: 'hexz extract lz4', before: before(packed.hxzLz4), run: () => run(process.execPath, [hexzBin, 'extract', packed.hxzLz4, '-o', X, '--silent']) },
    l4: packed.lz4 ? {
      label: 'lz4 -d', before: before(packed.lz4), run: async () => {
        const r = await run('lz4', ['-d', '-f', '-q', packed.lz4!, X]);
        lz4Allocated = allocated(X);
        return r;
      },
    } : undefined,
  });
  const hexExtract = medianS(hz);
  results.raw.hexzExtractZstd = { runsMs: hz.map((r) => r.ms), outputAllocated: hexzAllocated };
  const zsd = zs ? { s: medianS(zs), fsyncS: median(zstdFsyncs) / 1000 } : null;
  if (zs) results.raw.zstdDecompress = { runsMs: zs.map((r) => r.ms), fsyncMs: zstdFsyncs, outputAllocated: zstdAllocated };
  const hexExtractLz4 = medianS(hl);
  results.raw.hexzExtractLz4 = { runsMs: hl.map((r) => r.ms) };
  const l4d = l4 ? medianS(l4) : null;
  if (l4) results.raw.lz4Decompress = { runsMs: l4.map((r) => r.ms), outputAllocated: lz4Allocated };
  let qcx: number | null = null;
  if (packed.qcow2) {
    log('extract: qemu-img convert -O raw (one run) ...');
    const [r] = await ctx.runs.repeat('qemu-img convert -O raw', before(packed.qcow2), () => run('qemu-img', ['convert', '-O', 'raw', packed.qcow2!, X]), 1);
    qcx = r.ms / 1000;
    results.raw.qemuImgToRaw = { ms: r.ms, outputAllocated: allocated(X) };
  }
  fresh(X)();

  const G = 'extract (archive in page cache; output is a new sparse file, deleted and synced between runs)';
  const add = results.add.bind(results);
  add({ group: G, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'zstd -d -T0', peerValue: zsd?.s ?? null, better: 'lower', target: '' });
  const withFsync = zsd ? zsd.s + zsd.fsyncS : null;
  add({ group: G, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'zstd -d -T0 + fsync of output', peerValue: withFsync, better: 'lower', target: '<= 0.80x', met: withFsync === null ? null : hexExtract <= 0.8 * withFsync });
  add({ group: G, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'qemu-img convert -O raw', peerValue: qcx, better: 'lower', target: '' });
  add({ group: G, measure: 'extract time, lz4 archive', hexz: hexExtractLz4, unit: 's', peer: 'lz4 -d', peerValue: l4d, better: 'lower', target: '' });
  results.note('extract: hexz extract writes a sparse file and fsyncs it before renaming it into place; zstd -d writes sparse too (--sparse is its default for files) but does not fsync — the target row adds a separately timed fsync of its output (sync FILE), so both sides have the bytes on disk. hexz, zstd and lz4 runs alternated.');
}
