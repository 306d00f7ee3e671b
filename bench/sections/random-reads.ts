/**
 * Random 4 KiB read section: hexz's `readAt` at fixed-seed non-zero offsets of the zstd archive
 * — warm (block cached), first read on an open archive, and cold (a new Archive per read, page
 * cache warm, then dropped when permitted) — beside qemu-io on the zstd qcow2 (qemu-io-reads.ts).
 * Samples are single reads, so they cannot be repeated selectively; the CPU other processes
 * used is recorded per phase instead.
 */
import type { BenchContext, PackedArchives } from '../lib/context.js';
import { log } from '../lib/log.js';
import { pickOffsets, readRaw } from '../lib/offsets.js';
import { dropCaches, syncAll, warm } from '../lib/page-cache.js';
import { msSince, nowNs, timeInProcess } from '../lib/run.js';
import { percentile } from '../lib/stats.js';
import { waitQuiet } from '../lib/wait-quiet.js';
import { qemuIoReads, type QemuIoReads } from './qemu-io-reads.js';

const READ = 4096;
/** Passes over the offsets for the back-to-back warm reads (5 x 200 offsets by default: 1000 reads). */
const WARM_PASSES = 5;

export async function randomReadsSection(ctx: BenchContext, packed: PackedArchives): Promise<void> {
  const { results, input } = ctx;
  const { Archive } = ctx.lib;
  const archive = packed.hxzZstd;
  const G = `random 4 KiB reads (${ctx.settings.samples} non-zero 4 KiB-aligned offsets, fixed seed; zstd archive vs zstd qcow2)`;
  await waitQuiet('random reads', ctx.quiet, ctx.settings.quietWaitMs);
  const { offsets, tries } = pickOffsets(input.path, input.size, ctx.settings.samples, READ);
  results.raw.randomOffsets = { count: offsets.length, tries, first: offsets.slice(0, 10) };
  log(`random reads: ${offsets.length} offsets (${tries} tried) ...`);

  // CPU share used by other processes during each phase.
  const phaseOther: Record<string, number | null> = {};
  const phase = async (name: string, fn: () => Promise<void>) => {
    const r = await timeInProcess(fn, 300);
    phaseOther[name] = r.other === undefined ? null : +r.other.toFixed(3);
  };

  // JIT warm-up (untimed): a long-lived reader runs optimized code; without this the warm
  // figures below would mostly measure V8's interpreter on the first few hundred calls.
  {
    const aJ = await Archive.open(archive);
    for (let pass = 0; pass < 3; pass++) for (const off of offsets) await aJ.readAt('disk', off, READ);
    await aJ.close();
  }
  // warm: one Archive, each offset read twice, the second read timed
  const aW = await Archive.open(archive);
  const warmUs: number[] = [];
  const firstUs: number[] = [];
  let mismatches = 0;
  await phase('hexz warm', async () => {
    for (const off of offsets) {
      let t0 = nowNs();
      const b1 = await aW.readAt('disk', off, READ);
      firstUs.push(msSince(t0) * 1000);
      t0 = nowNs();
      await aW.readAt('disk', off, READ);
      warmUs.push(msSince(t0) * 1000);
      if (!Buffer.from(b1).equals(readRaw(input.path, off, READ))) mismatches++;
    }
  });
  // warm, back to back: every block is cached now (the offsets' blocks fit the 64 MiB cache);
  // WARM_PASSES passes over the offsets, each read timed, so that a p99 rests on enough reads
  // (with 200 it is the second-worst one, where one young-generation collection is a sample).
  const warmSteadyUs: number[] = [];
  await phase('hexz warm, back to back', async () => {
    for (let pass = 0; pass < WARM_PASSES; pass++) {
      for (const off of offsets) {
        const t0 = nowNs();
        await aW.readAt('disk', off, READ);
        warmSteadyUs.push(msSince(t0) * 1000);
      }
    }
  });
  await aW.close();
  if (mismatches) throw new Error(`hexz readAt returned wrong bytes at ${mismatches} of ${offsets.length} offsets`);

  /** open+readAt per offset on a new Archive (empty block and index caches); also the readAt part alone. */
  const coldHexz = async (drop: boolean): Promise<{ total: number[]; readOnly: number[] }> => {
    const total: number[] = [];
    const readOnly: number[] = [];
    for (const off of offsets) {
      if (drop) dropCaches(1);
      const t0 = nowNs();
      const a = await Archive.open(archive);
      const t1 = nowNs();
      await a.readAt('disk', off, READ);
      total.push(msSince(t0) * 1000);
      readOnly.push(msSince(t1) * 1000);
      await a.close();
    }
    return { total, readOnly };
  };
  warm(archive);
  log('random reads: hexz cold (fresh Archive.open per read, page cache warm) ...');
  let coldWarmPc = { total: [] as number[], readOnly: [] as number[] };
  await phase('hexz cold, page cache warm', async () => void (coldWarmPc = await coldHexz(false)));
  syncAll();
  // The page cache only (1), not dentries and inodes (3): see the note below.
  const dropOk = dropCaches(1);
  let coldDropped: { total: number[]; readOnly: number[] } | null = null;
  if (dropOk) {
    log('random reads: hexz cold (fresh Archive.open per read, page cache dropped before each) ...');
    await phase('hexz cold, page cache dropped', async () => void (coldDropped = await coldHexz(true)));
  } else {
    log('cannot drop the page cache (/proc/sys/vm/drop_caches is not writable: needs root); "cold" reads hit the OS page cache');
  }
  const dropped = coldDropped as { total: number[]; readOnly: number[] } | null;
  results.raw.hexzRandom = {
    warmUs, warmSteadyUs, firstReadUs: firstUs, coldPageCacheWarmUs: coldWarmPc.total, coldPageCacheWarmReadAtOnlyUs: coldWarmPc.readOnly,
    coldDroppedUs: dropped?.total ?? null, coldDroppedReadAtOnlyUs: dropped?.readOnly ?? null,
  };

  results.raw.randomPhaseOtherCpu = phaseOther; // the qemu-io phases are added below
  const qio: QemuIoReads | null = packed.qcow2 && ctx.tools.qemuIo ? await qemuIoReads(ctx, packed.qcow2, offsets, dropOk, phase, phaseOther) : null;

  const p50 = (xs: number[] | null | undefined) => (xs && xs.length ? percentile(xs, 0.5) : null);
  const p99 = (xs: number[] | null | undefined) => (xs && xs.length ? percentile(xs, 0.99) : null);
  const cold = dropped ?? coldWarmPc;
  const qCold = qio ? qio.coldDrop ?? qio.coldPc : null;
  const pc = dropped ? 'page cache dropped' : 'page cache NOT dropped';
  const qPeer = 'qemu-io read op, fresh process';
  const add = results.add.bind(results);
  add({ group: G, measure: `cold p50, readAt only (${pc})`, hexz: p50(cold.readOnly), unit: 'us', peer: qPeer, peerValue: p50(qCold), better: 'lower', target: '' });
  add({ group: G, measure: `cold p50, open+readAt (${pc})`, hexz: p50(cold.total), unit: 'us', peer: qPeer, peerValue: p50(qCold), better: 'lower', target: '<= 1.50x', met: qCold ? p50(cold.total)! <= 1.5 * p50(qCold)! : null });
  add({ group: G, measure: `cold p99, open+readAt (${pc})`, hexz: p99(cold.total), unit: 'us', peer: qPeer, peerValue: p99(qCold), better: 'lower', target: '' });
  if (dropped) {
    add({ group: G, measure: 'cold p50, open+readAt (page cache warm)', hexz: p50(coldWarmPc.total), unit: 'us', peer: qPeer, peerValue: p50(qio?.coldPc), better: 'lower', target: '' });
    add({ group: G, measure: 'cold p99, open+readAt (page cache warm)', hexz: p99(coldWarmPc.total), unit: 'us', peer: qPeer, peerValue: p99(qio?.coldPc), better: 'lower', target: '' });
    add({ group: G, measure: 'cold p50, readAt only (page cache warm)', hexz: p50(coldWarmPc.readOnly), unit: 'us', peer: qPeer, peerValue: p50(qio?.coldPc), better: 'lower', target: '' });
  }
  add({ group: G, measure: 'warm readAt p50 (block cached)', hexz: p50(warmUs), unit: 'us', peer: 'qemu-io, 2nd read, 1 process', peerValue: p50(qio?.warm), better: 'lower', target: '' });
  add({ group: G, measure: `warm readAt p99 (block cached; each after a first read of another block, ${warmUs.length} reads)`, hexz: p99(warmUs), unit: 'us', peer: 'qemu-io, 2nd read, 1 process', peerValue: p99(qio?.warm), better: 'lower', target: '' });
  add({ group: G, measure: `warm readAt p99 (block cached; ${warmSteadyUs.length} reads back to back)`, hexz: p99(warmSteadyUs), unit: 'us', peer: 'qemu-io, 2nd read, 1 process', peerValue: p99(qio?.warm), better: 'lower', target: '<= 30 us', met: p99(warmSteadyUs)! <= 30 });
  add({ group: G, measure: 'first readAt on open archive p50', hexz: p50(firstUs), unit: 'us', peer: 'qemu-io, 1st read, 1 process', peerValue: p50(qio?.first), better: 'lower', target: '' });
  results.note(`random reads, hexz: measured in this one Node process with process.hrtime around the awaited calls (node startup not counted; the JIT is warmed by 3 untimed passes over the offsets first). "cold" = a new Archive per read (empty block and index-node caches)${dropped ? ', the page cache dropped (echo 1 > /proc/sys/vm/drop_caches) just before each read: only the page cache, so dentries and inodes stay cached — qemu-io\'s read-op time excludes its image open, which is where its path lookup happens, so neither side pays for a cold path lookup' : '; the OS page cache was NOT dropped (drop_caches not writable: needs root)'}; "open+readAt" = Archive.open(path) (file open, header read and check, and whatever else open loads) + readAt (the index nodes not yet loaded, block read, decompress, BLAKE3 check) — the target row; "readAt only" = the readAt part alone on the freshly opened Archive, the scope closest to qemu-io's read-op time (which also leaves out its image open: header + L1 table). "warm" = second readAt of the same 4 KiB on one open Archive (decoded block in its LRU cache), each right after the first read of the next offset's block; "back to back" = ${WARM_PASSES} more passes over the offsets on that Archive, every block cached, each read timed: the target row (its p99 target is absolute), a p99 over ${WARM_PASSES * offsets.length} reads rather than the second-worst of ${offsets.length}. "first readAt on open archive" = the first readAt of each offset on that long-lived Archive (index nodes mostly cached, block not).`);
  if (qio) {
    results.note(`random reads, qemu-io: a fresh \`qemu-io -f qcow2 -r -c 'read OFF 4k'\` per read; its time is 1 / the ops/sec it prints for the read command (${qio.method}), so it excludes process start and image open (header + L1 table) but includes the L2 table load, compressed-cluster read and decompression. ${qio.coldDrop ? 'For the dropped-cache run, after each drop a qemu-io read of a tiny zstd qcow2 (untimed) pages qemu\'s own binary back in first, as hexz\'s code is resident in the measuring process. ' : ''}1st/2nd read, 1 process = one qemu-io process reading every offset twice (its L2 cache and the file's pages warm after the first); for reference, (that process's wall time - a no-op qemu-io run of ${qio.baselineMs.toFixed(1)} ms) / reads = ${qio.warmWallPerRead.toFixed(0)} us.`);
  }
  results.note(`CPU share used by other processes during the random-read phases: ${Object.entries(phaseOther).map(([k, v]) => `${k} ${v === null ? '?' : `${(v * 100).toFixed(0)}%`}`).join(', ')}.`);
}
