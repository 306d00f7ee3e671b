/**
 * One tree, alternated and screened (lib/screened-runs.ts): `hexz build TREE -o out.hxz`
 * (default GPT + ext4, zstd-3, 64K blocks) beside peer A, `mkfs.ext4 -q -F -d TREE img.raw SIZE`
 * (a sparse raw file of the filesystem size hexz chose) + `hexz pack --disk img.raw`, each part
 * timed too, and peer B, `mksquashfs TREE out.sqfs -comp zstd -Xcompression-level 3` (its default
 * threads), with a separately timed fsync of its image. Then, untimed, e2fsck of what hexz built.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { storedBytes, type BenchTree, type BuildContext, type BuildJson, type PackJson } from './build-context.js';
import { fsckArchive, type FsckResult } from './build-fsck.js';
import { warmTree, type TreeWalk } from './build-tree.js';
import { cpuMark, otherShare } from './cpu-share.js';
import { log } from './log.js';
import { syncAll } from './page-cache.js';
import { msSince, nowNs, run, type RunResult } from './run.js';
import { maxRss, medianS } from './screened-runs.js';
import { median } from './stats.js';
import { waitQuiet } from './wait-quiet.js';

const BLOCK = 4096;

/** What the comparison leaves for the thin rebuild and the report. */
export interface Compared {
  /** The last hexz build's summary. */
  built: BuildJson;
  hexzS: number;
  archiveBytes: number;
  fsck: FsckResult;
}

type PeerARun = RunResult & { mkfsMs: number; packMs: number; pack: PackJson };

/** mkfs.ext4 -d into a sparse file of `fsBytes`, then `hexz pack --disk` of it: one timed run, both parts timed too. */
async function mkfsAndPack(c: BuildContext, tree: string, img: string, out: string, fsBytes: number): Promise<PeerARun> {
  const m0 = cpuMark();
  const t0 = nowNs();
  // mke2fs creates the file (sparse) at the size given; `k`: 1024-byte units.
  const mk = await run('mkfs.ext4', ['-q', '-F', '-d', tree, img, `${fsBytes / 1024}k`]);
  const pk = await run(process.execPath, [c.bin, 'pack', '--disk', img, '-o', out, '--json', '--silent']);
  const ms = msSince(t0);
  return {
    ms, code: 0, stdout: '', stderr: '', other: otherShare(m0, ms), rssKiB: Math.max(mk.rssKiB ?? 0, pk.rssKiB ?? 0) || undefined,
    cpuS: mk.cpuS !== undefined && pk.cpuS !== undefined ? mk.cpuS + pk.cpuS : undefined,
    mkfsMs: mk.ms, packMs: pk.ms, pack: JSON.parse(pk.stdout) as PackJson,
  };
}

/** Blocks in use in an ext2/3/4 image, from `dumpe2fs -h` (Block count − Free blocks), in bytes; null when unreadable. */
function usedBytesOf(img: string): number | null {
  try {
    const out = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(out)?.[1]);
    const v = (get('Block count') - get('Free blocks')) * get('Block size');
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

export async function compareBuild(c: BuildContext, tree: BenchTree, walk: TreeWalk): Promise<Compared> {
  const { results } = c;
  const out = c.path(`${tree.key}.hxz`);
  const img = c.path(`${tree.key}-mkfs.raw`);
  const peerHxz = c.path(`${tree.key}-mkfs.hxz`);
  const sqfs = c.path(`${tree.key}.sqfs`);
  const warmS: number[] = [];
  /** Untimed before every run: last outputs deleted, writeback flushed, the tree read through. */
  const prep = (...outputs: string[]) => () => {
    for (const o of outputs) rmSync(o, { force: true });
    syncAll();
    warmS.push(warmTree(walk).s);
  };
  let built: BuildJson | undefined;
  /** Per hexz run: the filesystem size chosen and the counts it scanned (to tell a changing tree from a non-deterministic size). */
  const seen: { size: number; files?: number; dirs?: number; dataBytes?: number }[] = [];
  const sqfsFsyncMs: number[] = [];
  await waitQuiet(`build ${tree.key}`, c.quiet, c.quietWaitMs);
  log(`build ${tree.path}: hexz build, mkfs.ext4 -d + hexz pack${c.haveSquashfs ? ', mksquashfs' : ''}, alternated ...`);
  const r = await c.runs.alternate({
    hexz: {
      label: `hexz build ${tree.key}`, before: prep(out),
      run: async () => {
        const res = await c.hexz(['build', tree.path, '-o', out, '--json']);
        built = JSON.parse(res.stdout) as BuildJson;
        const p = built.build.partitions[0];
        seen.push({ size: p.size, files: p.files, dirs: p.dirs, dataBytes: p.dataBytes });
        return res;
      },
    },
    mkfs: {
      label: `mkfs.ext4 -d + hexz pack ${tree.key}`, before: prep(img, peerHxz),
      // hexz runs first in every round, so its filesystem size is known here.
      run: () => mkfsAndPack(c, tree.path, img, peerHxz, Math.floor(built!.build.partitions[0].size / BLOCK) * BLOCK),
    },
    sqfs: c.haveSquashfs ? {
      label: `mksquashfs ${tree.key}`, before: prep(sqfs),
      run: async () => {
        const res = await run('mksquashfs', [tree.path, sqfs, '-comp', 'zstd', '-Xcompression-level', '3', '-noappend', '-quiet', '-no-progress']);
        const t0 = nowNs();
        syncAll(sqfs); // fsync of the image alone, timed apart (hexz and mke2fs fsync their output)
        sqfsFsyncMs.push(msSince(t0));
        return res;
      },
    } : undefined,
  });
  const b = built!;
  const part = b.build.partitions[0];
  const fsBytes = Math.floor(part.size / BLOCK) * BLOCK;
  const hexz = { s: medianS(r.hexz), bytes: statSync(out).size, rss: maxRss(r.hexz) };
  const peerA = {
    s: medianS(r.mkfs), mkfsS: median(r.mkfs.map((x) => x.mkfsMs)) / 1000, packS: median(r.mkfs.map((x) => x.packMs)) / 1000,
    bytes: statSync(peerHxz).size, stored: storedBytes(r.mkfs.at(-1)!.pack), used: usedBytesOf(img), rss: maxRss(r.mkfs),
  };
  const peerB = r.sqfs ? { s: medianS(r.sqfs), fsyncS: median(sqfsFsyncMs) / 1000, bytes: statSync(sqfs).size, rss: maxRss(r.sqfs) } : null;
  results.raw[`build ${tree.key}`] = {
    hexz: { runsMs: r.hexz.map((x) => +x.ms.toFixed(0)), rssKiB: r.hexz.map((x) => x.rssKiB), cpuS: r.hexz.map((x) => x.cpuS), archiveBytes: hexz.bytes, summary: b },
    mkfsPack: { runsMs: r.mkfs.map((x) => +x.ms.toFixed(0)), mkfsMs: r.mkfs.map((x) => +x.mkfsMs.toFixed(0)), packMs: r.mkfs.map((x) => +x.packMs.toFixed(0)), rssKiB: r.mkfs.map((x) => x.rssKiB), fsBytes, usedBytes: peerA.used, archiveBytes: peerA.bytes, pack: r.mkfs.at(-1)!.pack },
    mksquashfs: r.sqfs ? { runsMs: r.sqfs.map((x) => +x.ms.toFixed(0)), fsyncMs: sqfsFsyncMs.map((x) => +x.toFixed(0)), rssKiB: r.sqfs.map((x) => x.rssKiB), cpuS: r.sqfs.map((x) => x.cpuS), bytes: peerB!.bytes } : null,
    warmSeconds: warmS.map((x) => +x.toFixed(2)),
    fsSizesSeen: seen,
  };
  const distinct = (f: (x: (typeof seen)[number]) => unknown) => new Set(seen.map((x) => JSON.stringify(f(x)))).size;
  if (distinct((x) => x.size) > 1) {
    const list = seen.map((x) => `${x.size} (${x.files} files, ${x.dirs} dirs, ${x.dataBytes} data bytes)`).join(', ');
    c.alarms.push(distinct((x) => [x.files, x.dirs, x.dataBytes]) > 1
      ? `${tree.path} changed while the bench ran (another process wrote to it): the hexz runs saw different trees and chose filesystem sizes ${list}; peer A used the size of the hexz run just before it`
      : `hexz build chose different filesystem sizes for the same tree (same counts) on different runs: ${list}`);
  }
  for (const f of [img, peerHxz, sqfs]) rmSync(f, { force: true });

  const fsck = fsckArchive(c, out, part.offset, tree.key);
  rmSync(out, { force: true });
  if (!fsck.clean) c.alarms.push(`e2fsck FAILED on the filesystem hexz built from ${tree.path} (exit ${fsck.status}): ${fsck.detail}\n    reproduce: hexz build ${tree.path} -o out.hxz && ${fsck.commands.join(' && ')}`);
  results.raw[`fsck ${tree.key}`] = fsck;

  const G = `build ${tree.path} (whole process, page cache warm, median s)`;
  const measure = 'hexz build (GPT + ext4, zstd-3 64K)';
  const add = results.add.bind(results);
  add({ group: G, measure, hexz: hexz.s, unit: 's', peer: 'mkfs.ext4 -d + hexz pack --disk (A)', peerValue: peerA.s, better: 'lower', target: '<= 0.70x', met: hexz.s <= 0.7 * peerA.s });
  add({ group: G, measure, hexz: hexz.s, unit: 's', peer: '  A part 1: mkfs.ext4 -q -F -d', peerValue: peerA.mkfsS, better: 'lower', target: '' });
  add({ group: G, measure, hexz: hexz.s, unit: 's', peer: '  A part 2: hexz pack --disk img.raw', peerValue: peerA.packS, better: 'lower', target: '' });
  add({ group: G, measure, hexz: hexz.s, unit: 's', peer: 'mksquashfs -comp zstd -Xcl 3 (B)', peerValue: peerB?.s ?? null, better: 'lower', target: '' });
  add({ group: G, measure, hexz: hexz.s, unit: 's', peer: 'mksquashfs + fsync of the image', peerValue: peerB ? peerB.s + peerB.fsyncS : null, better: 'lower', target: '' });
  add({ group: G, measure: 'archive size', hexz: hexz.bytes, unit: 'bytes', peer: 'squashfs image, zstd -Xcl 3 (B)', peerValue: peerB?.bytes ?? null, better: 'lower', target: '<= 1.10x', met: peerB ? hexz.bytes <= 1.1 * peerB.bytes : null });
  add({ group: G, measure: 'archive size', hexz: hexz.bytes, unit: 'bytes', peer: 'hexz pack of the mkfs.ext4 -d image (A)', peerValue: peerA.bytes, better: 'lower', target: '' });
  add({ group: G, measure: 'peak RSS', hexz: hexz.rss, unit: 'KiB', peer: 'A: max of mkfs.ext4 and hexz pack', peerValue: peerA.rss, better: 'lower', target: '' });
  add({ group: G, measure: 'peak RSS', hexz: hexz.rss, unit: 'KiB', peer: 'mksquashfs (B)', peerValue: peerB?.rss ?? null, better: 'lower', target: '' });

  const I = `build ${tree.path}: layout and check (info, one build)`;
  add({ group: I, measure: 'filesystem size (--size auto)', hexz: fsBytes, unit: 'bytes', peer: 'data bytes of the tree (hexz scan)', peerValue: part.dataBytes ?? null, better: 'lower', target: '' });
  add({ group: I, measure: 'space used in the filesystem', hexz: part.usedBytes ?? null, unit: 'bytes', peer: 'mkfs.ext4 -d, same size (dumpe2fs)', peerValue: peerA.used, better: 'lower', target: '' });
  add({ group: I, measure: 'stored bytes (disk stream)', hexz: storedBytes(b), unit: 'bytes', peer: 'hexz pack of the mkfs.ext4 -d image', peerValue: peerA.stored, better: 'lower', target: '' });
  add({ group: I, measure: `e2fsck -fn of the built ext4: ${fsck.clean ? 'clean' : `*** FAILED (exit ${fsck.status}) ***`}`, hexz: null, unit: 's', peer: fsck.clean ? fsck.detail.replace(/^.*?: /, '') : 'see WARNING above the table', peerValue: null, better: 'lower', target: 'clean', met: fsck.clean, ratio: null });

  c.info.push(`${tree.path}: hexz scan ${part.files ?? '?'} files, ${part.dirs ?? '?'} dirs, ${part.inodes ?? '?'} inodes used; walk ${walk.files.length} regular-file names (${walk.hardLinked} hard-linked), ${walk.dirs} dirs, ${walk.symlinks} symlinks, ${walk.others} other; --size auto: ${mib(fsBytes)} filesystem on a ${mib(b.build.diskSize)} ${b.build.table.toUpperCase()} disk (partition at ${part.offset}); stored ${mib(storedBytes(b))} of ${mib(b.logicalBytes)} logical; archive ${mib(hexz.bytes)}; tree read through before every run in ${median(warmS).toFixed(1)} s (median)`);
  return { built: b, hexzS: hexz.s, archiveBytes: hexz.bytes, fsck };
}

export const mib = (n: number) => (n >= 10 * 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);
