/**
 * Pack section: `hexz pack` (zstd-3 and lz4) beside `zstd -T0 -3` and `lz4 -1`, alternated and
 * screened, then one run each of `qemu-img convert -c` (zstd qcow2) and `mksquashfs`; time,
 * size and peak RSS. Leaves the archives for the later sections.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { BenchContext, PackedArchives } from '../lib/context.js';
import { log } from '../lib/log.js';
import { freshOutput as fresh, syncAll, warm } from '../lib/page-cache.js';
import { msSince, nowNs, run, TIME, type RunResult } from '../lib/run.js';
import { maxRss, medianS } from '../lib/screened-runs.js';
import { median } from '../lib/stats.js';
import { waitQuiet } from '../lib/wait-quiet.js';

const fileSize = (p: string) => statSync(p).size;

type PackRun = RunResult & { summary: Record<string, unknown> };

/** Runs `hexz pack` as a child process; without /usr/bin/time, a child node that reports its own maxRSS. */
function hexzPacker(ctx: BenchContext): (out: string, codec: 'zstd' | 'lz4') => Promise<PackRun> {
  const rssScript = ctx.path('pack-rss.mjs');
  writeFileSync(rssScript, [
    `import { pack } from ${JSON.stringify(ctx.build.distUrl('index.js'))};`,
    `const [disk, output, compression] = process.argv.slice(2);`,
    `const { header, ...r } = await pack({ disk, output, compression, force: true });`,
    `console.log(JSON.stringify({ ...r, maxRssKiB: process.resourceUsage().maxRSS }));`,
  ].join('\n'));
  return async (out, codec) => {
    const r = TIME
      ? await run(process.execPath, [ctx.build.bin, 'pack', '--disk', ctx.input.path, '-o', out, '--compression', codec, '--silent', '--json'])
      : await run(process.execPath, [rssScript, ctx.input.path, out, codec]);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    if (!TIME) r.rssKiB = summary.maxRssKiB as number;
    return { ...r, summary };
  };
}

export async function packSection(ctx: BenchContext): Promise<PackedArchives> {
  const { tools, results, runs } = ctx;
  const IN = ctx.input.path;
  const out = { hxzZstd: ctx.path('disk.hxz'), hxzLz4: ctx.path('disk-lz4.hxz'), zst: ctx.path('disk.raw.zst'), lz4: ctx.path('disk.raw.lz4'), qcow2: ctx.path('disk-zstd.qcow2'), sqfs: ctx.path('disk.sqfs') };
  log('warming the page cache with the input ...');
  warm(IN);
  const hexzPack = hexzPacker(ctx);

  await waitQuiet('pack', ctx.quiet, ctx.settings.quietWaitMs);
  log(`pack: hexz (zstd-3, default), ${tools.zstd ? 'zstd -T0 -3, ' : ''}hexz --compression lz4${tools.lz4 ? ', lz4 -1' : ''}, alternated ...`);
  const zstdFsyncs: number[] = [];
  const { hz: hzRuns, zs: zsRuns, hl: hlRuns, l4: l4Runs } = await runs.alternate({
    hz: { label: 'hexz pack zstd', before: fresh(out.hxzZstd), run: () => hexzPack(out.hxzZstd, 'zstd') },
    zs: tools.zstd ? {
      label: 'zstd -T0 -3', before: fresh(out.zst), run: async () => {
        const r = await run('zstd', ['-T0', '-3', '-f', '-q', IN, '-o', out.zst]);
        const t0 = nowNs();
        syncAll(out.zst); // fsync of the output alone, timed separately (hexz pack fsyncs its output)
        zstdFsyncs.push(msSince(t0));
        return r;
      },
    } : undefined,
    hl: { label: 'hexz pack lz4', before: fresh(out.hxzLz4), run: () => hexzPack(out.hxzLz4, 'lz4') },
    l4: tools.lz4 ? { label: 'lz4 -1', before: fresh(out.lz4), run: () => run('lz4', ['-1', '-f', '-q', IN, out.lz4]) } : undefined,
  });
  const hz = { s: medianS(hzRuns), bytes: fileSize(out.hxzZstd), rss: maxRss(hzRuns), summary: hzRuns.at(-1)!.summary };
  const hl = { s: medianS(hlRuns), bytes: fileSize(out.hxzLz4), rss: maxRss(hlRuns), summary: hlRuns.at(-1)!.summary };
  results.raw.hexzPackZstd = { runsMs: hzRuns.map((r) => r.ms), rssKiB: hzRuns.map((r) => r.rssKiB), bytes: hz.bytes, summary: hz.summary };
  results.raw.hexzPackLz4 = { runsMs: hlRuns.map((r) => r.ms), rssKiB: hlRuns.map((r) => r.rssKiB), bytes: hl.bytes, summary: hl.summary };
  const zs = zsRuns ? { s: medianS(zsRuns), bytes: fileSize(out.zst), rss: maxRss(zsRuns), fsyncS: median(zstdFsyncs) / 1000 } : null;
  if (zsRuns && zs) results.raw.zstdCompress = { runsMs: zsRuns.map((r) => r.ms), fsyncMs: zstdFsyncs, rssKiB: zsRuns.map((r) => r.rssKiB), bytes: zs.bytes };
  const l4 = l4Runs ? { s: medianS(l4Runs), bytes: fileSize(out.lz4) } : null;
  if (l4Runs && l4) results.raw.lz4Compress = { runsMs: l4Runs.map((r) => r.ms), rssKiB: l4Runs.map((r) => r.rssKiB), bytes: l4.bytes };
  const qc = tools.qemuImg ? await qemuImgConvert(ctx, IN, out.qcow2) : null;
  const sq = tools.mksquashfs ? await mksquashfs(ctx, IN, out.sqfs) : null;

  const G = 'pack';
  const add = results.add.bind(results);
  add({ group: G, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'zstd -T0 -3', peerValue: zs?.s ?? null, better: 'lower', target: '<= 0.85x', met: zs ? hz.s <= 0.85 * zs.s : null });
  if (zs) add({ group: G, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'zstd -T0 -3 + fsync of output', peerValue: zs.s + zs.fsyncS, better: 'lower', target: '' });
  add({ group: G, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'qemu-img convert -c zstd qcow2', peerValue: qc?.s ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'mksquashfs -comp zstd -Xcl 3', peerValue: sq?.s ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'pack time, lz4', hexz: hl.s, unit: 's', peer: 'hexz pack (zstd-3)', peerValue: hz.s, better: 'lower', target: '' });
  add({ group: G, measure: 'pack time, lz4', hexz: hl.s, unit: 's', peer: 'lz4 -1', peerValue: l4?.s ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'qcow2 (qemu-img -c zstd)', peerValue: qc?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'zstd -T0 -3', peerValue: zs?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'squashfs zstd -Xcl 3', peerValue: sq?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'archive size, lz4', hexz: hl.bytes, unit: 'bytes', peer: 'lz4 -1', peerValue: l4?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G, measure: 'pack peak RSS, zstd-3', hexz: hz.rss, unit: 'KiB', peer: 'zstd -T0 -3', peerValue: zs?.rss ?? null, better: 'lower', target: '<= 256 MiB', met: hz.rss === null ? null : hz.rss <= 256 * 1024 });
  add({ group: G, measure: 'pack peak RSS, lz4', hexz: hl.rss, unit: 'KiB', peer: 'zstd -T0 -3', peerValue: zs?.rss ?? null, better: 'lower', target: '<= 256 MiB', met: hl.rss === null ? null : hl.rss <= 256 * 1024 });
  results.note('pack: wall time of the whole child process (node startup included for hexz); input in the page cache; hexz, zstd and lz4 runs alternated; hexz fsyncs its output before renaming it into place, zstd/lz4 do not (the "+ fsync" row adds a separately timed fsync of the zstd output).');
  results.note(`pack peak RSS: ${TIME ? '/usr/bin/time -f %M (max RSS of the process; worker threads share it, so it covers them)' : 'process.resourceUsage().maxRSS of an in-process pack in a child node'}.`);
  return { hxzZstd: out.hxzZstd, hxzLz4: out.hxzLz4, zst: zs ? out.zst : null, lz4: l4 ? out.lz4 : null, qcow2: qc ? out.qcow2 : null };
}

/** One run (it is slow): `qemu-img convert -c` to a zstd qcow2. */
async function qemuImgConvert(ctx: BenchContext, IN: string, qcow2: string): Promise<{ s: number; bytes: number }> {
  log('pack: qemu-img convert -c -O qcow2 -o compression_type=zstd (one run) ...');
  const [r] = await ctx.runs.repeat('qemu-img convert', fresh(qcow2), () => run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', IN, qcow2]), 1);
  const qc = { s: r.ms / 1000, bytes: fileSize(qcow2) };
  ctx.results.raw.qemuImgConvert = { ms: r.ms, rssKiB: r.rssKiB, bytes: qc.bytes };
  return qc;
}

/** One run: `mksquashfs` of a directory holding the input (a hard link, else a sparse copy). */
async function mksquashfs(ctx: BenchContext, IN: string, sqfs: string): Promise<{ s: number; bytes: number }> {
  log('pack: mksquashfs -comp zstd -Xcompression-level 3 (one run) ...');
  const dir = ctx.path('squash-in');
  mkdirSync(dir);
  const inDir = join(dir, basename(IN));
  let how = 'hard link';
  try {
    linkSync(IN, inDir);
  } catch {
    how = 'sparse copy';
    execFileSync('cp', ['--sparse=always', IN, inDir]);
    warm(inDir);
  }
  const [r] = await ctx.runs.repeat('mksquashfs', fresh(sqfs), () => run('mksquashfs', [dir, sqfs, '-comp', 'zstd', '-Xcompression-level', '3', '-noappend', '-quiet', '-no-progress']), 1);
  rmSync(dir, { force: true, recursive: true });
  const sq = { s: r.ms / 1000, bytes: fileSize(sqfs) };
  ctx.results.raw.mksquashfs = { ms: r.ms, rssKiB: r.rssKiB, bytes: sq.bytes, input: how };
  ctx.results.note(`mksquashfs packs a directory holding the input (${how}); -Xcompression-level 3 to match zstd -3 (its default level is 15); 128 KiB blocks.`);
  return sq;
}
