/**
 * Sequential read of a whole disk stream, local, beside the codec's own CLI: the "sequential
 * read" rows of bench.ts without the rest, with more rounds, runs alternated (a round runs every
 * measure once, in turn), medians and the CPU other processes used during each run reported.
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
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeGeneratedImage } from './random-reads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BASE = process.env.HEXZ_SEQ_BASE ? resolve(process.env.HEXZ_SEQ_BASE) : undefined;
const ROUNDS = Number(process.env.HEXZ_SEQ_ROUNDS ?? 5);
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-seq-'));

type Lib = typeof import('../dist/index.js');

function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
}

/** CPU seconds of this process and its waited-for children. */
function treeCpu(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
  return (v[11] + v[12] + v[13] + v[14]) / 100;
}

interface Run { ms: number; cpuS: number; other: number }

/** Times `fn`, with the CPU it used and the share of all CPUs other processes used meanwhile. */
async function timed(fn: () => Promise<void> | void): Promise<Run> {
  const m0 = cpuTimes();
  const c0 = treeCpu();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const m1 = cpuTimes();
  const cpuS = treeCpu() - c0;
  const other = Math.max(0, ((m1.busy - m0.busy) / 100 - cpuS) / ((ms / 1000) * availableParallelism()));
  return { ms, cpuS, other };
}

function sh(cmd: string): void {
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

function warm(path: string): void {
  sh(`cat ${path} > /dev/null`);
}

async function main(): Promise<void> {
  const corpus = process.env.HEXZ_CORPUS;
  let raw: string;
  if (corpus) raw = join(corpus, 'disk-v1.raw');
  else {
    raw = writeGeneratedImage(join(work, 'disk.raw'));
  }
  const size = statSync(raw).size;
  // A snapshot of the build (as bench.ts does): a concurrent `npm run build` cannot change what is measured.
  const build = join(work, 'hexz-build');
  mkdirSync(build);
  for (const d of ['dist', 'bin', 'package.json']) cpSync(join(ROOT, d), join(build, d), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'));
  const lib = (await import(pathToFileURL(join(build, 'dist', 'index.js')).href)) as Lib;
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
    'hexz cat > /dev/null': () => sh(`node ${join(build, 'bin', 'hexz.js')} cat ${hxz} > /dev/null`),
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
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
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
