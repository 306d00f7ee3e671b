/**
 * CDC benchmark: hexz fixed blocks vs content-defined chunking on two versions of a disk image
 * packed as the two streams of one archive (dedup across versions is what CDC is for), with
 * stored size and wall time, FastCDC chunker throughput, and `borg create` (buzhash) and
 * `casync make` on the same two files in the same run when those tools are on PATH (borg: two
 * archives v1, v2 in one repository, buzhash and fixed 64K), hexz/peer ratios, and dictionary
 * on/off (`trainDict`) at 4K and 64K blocks on v1.
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:cdc     # disk-v1.raw + disk-v2.raw
 *
 * Without HEXZ_CORPUS, two generated 256 MiB inputs (v2 = v1 with scattered inserts) are used.
 * Results are printed and written to bench/results/cdc-latest.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../src/pack/pack.js';
import { fillPseudoText } from './lib/generated-image.js';
import { have } from './lib/tools.js';
import { FastCdc } from '../src/chunk/fast-cdc.js';
import { DEFAULT_CHUNK_PARAMS } from '../src/chunk/chunk-params.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-cdc-'));

function inputs(): [string, string] {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return [join(corpus, 'disk-v1.raw'), join(corpus, 'disk-v2.raw')];
  // Generated: text-like v1, and v2 = v1 with a few bytes inserted every 8 MiB.
  const v1 = Buffer.alloc(256 * MiB);
  fillPseudoText(v1);
  const parts: Buffer[] = [];
  for (let at = 0; at < v1.length; at += 8 * MiB) parts.push(v1.subarray(at, at + 8 * MiB), Buffer.from('inserted'));
  writeFileSync(join(work, 'v1.raw'), v1);
  writeFileSync(join(work, 'v2.raw'), Buffer.concat(parts));
  return [join(work, 'v1.raw'), join(work, 'v2.raw')];
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  }
  return n;
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

function chunkerThroughput(path: string): number {
  // 512 MiB of the input (or all of it), read first so only the chunker is timed.
  const fd = openSync(path, 'r');
  const n = Math.min(512 * MiB, statSync(path).size);
  const buf = Buffer.alloc(n);
  readSync(fd, buf, 0, n, 0);
  closeSync(fd);
  const cdc = new FastCdc(DEFAULT_CHUNK_PARAMS);
  const t = performance.now();
  for (let at = 0; at < n; at += MiB) cdc.push(buf.subarray(at, at + MiB));
  cdc.finish();
  return n / 1e6 / ((performance.now() - t) / 1000);
}

const rows: { tool: string; settings: string; storedBytes: number; seconds: number }[] = [];
try {
  const [v1, v2] = inputs();
  const logical = statSync(v1).size + statSync(v2).size;
  const mbps = chunkerThroughput(v1);
  for (const [settings, cdc] of [['fixed 64K, zstd 3', false], ['FastCDC 16K/64K/128K, zstd 3', true]] as const) {
    const out = join(work, `hexz-${cdc ? 'cdc' : 'fixed'}.hxz`);
    const r = await pack({ disk: v1, memory: v2, output: out, cdc, force: true });
    rows.push({ tool: 'hexz', settings, storedBytes: r.archiveBytes, seconds: r.seconds });
    rmSync(out);
  }
  if (have('borg')) {
    for (const [settings, params] of [['buzhash 19,23,21,4095, zstd 3', 'buzhash,19,23,21,4095'], ['fixed 64K, zstd 3', 'fixed,65536']] as const) {
      const repo = join(work, `borg-${params.split(',')[0]}`);
      const env = { BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
      spawnSync('borg', ['init', '-e', 'none', repo], { env: { ...process.env, ...env } });
      // Two archives in one repository, as v1 and v2 are two streams of one hexz archive.
      const s = timed('borg', ['create', '--compression', 'zstd,3', '--chunker-params', params, `${repo}::v1`, v1], env)
        + timed('borg', ['create', '--compression', 'zstd,3', '--chunker-params', params, `${repo}::v2`, v2], env);
      rows.push({ tool: 'borg create', settings, storedBytes: duBytes(repo), seconds: s });
      rmSync(repo, { recursive: true, force: true });
    }
  } else rows.push({ tool: 'borg create', settings: 'not installed (apt-get install borgbackup)', storedBytes: NaN, seconds: NaN });
  if (have('casync')) {
    const store = join(work, 'casync.castr');
    const s = timed('casync', ['make', '--store', store, '--compression=zstd', join(work, 'v1.caibx'), v1])
      + timed('casync', ['make', '--store', store, '--compression=zstd', join(work, 'v2.caibx'), v2]);
    rows.push({ tool: 'casync make', settings: 'buzhash 16K/64K/256K, zstd (per file, shared store)', storedBytes: duBytes(store), seconds: s });
  } else rows.push({ tool: 'casync make', settings: 'not installed (apt-get install casync)', storedBytes: NaN, seconds: NaN });

  // Dictionary on/off at 4K and 64K fixed blocks, v1 only (the dictionary matters most for small blocks).
  const dictRows: typeof rows = [];
  for (const blockSize of ['4K', '64K']) {
    for (const trainDict of [false, true]) {
      const out = join(work, `hexz-dict.hxz`);
      const r = await pack({ disk: v1, output: out, blockSize, trainDict, force: true });
      dictRows.push({ tool: 'hexz (v1)', settings: `fixed ${blockSize}, zstd 3, dictionary ${trainDict ? 'on' : 'off'}`, storedBytes: r.archiveBytes, seconds: r.seconds });
      rmSync(out);
    }
  }
  const line = (r: (typeof rows)[number]) => console.log(`${r.tool.padEnd(12)} ${r.settings.padEnd(52)} ${(r.storedBytes / MiB).toFixed(1).padStart(9)} MiB ${r.seconds.toFixed(1).padStart(7)} s`);
  console.log(`input: ${v1} + ${v2} (${(logical / MiB).toFixed(0)} MiB); FastCDC chunker ${mbps.toFixed(0)} MB/s (one core)`);
  rows.forEach(line);
  // hexz / peer: below 1 means hexz stores less (size) or is faster (time).
  const hexzRows = rows.filter((r) => r.tool === 'hexz');
  const ratios: { hexz: string; peer: string; size: number; time: number }[] = [];
  for (const p of rows.filter((r) => r.tool !== 'hexz' && Number.isFinite(r.storedBytes))) {
    for (const h of hexzRows) {
      ratios.push({ hexz: h.settings, peer: `${p.tool} ${p.settings}`, size: h.storedBytes / p.storedBytes, time: h.seconds / p.seconds });
      console.log(`  hexz ${h.settings} / ${p.tool} ${p.settings}: size ${(h.storedBytes / p.storedBytes).toFixed(3)}, time ${(h.seconds / p.seconds).toFixed(3)}`);
    }
  }
  dictRows.forEach(line);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/cdc-latest.json'), `${JSON.stringify({ inputs: [v1, v2], logicalBytes: logical, chunkerMBps: mbps, rows, ratios, dictRows }, null, 2)}\n`);
} finally {
  if (!existsSync(work) || process.env.HEXZ_BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
}
