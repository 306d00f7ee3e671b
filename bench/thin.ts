/**
 * Thin-snapshot benchmark (docs/FORMAT.md §15): the incremental cost of a second version of a
 * disk image after the first. hexz packs v1 in full, then v2 thin against it (`parent`); the
 * thin archive's size is the incremental stored bytes. Fixed 64K blocks (the defaults) and CDC
 * (`cdc: true` on v1; the thin child inherits it). Peers on the same pair, in the same run, each
 * in a fresh repository, measuring the growth of the repository (or store) from v1 to v2 and the
 * wall time of the v2 step: `borg create` (fixed 64K and buzhash), `restic backup`, `casync make`
 * and `bup split`; each is skipped when not on PATH, and a failing peer is recorded with its
 * stderr rather than ending the run. Ratios are hexz-thin / peer (below 1: hexz stores less or
 * is faster). Last, random 4 KiB reads of the thin v2 (whose blocks mostly live in v1.hxz) vs a
 * full pack of v2, warm (3000 reads, alternated twice, best of each) and, as root, after
 * dropping the page cache (500 reads).
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:thin     # disk-v1.raw + disk-v2.raw
 *
 * Without HEXZ_CORPUS, two generated 256 MiB inputs are used (v2 = v1 with scattered edits and
 * a few insertions). Results are printed and written to bench/results/thin-latest.json.
 * HEXZ_BENCH_KEEP=1 keeps the temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../src/pack/pack.js';
import { fillPseudoText } from './lib/generated-image.js';
import { coldStoredReads, randomStoredReads, type ReadStats } from './lib/stored-reads.js';
import { warm } from './lib/page-cache.js';
import { have } from './lib/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-thin-'));

function inputs(): [string, string] {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return [join(corpus, 'disk-v1.raw'), join(corpus, 'disk-v2.raw')];
  // Generated: text-like v1 with a zero run every 32 MiB; v2 = v1 with 64 scattered 1 KiB edits
  // and three short insertions late in the file (so fixed blocks lose alignment only after them).
  let x = 12345;
  const v1 = Buffer.alloc(256 * MiB);
  fillPseudoText(v1, x);
  for (let at = 0; at < v1.length; at += 32 * MiB) v1.fill(0, at, at + 2 * MiB);
  const v2 = Buffer.from(v1);
  for (let k = 0; k < 64; k++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; const at = (x >>> 0) % (v2.length - 1024); v2.fill(0x5a + (k & 7), at, at + 1024); }
  const cuts = [0.6, 0.8, 0.95].map((f) => Math.floor(v2.length * f));
  const parts: Buffer[] = [];
  let from = 0;
  for (const [i, c] of cuts.entries()) { parts.push(v2.subarray(from, c), Buffer.alloc(100 + i * 37, 0x41 + i)); from = c; }
  parts.push(v2.subarray(from));
  writeFileSync(join(work, 'v1.raw'), v1);
  writeFileSync(join(work, 'v2.raw'), Buffer.concat(parts));
  return [join(work, 'v1.raw'), join(work, 'v2.raw')];
}

/** Sum of the apparent sizes of the files under `path` (a file or a directory). */
function duBytes(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (st.isFile()) return st.size;
  let n = 0;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

/** First line a command prints for its version, or null. */
function version(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim().split('\n')[0] : null;
}

class StepError extends Error {}

/** Runs a command, returning its wall time in seconds; throws a StepError with its stderr on failure. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string[]): number {
  const line = `${Object.entries(env).filter(([k]) => !k.endsWith('PASSWORD')).map(([k, v]) => `${k}=${v} `).join('')}${cmd} ${args.join(' ')}`;
  log.push(line);
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 64 * MiB });
  const seconds = (performance.now() - t) / 1000;
  if (r.error || r.status !== 0) throw new StepError(`${line} failed (${r.error?.message ?? `exit ${r.status}${r.signal ? `, ${r.signal}` : ''}`}): ${String(r.stderr ?? '').trim().slice(-2000)}`);
  return seconds;
}

interface Row {
  tool: string;
  settings: string;
  /** Stored bytes after v1 (archive or repository). */
  v1Bytes: number;
  v1Seconds: number;
  /** Stored bytes v2 added: the thin archive, or repository growth (+ index file for casync). */
  incrementalBytes: number;
  /** Wall time of the v2 step. */
  seconds: number;
  commands?: string[];
  error?: string;
  skipped?: string;
}

interface Peer {
  tool: string;
  bin: string;
  settings: string;
  /** Prepares a fresh repository in `dir`; returns env for the steps. */
  init: (dir: string, log: string[]) => NodeJS.ProcessEnv;
  /** Stores one version (`name` v1 or v2); returns nothing, timed by the caller. */
  step: (dir: string, name: 'v1' | 'v2', file: string, env: NodeJS.ProcessEnv, log: string[]) => number;
  /** Bytes the repository holds (for casync: the store plus the index files made so far). */
  size: (dir: string) => number;
}

const BORG_ENV = (dir: string) => ({
  BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', BORG_BASE_DIR: join(dir, 'home'), BORG_CACHE_DIR: join(dir, 'cache'), BORG_CONFIG_DIR: join(dir, 'config'),
});

function borgPeer(settings: string, params: string): Peer {
  return {
    tool: 'borg create', bin: 'borg', settings,
    init: (dir, log) => { const env = BORG_ENV(dir); run('borg', ['init', '--encryption', 'none', join(dir, 'repo')], env, log); return env; },
    step: (dir, name, file, env, log) => run('borg', ['create', '--compression', 'zstd,3', '--chunker-params', params, `${join(dir, 'repo')}::${name}`, file], env, log),
    size: (dir) => duBytes(join(dir, 'repo')),
  };
}

const PEERS: Peer[] = [
  borgPeer('fixed 64K, zstd 3', 'fixed,65536'),
  borgPeer('buzhash 19,23,21,4095 (default), zstd 3', 'buzhash,19,23,21,4095'),
  {
    tool: 'restic backup', bin: 'restic', settings: 'defaults (repo v2, compression auto = zstd; CDC 512K/1M/8M)',
    init: (dir, log) => {
      const env = { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD: 'bench password', RESTIC_CACHE_DIR: join(dir, 'cache') };
      run('restic', ['init'], env, log);
      return env;
    },
    step: (_dir, _name, file, env, log) => run('restic', ['backup', '--quiet', file], env, log),
    size: (dir) => duBytes(join(dir, 'repo')),
  },
  {
    tool: 'casync make', bin: 'casync', settings: 'defaults (buzhash 16K/64K/256K, zstd)',
    init: (dir) => { mkdirSync(join(dir, 'store'), { recursive: true }); return {}; },
    step: (dir, name, file, env, log) => run('casync', ['make', `--store=${join(dir, 'store')}`, join(dir, `${name}.caibx`), file], env, log),
    size: (dir) => duBytes(join(dir, 'store')) + duBytes(join(dir, 'v1.caibx')) + duBytes(join(dir, 'v2.caibx')),
  },
  {
    tool: 'bup split', bin: 'bup', settings: 'defaults (rollsum ~8K blobs, zlib 1)',
    init: (dir, log) => {
      const env = { BUP_DIR: join(dir, 'repo'), HOME: join(dir, 'home'), GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@localhost', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@localhost' };
      mkdirSync(env.HOME, { recursive: true });
      run('bup', ['init'], env, log);
      return env;
    },
    step: (_dir, name, file, env, log) => run('bup', ['split', '-n', name, file], env, log),
    size: (dir) => duBytes(join(dir, 'repo')),
  },
];

/** v1 then v2 into a fresh repository under `work`; the repository is removed afterwards. */
function runPeer(p: Peer, v1: string, v2: string): Row {
  const row: Row = { tool: p.tool, settings: p.settings, v1Bytes: NaN, v1Seconds: NaN, incrementalBytes: NaN, seconds: NaN, commands: [] };
  if (!have(p.bin)) return { ...row, commands: undefined, skipped: `${p.bin} not found on PATH` };
  const dir = mkdtempSync(join(work, `${p.bin}-`));
  try {
    const env = p.init(dir, row.commands!);
    warm(v1);
    row.v1Seconds = p.step(dir, 'v1', v1, env, row.commands!);
    row.v1Bytes = p.size(dir);
    warm(v2);
    row.seconds = p.step(dir, 'v2', v2, env, row.commands!);
    row.incrementalBytes = p.size(dir) - row.v1Bytes;
  } catch (err) {
    if (!(err instanceof StepError)) throw err;
    row.error = err.message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return row;
}


async function hexzPack(options: Parameters<typeof pack>[0]): Promise<{ bytes: number; seconds: number; r: Awaited<ReturnType<typeof pack>> }> {
  const t = performance.now();
  const r = await pack({ ...options, force: true });
  return { bytes: r.archiveBytes, seconds: (performance.now() - t) / 1000, r };
}

const fmtMiB = (n: number) => (Number.isFinite(n) ? `${(n / MiB).toFixed(1)} MiB` : '-').padStart(11);
const fmtS = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)} s` : '-').padStart(9);

async function main() {
  const [v1, v2] = inputs();
  const sizes = { v1: statSync(v1).size, v2: statSync(v2).size };
  console.log(`inputs: ${v1} (${(sizes.v1 / MiB).toFixed(0)} MiB), ${v2} (${(sizes.v2 / MiB).toFixed(0)} MiB); temp ${work}`);
  warm(v1); warm(v2);

  // 1. hexz: full v1, then thin v2 against it; fixed 64K blocks and CDC.
  const rows: Row[] = [];
  const hexz: Record<string, unknown> = {};
  for (const [label, cdc] of [['fixed 64K, zstd 3 (defaults)', false], ['FastCDC (cdc: true), zstd 3', true]] as const) {
    const tag = cdc ? '-cdc' : '';
    const p1 = join(work, `v1${tag}.hxz`);
    const p2 = join(work, `v2${tag}.hxz`);
    const full = await hexzPack({ disk: v1, output: p1, ...(cdc ? { cdc: true } : {}) });
    const thin = await hexzPack({ disk: v2, output: p2, parent: p1 });
    rows.push({ tool: 'hexz thin', settings: label, v1Bytes: full.bytes, v1Seconds: full.seconds, incrementalBytes: thin.bytes, seconds: thin.seconds });
    hexz[cdc ? 'cdc' : 'fixed'] = { v1: { path: p1, bytes: full.bytes, seconds: full.seconds }, v2thin: { path: p2, bytes: thin.bytes, seconds: thin.seconds, thin: thin.r.thin, cdc: thin.r.cdc, blockSize: thin.r.blockSize } };
    console.log(`hexz ${label}: v1 ${fmtMiB(full.bytes)} ${fmtS(full.seconds)}; v2 thin ${fmtMiB(thin.bytes)} ${fmtS(thin.seconds)}`);
  }
  // A full (no parent) pack of v2 with the defaults, for size context and the read comparison.
  const fullPath = join(work, 'v2-full.hxz');
  const v2full = await hexzPack({ disk: v2, output: fullPath });
  hexz.v2full = { path: fullPath, bytes: v2full.bytes, seconds: v2full.seconds };
  console.log(`hexz fixed 64K full v2: ${fmtMiB(v2full.bytes)} ${fmtS(v2full.seconds)}`);

  // 3. Random 4 KiB reads: thin v2 (fixed) vs full v2, alternated twice, best (by mean) of each.
  const thinPath = join(work, 'v2.hxz');
  const best = <T extends ReadStats>(x: T | undefined, y: T) => (!x || y.meanUs < x.meanUs ? y : x);
  let rt; let rf;
  for (let round = 0; round < 2; round++) {
    rt = best(rt, await randomStoredReads(thinPath, 3000));
    rf = best(rf, await randomStoredReads(fullPath, 3000));
  }
  const warmReads = { thin: rt!, full: rf!, p50Ratio: rt!.p50us / rf!.p50us, meanRatio: rt!.meanUs / rf!.meanUs };
  const coldThin = await coldStoredReads(thinPath);
  const coldFull = await coldStoredReads(fullPath);
  const cold = coldThin && coldFull ? { thin: coldThin, full: coldFull, p50Ratio: coldThin.p50us / coldFull.p50us, meanRatio: coldThin.meanUs / coldFull.meanUs } : null;
  for (const p of ['v1.hxz', 'v2.hxz', 'v1-cdc.hxz', 'v2-cdc.hxz', 'v2-full.hxz']) rmSync(join(work, p), { force: true });

  // 2. Peers, each in its own fresh repository.
  const versions: Record<string, string | null> = {};
  for (const [bin, args] of [['borg', ['--version']], ['restic', ['version']], ['casync', ['--version']], ['bup', ['--version']]] as const) versions[bin] = have(bin) ? version(bin, [...args]) : null;
  for (const p of PEERS) {
    const row = runPeer(p, v1, v2);
    rows.push(row);
    const what = row.skipped ? `skipped: ${row.skipped}` : row.error ? `FAILED: ${row.error}` : `v1 ${fmtMiB(row.v1Bytes)} ${fmtS(row.v1Seconds)}; v2 +${fmtMiB(row.incrementalBytes)} ${fmtS(row.seconds)}`;
    console.log(`${p.tool} ${p.settings}: ${what}`);
  }

  // 4. Ratios hexz-thin / peer (incremental bytes and v2 time), best peer by size.
  const hexzRows = rows.filter((r) => r.tool === 'hexz thin');
  const peerRows = rows.filter((r) => r.tool !== 'hexz thin' && Number.isFinite(r.incrementalBytes));
  const ratios = hexzRows.flatMap((h) => peerRows.map((p) => ({ hexz: h.settings, peer: `${p.tool} ${p.settings}`, size: h.incrementalBytes / p.incrementalBytes, time: h.seconds / p.seconds })));
  const bestPeer = peerRows.reduce<Row | null>((b, r) => (!b || r.incrementalBytes < b.incrementalBytes ? r : b), null);

  console.log('\nincremental cost of v2 after v1 (hexz: the thin archive; peers: repository growth)');
  console.log(`${'tool'.padEnd(14)} ${'settings'.padEnd(58)} ${'v1 stored'.padStart(11)} ${'v1 time'.padStart(9)} ${'v2 added'.padStart(11)} ${'v2 time'.padStart(9)}`);
  for (const r of rows) {
    const tail = r.skipped ? `  (skipped: ${r.skipped})` : r.error ? '  (FAILED, see JSON)' : '';
    console.log(`${r.tool.padEnd(14)} ${r.settings.padEnd(58)} ${fmtMiB(r.v1Bytes)} ${fmtS(r.v1Seconds)} ${fmtMiB(r.incrementalBytes)} ${fmtS(r.seconds)}${tail}`);
  }
  console.log(`${'hexz full v2'.padEnd(14)} ${'fixed 64K, zstd 3, no parent'.padEnd(58)} ${''.padStart(11)} ${''.padStart(9)} ${fmtMiB(v2full.bytes)} ${fmtS(v2full.seconds)}`);
  console.log('\nhexz thin / peer (below 1: hexz stores less / is faster)');
  for (const q of ratios) console.log(`  ${q.hexz.padEnd(30)} / ${q.peer.padEnd(60)} size ${q.size.toFixed(3)}  time ${q.time.toFixed(3)}`);
  if (bestPeer) console.log(`best peer by size: ${bestPeer.tool} ${bestPeer.settings} (+${(bestPeer.incrementalBytes / MiB).toFixed(1)} MiB)`);
  console.log(`\nrandom 4K reads, warm (3000, best of 2): thin p50 ${warmReads.thin.p50us.toFixed(0)} µs mean ${warmReads.thin.meanUs.toFixed(0)} µs (${(warmReads.thin.parentShare * 100).toFixed(0)}% from the parent); full p50 ${warmReads.full.p50us.toFixed(0)} µs mean ${warmReads.full.meanUs.toFixed(0)} µs; thin/full p50 ${warmReads.p50Ratio.toFixed(3)} mean ${warmReads.meanRatio.toFixed(3)} (target ≤ 1.2)`);
  if (cold) console.log(`random 4K reads, cold (500, page cache dropped): thin p50 ${cold.thin.p50us.toFixed(0)} µs mean ${cold.thin.meanUs.toFixed(0)} µs; full p50 ${cold.full.p50us.toFixed(0)} µs mean ${cold.full.meanUs.toFixed(0)} µs; thin/full p50 ${cold.p50Ratio.toFixed(3)} mean ${cold.meanRatio.toFixed(3)}`);
  else console.log('random 4K reads, cold: skipped (cannot drop the page cache; needs root)');

  const results = {
    inputs: { v1: { path: v1, bytes: sizes.v1 }, v2: { path: v2, bytes: sizes.v2 } }, versions, hexz, rows, ratios,
    bestPeerBySize: bestPeer && { tool: bestPeer.tool, settings: bestPeer.settings, incrementalBytes: bestPeer.incrementalBytes },
    randomRead4k: { warm: warmReads, cold },
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/thin-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwritten bench/results/thin-latest.json');
}

try {
  await main();
} finally {
  if (process.env.HEXZ_BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
}
