/**
 * The random-read peer: `qemu-io` reading 4 KiB at each offset of the zstd qcow2, a fresh
 * process per read (page cache warm, and dropped when permitted) and one process reading every
 * offset twice. Its time per read is 1 / the ops/sec it prints for the read command, so process
 * start and image open are left out.
 */
import { writeFileSync } from 'node:fs';
import type { BenchContext } from '../lib/context.js';
import { log } from '../lib/log.js';
import { readRaw } from '../lib/offsets.js';
import { dropCaches, warm } from '../lib/page-cache.js';
import { run, type RunResult } from '../lib/run.js';
import { median } from '../lib/stats.js';

const MiB = 1 << 20;

export interface QemuIoReads {
  /** Fresh process per read, page cache warm (µs per read op). */
  coldPc: number[];
  /** Fresh process per read, page cache dropped before each; null when not permitted. */
  coldDrop: number[] | null;
  /** Second read of each offset in one process (µs), or the wall-clock estimate when ops/sec is missing. */
  warm: number[];
  /** First read of each offset in that process. */
  first: number[];
  warmWallPerRead: number;
  /** How a read's time was obtained: 'ops/sec' or 'wall - no-op baseline'. */
  method: string;
  baselineMs: number;
}

/**
 * Times qemu-io's reads of `offsets` (4 KiB each) in `qcow2`; `phase` wraps each pass to record
 * the CPU other processes used meanwhile.
 * @throws Error when qemu-io does not report a complete 4 KiB read.
 */
export async function qemuIoReads(ctx: BenchContext, qcow2: string, offsets: number[], dropOk: boolean,
  phase: (name: string, fn: () => Promise<void>) => Promise<void>, phaseOther: Record<string, number | null>): Promise<QemuIoReads> {
  // Baseline for when qemu-io does not print ops/sec: a no-op run's wall time.
  const base: number[] = [];
  for (let i = 0; i < 5; i++) base.push((await run('qemu-io', ['-f', 'qcow2', '-r', '-c', 'read 0 0', qcow2])).ms);
  const baselineMs = median(base);
  let method = 'ops/sec';
  const opUs = (r: RunResult): number[] => [...r.stdout.matchAll(/([\d.]+) ops\/sec/g)].map((x) => 1e6 / Number(x[1]));
  const one = async (off: number): Promise<number> => {
    const r = await run('qemu-io', ['-f', 'qcow2', '-r', '-c', `read ${off} 4k`, qcow2]);
    if (!/read 4096\/4096 bytes/.test(r.stdout)) throw new Error(`qemu-io read failed: ${r.stdout} ${r.stderr}`);
    const us = opUs(r);
    if (us.length && Number.isFinite(us[0])) return us[0];
    method = 'wall - no-op baseline';
    return (r.ms - baselineMs) * 1000;
  };
  // A tiny zstd qcow2 used to reload qemu-io's own binary pages after a cache drop, so the
  // measured read does not also pay for paging in qemu's code (hexz's code stays resident).
  const tinyRaw = ctx.path('tiny.raw');
  const tiny = ctx.path('tiny.qcow2');
  writeFileSync(tinyRaw, readRaw(ctx.input.path, offsets[0] - (offsets[0] % MiB), MiB));
  await run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', tinyRaw, tiny]);

  warm(qcow2);
  log('random reads: qemu-io cold (fresh process per read, page cache warm) ...');
  const coldPc: number[] = [];
  await phase('qemu-io cold, page cache warm', async () => { for (const off of offsets) coldPc.push(await one(off)); });
  let coldDrop: number[] | null = null;
  if (dropOk) {
    log('random reads: qemu-io cold (fresh process per read, page cache dropped before each) ...');
    const cd: number[] = (coldDrop = []);
    await phase('qemu-io cold, page cache dropped', async () => {
      for (const off of offsets) {
        dropCaches(1);
        await run('qemu-io', ['-f', 'qcow2', '-r', '-c', 'read 0 64k', tiny]);
        cd.push(await one(off));
      }
    });
  }
  log('random reads: qemu-io warm (one process, each offset read twice) ...');
  warm(qcow2);
  const args = ['-f', 'qcow2', '-r'];
  for (const off of offsets) args.push('-c', `read ${off} 4k`, '-c', `read ${off} 4k`);
  const r = await run('qemu-io', [...args, qcow2]);
  phaseOther['qemu-io warm'] = r.other === undefined ? null : +r.other.toFixed(3); // null when it ran under 1 s
  const all = opUs(r);
  const warmQ = all.length === offsets.length * 2 ? all.filter((_, i) => i % 2 === 1) : [];
  const firstQ = all.length === offsets.length * 2 ? all.filter((_, i) => i % 2 === 0) : [];
  if (!warmQ.length) method = 'wall - no-op baseline';
  const warmWallPerRead = ((r.ms - baselineMs) * 1000) / (offsets.length * 2);
  ctx.results.raw.qemuIoRandom = { coldPageCacheWarmUs: coldPc, coldDroppedUs: coldDrop, warmSecondReadUs: warmQ, warmFirstReadUs: firstQ, warmWallMs: r.ms, baselineNoopMs: baselineMs, method };
  return { coldPc, coldDrop, warm: warmQ.length ? warmQ : [warmWallPerRead], first: firstQ, warmWallPerRead, method, baselineMs };
}
