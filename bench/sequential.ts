/**
 * Sequential read of a whole disk stream, local, beside the codec's own CLI: the sequential
 * section of bench.ts (bench/sections/sequential.ts) without the rest, with more rounds and an
 * optional second build to compare, runs alternated (a round runs every measure once, in turn),
 * medians and the CPU other processes used during each run reported.
 *
 *   HEXZ_CORPUS=/work/corpus node --import tsx bench/sequential.ts   # $HEXZ_CORPUS/disk-v1.raw
 *   HEXZ_SEQ_ROUNDS=7 HEXZ_SEQ_BASE=/path/to/other/checkout …        # also that build (its dist/, bin/), alternated
 *
 * Measures (archive and .zst/.lz4 in the page cache, output to /dev/null or counted in process):
 * - `hexz cat A.hxz > /dev/null` (a child process: node start, open, read, write), beside
 *   `zstd -d -T0 -c A.zst > /dev/null` of a zstd -3 stream of the same raw image;
 * - in process: `Archive.open` + `createReadStream('disk')` consumed (bench.ts's measure), zstd
 *   and lz4 archives, beside `zstd -d -c` and `lz4 -d -c`.
 * Without HEXZ_CORPUS a generated 512 MiB image is used. Measures a copy of the built dist/ (npm run build first).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { importLib, snapshotBuild, type HexzLib as Lib } from './lib/build-snapshot.js';
import { writeGeneratedImage } from './lib/generated-image.js';
import { warm } from './lib/page-cache.js';
import { timeTree as timed, type TreeRun as Run } from './lib/run.js';
import { must } from './lib/shell.js';
import { upperMedian as median } from './lib/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BASE = process.env.HEXZ_SEQ_BASE ? resolve(process.env.HEXZ_SEQ_BASE) : undefined;
const ROUNDS = Number(process.env.HEXZ_SEQ_ROUNDS ?? 5);
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-seq-'));

/** Runs a shell command (redirections as typed), failing on a non-zero exit. */
const sh = (cmd: string): void => void must(cmd);

async function main(): Promise<void> {
  const corpus = process.env.HEXZ_CORPUS;
  let raw: string;
  if (corpus) raw = join(corpus, 'disk-v1.raw');
  else {
    raw = writeGeneratedImage(join(work, 'disk.raw'));
  }
  const size = statSync(raw).size;
  // A snapshot of the build (as bench.ts does): a concurrent `npm run build` cannot change what is measured.
  const build = snapshotBuild(ROOT, join(work, 'hexz-build'));
  const lib = await importLib(build);
  const baseLib = BASE ? ((await import(pathToFileURL(join(BASE, 'dist', 'index.js')).href)) as Lib) : undefined;
  const hxz = join(work, 'disk.hxz');
  const hxzLz4 = join(work, 'disk-lz4.hxz');
  console.error(`packing ${raw} (${(size / MiB).toFixed(0)} MiB) ...`);
  await lib.pack({ disk: raw, output: hxz });
  await lib.pack({ disk: raw, output: hxzLz4, compression: 'lz4' });
  // The other build reads an archive it packed itself (the format may have moved on since).
  const hxzBase = join(work, 'disk-base.hxz');
  if (baseLib) await baseLib.pack({ disk: raw, output: hxzBase });
  sh(`zstd -q -3 -T0 -f -o ${work}/disk.raw.zst ${raw}`);
  sh(`lz4 -q -1 -f ${raw} ${work}/disk.raw.lz4`);
  for (const p of [hxz, hxzLz4, `${work}/disk.raw.zst`, `${work}/disk.raw.lz4`, ...(baseLib ? [hxzBase] : [])]) warm(p);

  const inProcess = (l: Lib, path: string) => async () => {
    const a = await l.Archive.open(path);
    let n = 0;
    for await (const c of a.createReadStream('disk')) n += (c as Uint8Array).length;
    await a.close();
    if (n !== size) throw new Error(`read ${n} bytes, expected ${size}`);
  };
  const measures: Record<string, () => Promise<void> | void> = {
    'hexz cat > /dev/null': () => sh(`node ${build.bin} cat ${hxz} > /dev/null`),
    ...(BASE ? { 'base: hexz cat > /dev/null': () => sh(`node ${join(BASE, 'bin', 'hexz.js')} cat ${hxzBase} > /dev/null`) } : {}),
    'zstd -d -T0 -c > /dev/null': () => sh(`zstd -d -T0 -c -q ${work}/disk.raw.zst > /dev/null`),
    'createReadStream, zstd archive': inProcess(lib, hxz),
    ...(baseLib ? { 'base: createReadStream, zstd archive': inProcess(baseLib, hxzBase) } : {}),
    'createReadStream, lz4 archive': inProcess(lib, hxzLz4),
    'lz4 -d -c > /dev/null': () => sh(`lz4 -d -c -q ${work}/disk.raw.lz4 > /dev/null`),
  };
  const runs: Record<string, Run[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(measures)) {
      const r = await timed(fn);
      (runs[name] ??= []).push(r);
      console.error(`round ${round + 1} ${name}: ${(r.ms / 1000).toFixed(2)} s, ${r.cpuS.toFixed(2)} CPU s, other processes ${(r.other * 100).toFixed(0)}% CPU`);
    }
  }
  const med = (name: string) => median(runs[name].map((r) => r.ms));
  const rows = Object.keys(runs).map((name) => ({
    measure: name, medianS: +(med(name) / 1000).toFixed(3), MiBps: +(size / MiB / (med(name) / 1000)).toFixed(0),
    cpuS: +median(runs[name].map((r) => r.cpuS)).toFixed(2), otherCpu: `${(median(runs[name].map((r) => r.other)) * 100).toFixed(0)}%`,
    runsS: runs[name].map((r) => +(r.ms / 1000).toFixed(2)),
  }));
  const ratio = (a: string, b: string) => (runs[a] && runs[b] ? +(med(b) / med(a)).toFixed(2) : null);
  const result = {
    date: new Date().toISOString(), input: raw, inputBytes: size, cores: availableParallelism(), loadavgEnd: loadavg().map((x) => +x.toFixed(1)), rounds: ROUNDS, rows,
    ratios: {
      'hexz cat vs zstd -d': ratio('hexz cat > /dev/null', 'zstd -d -T0 -c > /dev/null'),
      'base hexz cat vs zstd -d': ratio('base: hexz cat > /dev/null', 'zstd -d -T0 -c > /dev/null'),
      'createReadStream zstd vs zstd -d': ratio('createReadStream, zstd archive', 'zstd -d -T0 -c > /dev/null'),
      'base createReadStream zstd vs zstd -d': ratio('base: createReadStream, zstd archive', 'zstd -d -T0 -c > /dev/null'),
      'createReadStream lz4 vs lz4 -d': ratio('createReadStream, lz4 archive', 'lz4 -d -c > /dev/null'),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  rmSync(work, { recursive: true, force: true });
}

await main();
