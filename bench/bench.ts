/**
 * hexz benchmark: pack / extract / random-read / sequential-read figures of hexz beside
 * `zstd`, `lz4`, `qemu-img`/`qemu-io` (zstd qcow2) and `mksquashfs`, all run in the same run on
 * the same input file, printed as a table and written to bench/results/latest.json.
 *
 *   npm run bench                                # generated 512 MiB sample image
 *   HEXZ_CORPUS=/path/to/corpus npm run bench    # $HEXZ_CORPUS/disk-v1.raw (2 GiB GPT+ext4)
 *
 * Environment knobs: HEXZ_BENCH_RUNS (timed repetitions of pack/extract/sequential, median
 * reported; default 3), HEXZ_BENCH_SAMPLES (random 4 KiB reads; default 200),
 * HEXZ_BENCH_GEN_MIB (size of the generated image; default 512), HEXZ_BENCH_KEEP=1 (keep the
 * work dir), HEXZ_BENCH_NO_TIME=1 (act as if /usr/bin/time were missing, to test that path).
 *
 * Where /proc/sys/vm/drop_caches is writable (root), the random-read section drops the whole
 * machine's page cache before each cold read.
 *
 * The hexz build (bin/ + dist/) is copied into the work dir at start and that copy is what is
 * measured, so a concurrent `npm run build` in the checkout cannot pull dist/ from under a run.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync, writeSync, ftruncateSync, accessSync, constants as fsConstants, lstatSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type HexzLib = typeof import('../dist/index.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = intEnv('HEXZ_BENCH_RUNS', 3);
const SAMPLES = intEnv('HEXZ_BENCH_SAMPLES', 200);
const GEN_MIB = intEnv('HEXZ_BENCH_GEN_MIB', 512);
const KEEP = process.env.HEXZ_BENCH_KEEP === '1';
const MiB = 1 << 20;
const READ = 4096;

// ---------------------------------------------------------------------------------------------
// small utilities

function intEnv(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function have(prog: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${prog}`], { stdio: 'ignore' }).status === 0;
}

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l) ?? '?';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nowNs = () => process.hrtime.bigint();
const msSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const fileSize = (p: string) => statSync(p).size;
const allocated = (p: string) => statSync(p).blocks * 512;
const rm = (p: string) => rmSync(p, { force: true, recursive: true });
const syncAll = () => execFileSync('sync');

interface RunResult {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  rssKiB?: number;
  /** CPU seconds (user + sys) the timed work itself used. */
  cpuS?: number;
  /** Share of all CPUs used by OTHER processes during the run (0..1), when known. */
  other?: number;
}

const TIME = existsSync('/usr/bin/time') && process.env.HEXZ_BENCH_NO_TIME !== '1' ? '/usr/bin/time' : null;
const CLK_TCK = 100; // USER_HZ of /proc/stat on Linux

function cpuTimes(): { busy: number; total: number } | null {
  if (!existsSync('/proc/stat')) return null;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * CPU seconds used by this process and all its waited-for descendants (utime + stime +
 * cutime + cstime of /proc/self/stat): cumulative, so accurate to one clock tick.
 */
function treeCpuS(): number | null {
  if (!existsSync('/proc/self/stat')) return null;
  const f = readFileSync('/proc/self/stat', 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
  return (v[11] + v[12] + v[13] + v[14]) / CLK_TCK;
}

interface CpuMark { machine: ReturnType<typeof cpuTimes>; tree: number | null }
const cpuMark = (): CpuMark => ({ machine: cpuTimes(), tree: treeCpuS() });

/**
 * Share of all CPUs used by processes outside this process tree between `m` and now (kernel
 * threads included, so writeback of our own output counts too). Undefined for spans under
 * `minMs`, where the 10 ms tick resolution makes it meaningless.
 */
function otherShare(m: CpuMark, ms: number, minMs = 1000): number | undefined {
  const machine = cpuTimes();
  const tree = treeCpuS();
  if (!m.machine || !machine || m.tree === null || tree === null || ms < minMs) return undefined;
  const busyS = (machine.busy - m.machine.busy) / CLK_TCK;
  return Math.max(0, Math.min(1, (busyS - (tree - m.tree)) / ((ms / 1000) * availableParallelism())));
}

/**
 * Runs a program as a child process and times it (wall clock around spawn..exit). Under
 * /usr/bin/time (when present) it also gets the child's peak RSS (KiB; worker threads share
 * the process, so they are included) and CPU time, from which the CPU share used by other
 * processes during the run is derived.
 */
function run(cmd: string, args: string[], opts: { stdoutTo?: string; allowFail?: boolean } = {}): Promise<RunResult> {
  let argv = [cmd, ...args];
  const statFile = join(tmpdir(), `.hexz-bench-time-${process.pid}`);
  if (TIME) argv = [TIME, '-f', '%M %U %S', '-o', statFile, ...argv];
  const outFd = opts.stdoutTo ? openSync(opts.stdoutTo, 'w') : null;
  return new Promise((resolvePromise, reject) => {
    const cpu0 = cpuMark();
    const t0 = nowNs();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', outFd ?? 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    child.on('error', (err) => {
      if (outFd !== null) closeSync(outFd);
      reject(err);
    });
    child.on('close', (code) => {
      const ms = msSince(t0);
      if (outFd !== null) closeSync(outFd);
      let rssKiB: number | undefined;
      let cpuS: number | undefined;
      if (TIME) {
        const txt = existsSync(statFile) ? readFileSync(statFile, 'utf8').trim().split('\n').pop()! : '';
        const [m, u, sy] = txt.split(/\s+/).map(Number);
        rssKiB = m || undefined;
        cpuS = Number.isFinite(u) && Number.isFinite(sy) ? u + sy : undefined;
        rm(statFile);
      }
      const r: RunResult = { ms, code: code ?? -1, stdout, stderr, rssKiB, cpuS, other: otherShare(cpu0, ms) };
      if (code !== 0 && !opts.allowFail) reject(new Error(`${argv.join(' ')} exited with ${code}: ${stderr.trim().slice(0, 2000)}`));
      else resolvePromise(r);
    });
  });
}

/** Times in-process async work the same way (CPU of this whole process, all threads). */
async function timeInProcess(fn: () => Promise<void>, minMs = 1000): Promise<RunResult> {
  const cpu0 = cpuMark();
  const u0 = process.cpuUsage();
  const t0 = nowNs();
  await fn();
  const ms = msSince(t0);
  const u = process.cpuUsage(u0);
  const cpuS = (u.user + u.system) / 1e6;
  return { ms, code: 0, stdout: '', stderr: '', cpuS, other: otherShare(cpu0, ms, minMs) };
}

/** Reads a file through so its pages are in the page cache. */
function warm(path: string): void {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 * MiB);
  try {
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Fraction of all CPUs busy over `ms` (this process sleeps meanwhile, so it is other work). */
async function cpuBusy(ms: number): Promise<number | null> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b) return null;
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
}

const quietLog: { section: string; busy: number | null; waitedS: number }[] = [];
/**
 * Waits (up to 2 minutes) until other processes use under 20% of the CPUs, so a section does
 * not start while something else is running; records what it saw.
 */
async function waitQuiet(section: string): Promise<void> {
  const t0 = nowNs();
  let busy = await cpuBusy(1000);
  while (busy !== null && busy > 0.2 && msSince(t0) < 120_000) {
    log(`  machine busy (${(busy * 100).toFixed(0)}% CPU used by other processes); waiting before ${section} ...`);
    busy = await cpuBusy(2000);
  }
  quietLog.push({ section, busy: busy === null ? null : +busy.toFixed(3), waitedS: +(msSince(t0) / 1000).toFixed(1) });
  if (busy !== null && busy > 0.2) log(`  WARNING: still ${(busy * 100).toFixed(0)}% busy; ${section} timings will be skewed`);
}

let canDrop: boolean | null = null;
/** Drops the OS page cache when permitted (root / writable /proc/sys/vm/drop_caches). */
function dropCaches(): boolean {
  if (canDrop === null) {
    try {
      accessSync('/proc/sys/vm/drop_caches', fsConstants.W_OK);
      writeFileSync('/proc/sys/vm/drop_caches', '3');
      canDrop = true;
    } catch {
      canDrop = false;
    }
    return canDrop;
  }
  if (canDrop) writeFileSync('/proc/sys/vm/drop_caches', '3');
  return canDrop;
}

// ---------------------------------------------------------------------------------------------
// input

interface InputInfo { path: string; kind: 'corpus' | 'generated'; size: number; allocated: number; note: string }

/**
 * Generates a sparse sample image of `mib` MiB: extents of concatenated real files from /usr
 * (text, binaries, already-compressed data), holes, explicitly written zeros, duplicates of
 * earlier extents and some random bytes, with a fixed-seed PRNG.
 */
function generateImage(path: string, mib: number): void {
  const size = mib * MiB;
  const rand = mulberry32(0x5eed);
  const files: string[] = [];
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory() && depth < 12) walk(p, depth + 1);
      else if (st.isFile() && st.size > 0 && st.size < 64 * MiB) files.push(p);
    }
  };
  for (const d of ['/usr/bin', '/usr/lib', '/usr/share', '/usr/libexec', '/usr/sbin']) walk(d, 0);
  if (files.length === 0) throw new Error('no files under /usr to build a sample image from');
  let fi = 0;
  let cur = Buffer.alloc(0);
  let curAt = 0;
  const takeUsr = (n: number): Buffer => {
    const parts: Buffer[] = [];
    let got = 0;
    let spins = 0;
    while (got < n) {
      if (curAt >= cur.length) {
        try {
          cur = readFileSync(files[fi++ % files.length]);
        } catch {
          cur = Buffer.alloc(0);
        }
        curAt = 0;
        if (++spins > files.length * 2 && got === 0) throw new Error('could not read files under /usr');
        continue;
      }
      const k = Math.min(n - got, cur.length - curAt);
      parts.push(cur.subarray(curAt, curAt + k));
      curAt += k;
      got += k;
    }
    return Buffer.concat(parts, n);
  };
  const fd = openSync(path, 'w+');
  const written: { at: number; len: number }[] = [];
  try {
    let pos = 0;
    while (pos < size) {
      const len = Math.min(size - pos, (1 + Math.floor(rand() * 256)) * 16384); // 16 KiB .. 4 MiB
      const r = rand();
      let buf: Buffer | null = null;
      if (r < 0.40) buf = null; // hole
      else if (r < 0.82) buf = takeUsr(len);
      else if (r < 0.90 && written.length > 0) {
        // a duplicate of an earlier extent (block-aligned: both start on 16 KiB boundaries)
        const src = written[Math.floor(rand() * written.length)];
        const n = Math.min(len, src.len);
        buf = Buffer.alloc(n);
        readSync(fd, buf, 0, n, src.at);
      } else if (r < 0.95) buf = Buffer.alloc(len); // zeros written out (not a hole)
      else {
        buf = Buffer.allocUnsafe(len);
        for (let i = 0; i < len; i += 4) buf.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
      }
      if (buf) {
        writeSync(fd, buf, 0, buf.length, pos);
        written.push({ at: pos, len: buf.length });
      }
      pos += len;
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

function pickInput(work: string): InputInfo {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) {
    const p = join(corpus, 'disk-v1.raw');
    if (existsSync(p)) {
      return { path: p, kind: 'corpus', size: fileSize(p), allocated: allocated(p), note: `corpus image ${p}` };
    }
    log(`HEXZ_CORPUS is set but ${p} does not exist; generating a sample image instead`);
  }
  const p = join(work, 'sample.raw');
  log(`generating a ${GEN_MIB} MiB sparse sample image from /usr files, zeros, duplicates and random bytes ...`);
  const t0 = nowNs();
  generateImage(p, GEN_MIB);
  log(`  done in ${(msSince(t0) / 1000).toFixed(1)} s`);
  return {
    path: p, kind: 'generated', size: fileSize(p), allocated: allocated(p),
    note: `generated ${GEN_MIB} MiB sample image (no HEXZ_CORPUS/disk-v1.raw); targets are defined for the 2 GiB corpus image`,
  };
}

/** `n` distinct 4 KiB-aligned offsets whose 4 KiB of the raw image are not all zero. */
function pickOffsets(path: string, size: number, n: number): { offsets: number[]; tries: number } {
  const rand = mulberry32(42);
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(READ);
  const zero = Buffer.alloc(READ);
  const seen = new Set<number>();
  const offsets: number[] = [];
  const slots = Math.floor(size / READ);
  let tries = 0;
  try {
    while (offsets.length < n && tries < n * 1000) {
      tries++;
      const off = Math.floor(rand() * slots) * READ;
      if (seen.has(off)) continue;
      seen.add(off);
      readSync(fd, buf, 0, READ, off);
      if (!buf.equals(zero)) offsets.push(off);
    }
  } finally {
    closeSync(fd);
  }
  if (offsets.length < n) throw new Error(`found only ${offsets.length} non-zero 4 KiB blocks in ${path}`);
  return { offsets, tries };
}

function readRaw(path: string, off: number, len: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, off);
    return b;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// results table

type Unit = 's' | 'bytes' | 'us' | 'MiB/s' | 'KiB';
interface Row {
  group: string;
  measure: string;
  hexz: number | null;
  unit: Unit;
  peer: string;
  peerValue: number | null;
  /** hexz / peer */
  ratio: number | null;
  better: 'lower' | 'higher';
  target: string;
  met: boolean | null;
  note?: string;
}

function fmt(v: number | null, unit: Unit): string {
  if (v === null || !Number.isFinite(v)) return '-';
  switch (unit) {
    case 's': return `${v.toFixed(2)} s`;
    case 'bytes': return `${(v / MiB).toFixed(1)} MiB`;
    case 'us': return v >= 10000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(v < 100 ? 1 : 0)} us`;
    case 'MiB/s': return `${v.toFixed(0)} MiB/s`;
    case 'KiB': return `${(v / 1024).toFixed(0)} MiB`;
  }
}

function printTable(rows: Row[]): string {
  const head = ['measure', 'hexz', 'peer', 'peer value', 'ratio hexz/peer', 'better', 'target', 'met?'];
  const cells = rows.map((r) => [
    r.measure, fmt(r.hexz, r.unit), r.peer, fmt(r.peerValue, r.unit),
    r.ratio === null || !Number.isFinite(r.ratio) ? '-' : `${r.ratio.toFixed(2)}x`,
    r.better, r.target || '-', r.met === null ? (r.target ? 'n/a' : '') : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i === 0 || i === 2 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join('  ');
  const out: string[] = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  let group = '';
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].group !== group) {
      if (group) out.push('');
      group = rows[i].group;
      out.push(`[${group}]`);
    }
    out.push(line(cells[i]));
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  const started = nowNs();
  const work = mkdtempSync(join(tmpdir(), 'hexz-bench-'));
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    if (KEEP) log(`keeping work dir ${work}`);
    else rm(work);
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });
  try {
    await bench(work, started);
  } finally {
    cleanup();
  }
}

async function bench(work: string, started: bigint): Promise<void> {
  // Snapshot the build (see the header comment).
  const build = join(work, 'hexz-build');
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  mkdirSync(build);
  cpSync(join(ROOT, 'dist'), join(build, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bin'), join(build, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(build, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'));
  const hexzBin = join(build, 'bin', 'hexz.js');
  const lib = (await import(pathToFileURL(join(build, 'dist', 'index.js')).href)) as HexzLib;
  const { Archive } = lib;

  const tools = { zstd: have('zstd'), lz4: have('lz4'), qemuImg: have('qemu-img'), qemuIo: have('qemu-io'), mksquashfs: have('mksquashfs') };
  const missing = Object.entries({ zstd: 'zstd', lz4: 'lz4', qemuImg: 'qemu-img', qemuIo: 'qemu-io', mksquashfs: 'mksquashfs' })
    .filter(([k]) => !tools[k as keyof typeof tools]).map(([, v]) => v);
  if (missing.length) log(`missing peer programs (skipped): ${missing.join(', ')} — on Debian: apt-get install zstd lz4 qemu-utils squashfs-tools`);
  if (!TIME) log('/usr/bin/time not found: hexz pack peak RSS is measured by an in-process pack in a child node (process.resourceUsage().maxRSS)');

  const input = pickInput(work);
  const IN = input.path;
  // Free space: archives (six of them, each at most about the allocated size), one extracted
  // image at a time, maybe a sparse copy of the input for mksquashfs, plus slack.
  const need = input.allocated * 5 + 512 * MiB;
  const fsInfo = statfsSync(work);
  const free = fsInfo.bavail * fsInfo.bsize;
  if (free < need) throw new Error(`not enough free space in ${work}: ${(free / MiB).toFixed(0)} MiB free, need about ${(need / MiB).toFixed(0)} MiB`);

  const machine = {
    nproc: availableParallelism(), cpu: cpus()[0]?.model ?? '?', memMiB: Math.round(totalmem() / MiB), kernel: release(),
    node: process.version, loadavgStart: loadavg().map((x) => +x.toFixed(2)),
    tools: {
      zstd: tools.zstd ? firstLine('zstd', ['--version']) : null,
      lz4: tools.lz4 ? firstLine('lz4', ['--version']) : null,
      qemuImg: tools.qemuImg ? firstLine('qemu-img', ['--version']) : null,
      mksquashfs: tools.mksquashfs ? firstLine('mksquashfs', ['-version']) : null,
    },
  };
  const header = [
    `hexz benchmark — ${new Date().toISOString()}`,
    `machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memMiB} MiB RAM, Linux ${machine.kernel}, node ${machine.node}, load avg ${machine.loadavgStart.join(' ')}`,
    `input:   ${input.note}`,
    `         ${(input.size / MiB).toFixed(0)} MiB apparent, ${(input.allocated / MiB).toFixed(0)} MiB allocated`,
    `work dir: ${work} (same filesystem as os.tmpdir(); removed at the end)`,
    `runs: pack/extract/sequential timings are the median of ${RUNS} runs; ${SAMPLES} random 4 KiB reads`,
  ];
  for (const l of header) log(l);
  if (machine.loadavgStart[0] > 0.5) log(`WARNING: load average ${machine.loadavgStart[0]} — other work on this machine will skew timings`);

  const P = (name: string) => join(work, name);
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const notes: string[] = [];
  const add = (r: Omit<Row, 'ratio' | 'met'> & { met?: boolean | null; ratio?: number | null }) => {
    const ratio = r.ratio !== undefined ? r.ratio : r.hexz !== null && r.peerValue !== null && r.peerValue > 0 ? r.hexz / r.peerValue : null;
    rows.push({ ...r, ratio, met: r.met ?? null });
  };

  /**
   * Runs `fn` (after `before`, untimed) until `runs` runs were undisturbed — other processes
   * used under DISTURBED of the CPUs meanwhile — or 3 x `runs` attempts were made. Returns the
   * undisturbed runs, or every run when none was.
   */
  const DISTURBED = 0.25;
  const disturbed: { label: string; ms: number; other: number }[] = [];
  /** Measurements that had no undisturbed run at all (their figures use disturbed runs). */
  const noisy: string[] = [];
  const repeat = async <R extends RunResult>(label: string, before: () => void, fn: () => Promise<R>, runs = RUNS): Promise<R[]> => {
    const all: R[] = [];
    const clean: R[] = [];
    for (let i = 0; clean.length < runs && i < runs * 3; i++) {
      before();
      const r = await fn();
      all.push(r);
      const bad = r.other !== undefined && r.other > DISTURBED;
      if (bad) disturbed.push({ label, ms: Math.round(r.ms), other: +r.other!.toFixed(2) });
      else clean.push(r);
      log(`  ${label} run ${i + 1}: ${(r.ms / 1000).toFixed(2)} s${r.rssKiB ? `, peak RSS ${(r.rssKiB / 1024).toFixed(0)} MiB` : ''}${r.other !== undefined ? `, other processes ${(r.other * 100).toFixed(0)}% CPU${bad ? ' (disturbed, repeated)' : ''}` : ''}`);
    }
    if (!clean.length) noisy.push(label);
    return clean.length ? clean : all;
  };
  const med = (rs: RunResult[]) => median(rs.map((r) => r.ms)) / 1000;
  const maxRss = (rs: RunResult[]) => (rs.some((r) => r.rssKiB) ? Math.max(...rs.map((r) => r.rssKiB ?? 0)) : null);

  // ---- pack -----------------------------------------------------------------------------------
  log('warming the page cache with the input ...');
  warm(IN);
  const packOut = { hxzZstd: P('disk.hxz'), hxzLz4: P('disk-lz4.hxz'), zst: P('disk.raw.zst'), lz4: P('disk.raw.lz4'), qcow2: P('disk-zstd.qcow2'), sqfs: P('disk.sqfs') };
  const fresh = (p: string) => () => {
    rm(p);
    syncAll();
  };

  const rssScript = P('pack-rss.mjs');
  writeFileSync(rssScript, [
    `import { pack } from ${JSON.stringify(pathToFileURL(join(build, 'dist', 'index.js')).href)};`,
    `const [disk, output, compression] = process.argv.slice(2);`,
    `const { header, ...r } = await pack({ disk, output, compression, force: true });`,
    `console.log(JSON.stringify({ ...r, maxRssKiB: process.resourceUsage().maxRSS }));`,
  ].join('\n'));
  const hexzPack = async (out: string, codec: 'zstd' | 'lz4'): Promise<RunResult & { summary: Record<string, unknown> }> => {
    let r: RunResult;
    if (TIME) {
      r = await run(process.execPath, [hexzBin, 'pack', '--disk', IN, '-o', out, '--compression', codec, '--silent', '--json']);
    } else {
      r = await run(process.execPath, [rssScript, IN, out, codec]);
    }
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    if (!TIME) r.rssKiB = summary.maxRssKiB as number;
    return { ...r, summary };
  };

  await waitQuiet('pack');
  log('pack: hexz (zstd-3, default) ...');
  const hzRuns = await repeat('hexz pack zstd', fresh(packOut.hxzZstd), () => hexzPack(packOut.hxzZstd, 'zstd'));
  log('pack: hexz --compression lz4 ...');
  const hlRuns = await repeat('hexz pack lz4', fresh(packOut.hxzLz4), () => hexzPack(packOut.hxzLz4, 'lz4'));
  const hz = { s: med(hzRuns), bytes: fileSize(packOut.hxzZstd), rss: maxRss(hzRuns), summary: hzRuns.at(-1)!.summary };
  const hl = { s: med(hlRuns), bytes: fileSize(packOut.hxzLz4), rss: maxRss(hlRuns), summary: hlRuns.at(-1)!.summary };
  raw.hexzPackZstd = { runsMs: hzRuns.map((r) => r.ms), rssKiB: hzRuns.map((r) => r.rssKiB), bytes: hz.bytes, summary: hz.summary };
  raw.hexzPackLz4 = { runsMs: hlRuns.map((r) => r.ms), rssKiB: hlRuns.map((r) => r.rssKiB), bytes: hl.bytes, summary: hl.summary };

  let zs: { s: number; bytes: number; rss: number | null; fsyncS: number } | null = null;
  if (tools.zstd) {
    log('pack: zstd -T0 -3 ...');
    const fsyncs: number[] = [];
    const rs = await repeat('zstd -T0 -3', fresh(packOut.zst), async () => {
      const r = await run('zstd', ['-T0', '-3', '-f', '-q', IN, '-o', packOut.zst]);
      const t0 = nowNs();
      execFileSync('sync', [packOut.zst]); // fsync of the output alone, timed separately (hexz pack fsyncs its output)
      fsyncs.push(msSince(t0));
      return r;
    });
    zs = { s: med(rs), bytes: fileSize(packOut.zst), rss: maxRss(rs), fsyncS: median(fsyncs) / 1000 };
    raw.zstdCompress = { runsMs: rs.map((r) => r.ms), fsyncMs: fsyncs, rssKiB: rs.map((r) => r.rssKiB), bytes: zs.bytes };
  }
  let l4: { s: number; bytes: number } | null = null;
  if (tools.lz4) {
    log('pack: lz4 -1 ...');
    const rs = await repeat('lz4 -1', fresh(packOut.lz4), () => run('lz4', ['-1', '-f', '-q', IN, packOut.lz4]));
    l4 = { s: med(rs), bytes: fileSize(packOut.lz4) };
    raw.lz4Compress = { runsMs: rs.map((r) => r.ms), rssKiB: rs.map((r) => r.rssKiB), bytes: l4.bytes };
  }
  let qc: { s: number; bytes: number } | null = null;
  if (tools.qemuImg) {
    log('pack: qemu-img convert -c -O qcow2 -o compression_type=zstd (one run) ...');
    const [r] = await repeat('qemu-img convert', fresh(packOut.qcow2), () => run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', IN, packOut.qcow2]), 1);
    qc = { s: r.ms / 1000, bytes: fileSize(packOut.qcow2) };
    raw.qemuImgConvert = { ms: r.ms, rssKiB: r.rssKiB, bytes: qc.bytes };
  }
  let sq: { s: number; bytes: number } | null = null;
  if (tools.mksquashfs) {
    log('pack: mksquashfs -comp zstd -Xcompression-level 3 (one run) ...');
    const dir = P('squash-in');
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
    const [r] = await repeat('mksquashfs', fresh(packOut.sqfs), () => run('mksquashfs', [dir, packOut.sqfs, '-comp', 'zstd', '-Xcompression-level', '3', '-noappend', '-quiet', '-no-progress']), 1);
    rm(dir);
    sq = { s: r.ms / 1000, bytes: fileSize(packOut.sqfs) };
    raw.mksquashfs = { ms: r.ms, rssKiB: r.rssKiB, bytes: sq.bytes, input: how };
    notes.push(`mksquashfs packs a directory holding the input (${how}); -Xcompression-level 3 to match zstd -3 (its default level is 15); 128 KiB blocks.`);
  }

  const G1 = 'pack';
  add({ group: G1, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'zstd -T0 -3', peerValue: zs?.s ?? null, better: 'lower', target: '<= 1.00x', met: zs ? hz.s <= zs.s : null });
  if (zs) add({ group: G1, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'zstd -T0 -3 + fsync of output', peerValue: zs.s + zs.fsyncS, better: 'lower', target: '' });
  add({ group: G1, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'qemu-img convert -c zstd qcow2', peerValue: qc?.s ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'pack time, zstd-3 (default)', hexz: hz.s, unit: 's', peer: 'mksquashfs -comp zstd -Xcl 3', peerValue: sq?.s ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'pack time, lz4', hexz: hl.s, unit: 's', peer: 'hexz pack (zstd-3)', peerValue: hz.s, better: 'lower', target: '<= 0.50x', met: hl.s <= hz.s / 2 });
  add({ group: G1, measure: 'pack time, lz4', hexz: hl.s, unit: 's', peer: 'lz4 -1', peerValue: l4?.s ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'qcow2 (qemu-img -c zstd)', peerValue: qc?.bytes ?? null, better: 'lower', target: '<= 1.00x', met: qc ? hz.bytes <= qc.bytes : null });
  add({ group: G1, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'zstd -T0 -3', peerValue: zs?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'archive size, zstd-3', hexz: hz.bytes, unit: 'bytes', peer: 'squashfs zstd -Xcl 3', peerValue: sq?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'archive size, lz4', hexz: hl.bytes, unit: 'bytes', peer: 'lz4 -1', peerValue: l4?.bytes ?? null, better: 'lower', target: '' });
  add({ group: G1, measure: 'pack peak RSS, zstd-3', hexz: hz.rss, unit: 'KiB', peer: 'zstd -T0 -3', peerValue: zs?.rss ?? null, better: 'lower', target: '< 512 MiB', met: hz.rss === null ? null : hz.rss < 512 * 1024 });
  add({ group: G1, measure: 'pack peak RSS, lz4', hexz: hl.rss, unit: 'KiB', peer: 'zstd -T0 -3', peerValue: zs?.rss ?? null, better: 'lower', target: '< 512 MiB', met: hl.rss === null ? null : hl.rss < 512 * 1024 });
  notes.push('pack: wall time of the whole child process (node startup included for hexz); input in the page cache; hexz fsyncs its output before renaming it into place, zstd/lz4 do not (the "+ fsync" row adds a separately timed fsync of the zstd output).');
  notes.push(`pack peak RSS: ${TIME ? '/usr/bin/time -f %M (max RSS of the process; worker threads share it, so it covers them)' : 'process.resourceUsage().maxRSS of an in-process pack in a child node'}.`);

  // ---- extract --------------------------------------------------------------------------------
  const X = P('extracted.raw');
  const G2 = 'extract (archive in page cache; output is a new sparse file, deleted and synced between runs)';
  await waitQuiet('extract');
  log('extract: hexz extract (zstd archive) ...');
  warm(packOut.hxzZstd);
  const exRuns = await repeat('hexz extract', fresh(X), () => run(process.execPath, [hexzBin, 'extract', packOut.hxzZstd, '-o', X, '--silent']));
  const exCheck = allocated(X);
  const hexExtract = med(exRuns);
  raw.hexzExtractZstd = { runsMs: exRuns.map((r) => r.ms), outputAllocated: exCheck };
  let zsd: { s: number; fsyncS: number } | null = null;
  if (zs) {
    log('extract: zstd -d -T0 ...');
    warm(packOut.zst);
    const fsyncs: number[] = [];
    const rs = await repeat('zstd -d', fresh(X), async () => {
      const r = await run('zstd', ['-d', '-T0', '-f', '-q', packOut.zst, '-o', X]);
      const t0 = nowNs();
      execFileSync('sync', [X]);
      fsyncs.push(msSince(t0));
      return r;
    });
    zsd = { s: med(rs), fsyncS: median(fsyncs) / 1000 };
    raw.zstdDecompress = { runsMs: rs.map((r) => r.ms), fsyncMs: fsyncs, outputAllocated: allocated(X) };
  }
  log('extract: hexz extract (lz4 archive) ...');
  warm(packOut.hxzLz4);
  const exLRuns = await repeat('hexz extract lz4', fresh(X), () => run(process.execPath, [hexzBin, 'extract', packOut.hxzLz4, '-o', X, '--silent']));
  const hexExtractLz4 = med(exLRuns);
  raw.hexzExtractLz4 = { runsMs: exLRuns.map((r) => r.ms) };
  let l4d: number | null = null;
  if (l4) {
    log('extract: lz4 -d ...');
    warm(packOut.lz4);
    const rs = await repeat('lz4 -d', fresh(X), () => run('lz4', ['-d', '-f', '-q', packOut.lz4, X]));
    l4d = med(rs);
    raw.lz4Decompress = { runsMs: rs.map((r) => r.ms), outputAllocated: allocated(X) };
  }
  let qcx: number | null = null;
  if (qc) {
    log('extract: qemu-img convert -O raw (one run) ...');
    warm(packOut.qcow2);
    const [r] = await repeat('qemu-img convert -O raw', fresh(X), () => run('qemu-img', ['convert', '-O', 'raw', packOut.qcow2, X]), 1);
    qcx = r.ms / 1000;
    raw.qemuImgToRaw = { ms: r.ms, outputAllocated: allocated(X) };
  }
  fresh(X)();
  add({ group: G2, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'zstd -d -T0', peerValue: zsd?.s ?? null, better: 'lower', target: '<= 1.50x', met: zsd ? hexExtract <= 1.5 * zsd.s : null });
  if (zsd) add({ group: G2, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'zstd -d -T0 + fsync of output', peerValue: zsd.s + zsd.fsyncS, better: 'lower', target: '' });
  add({ group: G2, measure: 'extract time, zstd archive', hexz: hexExtract, unit: 's', peer: 'qemu-img convert -O raw', peerValue: qcx, better: 'lower', target: '' });
  add({ group: G2, measure: 'extract time, lz4 archive', hexz: hexExtractLz4, unit: 's', peer: 'lz4 -d', peerValue: l4d, better: 'lower', target: '' });
  notes.push('extract: hexz extract writes a sparse file and fsyncs it before renaming it into place; zstd -d writes sparse too (--sparse is its default for files) but does not fsync — see the "+ fsync" row.');

  // ---- sequential read ------------------------------------------------------------------------
  const G3 = 'sequential read of the whole disk stream (archive in page cache; logical bytes / wall time)';
  const seqHexz = async (path: string): Promise<number[]> => {
    warm(path);
    const rs = await repeat(`hexz createReadStream ${basename(path)}`, () => {}, () => timeInProcess(async () => {
      const a = await Archive.open(path);
      let n = 0;
      for await (const chunk of a.createReadStream('disk')) n += (chunk as Uint8Array).length;
      await a.close();
      if (n !== input.size) throw new Error(`createReadStream returned ${n} bytes, expected ${input.size}`);
    }));
    return rs.map((r) => r.ms);
  };
  const mibps = (ms: number) => input.size / MiB / (ms / 1000);
  await waitQuiet('sequential');
  log('sequential: hexz createReadStream (zstd archive, in process) ...');
  const seqZ = await seqHexz(packOut.hxzZstd);
  log('sequential: hexz createReadStream (lz4 archive, in process) ...');
  const seqL = await seqHexz(packOut.hxzLz4);
  raw.hexzSeqZstdMs = seqZ;
  raw.hexzSeqLz4Ms = seqL;
  let seqZstd: number | null = null;
  if (zs) {
    log('sequential: zstd -d -c > /dev/null ...');
    warm(packOut.zst);
    const rs = await repeat('zstd -d -c', () => {}, () => run('zstd', ['-d', '-T0', '-c', '-q', packOut.zst], { stdoutTo: '/dev/null' }));
    seqZstd = median(rs.map((r) => r.ms));
    raw.zstdSeqMs = rs.map((r) => r.ms);
  }
  let seqLz4: number | null = null;
  if (l4) {
    log('sequential: lz4 -d -c > /dev/null ...');
    warm(packOut.lz4);
    const rs = await repeat('lz4 -d -c', () => {}, () => run('lz4', ['-d', '-c', '-q', packOut.lz4], { stdoutTo: '/dev/null' }));
    seqLz4 = median(rs.map((r) => r.ms));
    raw.lz4SeqMs = rs.map((r) => r.ms);
  }
  let seqQemu: number | null = null;
  if (qc) {
    log('sequential: qemu-img bench (1 MiB sequential reads, depth 1) ...');
    warm(packOut.qcow2);
    const count = Math.ceil(input.size / MiB);
    const rs = await repeat('qemu-img bench', () => {}, () => run('qemu-img', ['bench', '-f', 'qcow2', '-c', String(count), '-s', '1M', '-S', '1M', '-d', '1', packOut.qcow2]));
    seqQemu = median(rs.map((r) => r.ms));
    raw.qemuImgBenchMs = rs.map((r) => r.ms);
  }
  add({ group: G3, measure: 'sequential read, zstd archive', hexz: mibps(median(seqZ)), unit: 'MiB/s', peer: 'zstd -d -c > /dev/null', peerValue: seqZstd === null ? null : mibps(seqZstd), better: 'higher', target: '' });
  add({ group: G3, measure: 'sequential read, zstd archive', hexz: mibps(median(seqZ)), unit: 'MiB/s', peer: 'qemu-img bench, zstd qcow2', peerValue: seqQemu === null ? null : mibps(seqQemu), better: 'higher', target: '' });
  add({ group: G3, measure: 'sequential read, lz4 archive', hexz: mibps(median(seqL)), unit: 'MiB/s', peer: 'lz4 -d -c > /dev/null', peerValue: seqLz4 === null ? null : mibps(seqLz4), better: 'higher', target: '' });
  notes.push('sequential: hexz = Archive.open + createReadStream("disk") consumed in this process (default 1 MiB chunks and read-ahead; node startup not counted); zstd/lz4 = child process decompressing to /dev/null; qemu-img bench = child process, 1 MiB reads one at a time over the qcow2 (process start and image open included).');

  // ---- random 4 KiB reads ----------------------------------------------------------------------
  const G4 = `random 4 KiB reads (${SAMPLES} non-zero 4 KiB-aligned offsets, fixed seed; zstd archive vs zstd qcow2)`;
  await waitQuiet('random reads');
  const { offsets, tries } = pickOffsets(IN, input.size, SAMPLES);
  raw.randomOffsets = { count: offsets.length, tries, first: offsets.slice(0, 10) };
  log(`random reads: ${offsets.length} offsets (${tries} tried) ...`);

  // CPU share used by other processes during each phase (samples cannot be repeated selectively).
  const phaseOther: Record<string, number | null> = {};
  const phase = async (name: string, fn: () => Promise<void>) => {
    const r = await timeInProcess(fn, 300);
    phaseOther[name] = r.other === undefined ? null : +r.other.toFixed(3);
  };
  const childPhase = phase; // the process-tree CPU accounting covers the children too

  // JIT warm-up (untimed): a long-lived reader runs optimized code; without this the warm
  // figures below would mostly measure V8's interpreter on the first few hundred calls.
  {
    const aJ = await Archive.open(packOut.hxzZstd);
    for (let pass = 0; pass < 3; pass++) for (const off of offsets) await aJ.readAt('disk', off, READ);
    await aJ.close();
  }
  // warm: one Archive, each offset read twice, the second read timed
  const aW = await Archive.open(packOut.hxzZstd);
  const warmUs: number[] = [];
  const firstUs: number[] = [];
  let mismatches = 0;
  await phase('hexz warm', async () => { for (const off of offsets) {
    let t0 = nowNs();
    const b1 = await aW.readAt('disk', off, READ);
    firstUs.push(msSince(t0) * 1000);
    t0 = nowNs();
    await aW.readAt('disk', off, READ);
    warmUs.push(msSince(t0) * 1000);
    if (!Buffer.from(b1).equals(readRaw(IN, off, READ))) mismatches++;
  } });
  await aW.close();
  if (mismatches) throw new Error(`hexz readAt returned wrong bytes at ${mismatches} of ${offsets.length} offsets`);
  // cold, page cache warm: a fresh Archive per offset (empty block and index caches)
  warm(packOut.hxzZstd);
  /** open+readAt per offset on a new Archive; also returns the readAt part alone. */
  const coldHexz = async (drop: boolean): Promise<{ total: number[]; readOnly: number[] }> => {
    const total: number[] = [];
    const readOnly: number[] = [];
    for (const off of offsets) {
      if (drop) dropCaches();
      const t0 = nowNs();
      const a = await Archive.open(packOut.hxzZstd);
      const t1 = nowNs();
      await a.readAt('disk', off, READ);
      total.push(msSince(t0) * 1000);
      readOnly.push(msSince(t1) * 1000);
      await a.close();
    }
    return { total, readOnly };
  };
  log('random reads: hexz cold (fresh Archive.open per read, page cache warm) ...');
  let coldWarmPcR = { total: [] as number[], readOnly: [] as number[] };
  await phase('hexz cold, page cache warm', async () => void (coldWarmPcR = await coldHexz(false)));
  const coldWarmPc = coldWarmPcR.total;
  syncAll();
  const dropOk = dropCaches();
  let coldDropped: number[] | null = null;
  let coldDroppedReadOnly: number[] | null = null;
  if (dropOk) {
    log('random reads: hexz cold (fresh Archive.open per read, page cache dropped before each) ...');
    await phase('hexz cold, page cache dropped', async () => {
      const r = await coldHexz(true);
      coldDropped = r.total;
      coldDroppedReadOnly = r.readOnly;
    });
  } else {
    log('cannot drop the page cache (/proc/sys/vm/drop_caches is not writable: needs root); "cold" reads hit the OS page cache');
  }
  raw.randomPhaseOtherCpu = phaseOther;
  raw.hexzRandom = {
    warmUs, firstReadUs: firstUs, coldPageCacheWarmUs: coldWarmPc, coldPageCacheWarmReadAtOnlyUs: coldWarmPcR.readOnly,
    coldDroppedUs: coldDropped, coldDroppedReadAtOnlyUs: coldDroppedReadOnly,
  };

  // qemu-io on the zstd qcow2
  let qio: { coldPc: number[]; coldDrop: number[] | null; warm: number[]; first: number[]; warmWallPerRead: number; method: string; baselineMs: number } | null = null;
  if (qc && tools.qemuIo) {
    // Baseline for when qemu-io does not print ops/sec: a no-op run's wall time.
    const base: number[] = [];
    for (let i = 0; i < 5; i++) base.push((await run('qemu-io', ['-f', 'qcow2', '-r', '-c', 'read 0 0', packOut.qcow2])).ms);
    const baselineMs = median(base);
    let method = 'ops/sec';
    const opUs = (r: RunResult): number[] => {
      const m = [...r.stdout.matchAll(/([\d.]+) ops\/sec/g)].map((x) => 1e6 / Number(x[1]));
      return m;
    };
    const one = async (off: number): Promise<number> => {
      const r = await run('qemu-io', ['-f', 'qcow2', '-r', '-c', `read ${off} 4k`, packOut.qcow2]);
      if (!/read 4096\/4096 bytes/.test(r.stdout)) throw new Error(`qemu-io read failed: ${r.stdout} ${r.stderr}`);
      const us = opUs(r);
      if (us.length && Number.isFinite(us[0])) return us[0];
      method = 'wall - no-op baseline';
      return (r.ms - baselineMs) * 1000;
    };
    // A tiny zstd qcow2 used to reload qemu-io's own binary pages after a cache drop, so the
    // measured read does not also pay for paging in qemu's code (hexz's code stays resident).
    const tinyRaw = P('tiny.raw');
    writeFileSync(tinyRaw, readRaw(IN, offsets[0] - (offsets[0] % MiB), MiB));
    await run('qemu-img', ['convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', tinyRaw, P('tiny.qcow2')]);

    warm(packOut.qcow2);
    log('random reads: qemu-io cold (fresh process per read, page cache warm) ...');
    const coldPc: number[] = [];
    await childPhase('qemu-io cold, page cache warm', async () => { for (const off of offsets) coldPc.push(await one(off)); });
    let coldDrop: number[] | null = null;
    if (dropOk) {
      log('random reads: qemu-io cold (fresh process per read, page cache dropped before each) ...');
      const cd: number[] = (coldDrop = []);
      await childPhase('qemu-io cold, page cache dropped', async () => {
        for (const off of offsets) {
          dropCaches();
          await run('qemu-io', ['-f', 'qcow2', '-r', '-c', 'read 0 64k', P('tiny.qcow2')]);
          cd.push(await one(off));
        }
      });
    }
    log('random reads: qemu-io warm (one process, each offset read twice) ...');
    warm(packOut.qcow2);
    const args = ['-f', 'qcow2', '-r'];
    for (const off of offsets) args.push('-c', `read ${off} 4k`, '-c', `read ${off} 4k`);
    const r = await run('qemu-io', [...args, packOut.qcow2]);
    phaseOther['qemu-io warm'] = r.other === undefined ? null : +r.other.toFixed(3); // null when it ran under 1 s
    const all = opUs(r);
    const warmQ = all.length === offsets.length * 2 ? all.filter((_, i) => i % 2 === 1) : [];
    const firstQ = all.length === offsets.length * 2 ? all.filter((_, i) => i % 2 === 0) : [];
    if (!warmQ.length) method = 'wall - no-op baseline';
    const warmWallPerRead = ((r.ms - baselineMs) * 1000) / (offsets.length * 2);
    qio = { coldPc, coldDrop, warm: warmQ.length ? warmQ : [warmWallPerRead], first: firstQ, warmWallPerRead, method, baselineMs };
    raw.qemuIoRandom = { coldPageCacheWarmUs: coldPc, coldDroppedUs: coldDrop, warmSecondReadUs: warmQ, warmFirstReadUs: firstQ, warmWallMs: r.ms, baselineNoopMs: baselineMs, method };
  }

  const p50 = (xs: number[] | null | undefined) => (xs && xs.length ? pct(xs, 0.5) : null);
  const p99 = (xs: number[] | null | undefined) => (xs && xs.length ? pct(xs, 0.99) : null);
  const cold = coldDropped ?? coldWarmPc;
  const coldRead = coldDroppedReadOnly ?? coldWarmPcR.readOnly;
  const qCold = qio ? qio.coldDrop ?? qio.coldPc : null;
  const pc = coldDropped ? 'page cache dropped' : 'page cache NOT dropped';
  const qPeer = 'qemu-io read op, fresh process';
  // The target row compares like with like: qemu-io's read-op time leaves out its image open
  // (header and L1 table), so hexz's row leaves out Archive.open (header, root / small index).
  add({ group: G4, measure: `cold p50, readAt only (${pc})`, hexz: p50(coldRead), unit: 'us', peer: qPeer, peerValue: p50(qCold), better: 'lower', target: '<= 0.50x', met: qCold ? p50(coldRead)! <= 0.5 * p50(qCold)! : null });
  add({ group: G4, measure: `cold p50, open+readAt (${pc})`, hexz: p50(cold), unit: 'us', peer: qPeer, peerValue: p50(qCold), better: 'lower', target: '' });
  add({ group: G4, measure: `cold p99, open+readAt (${pc})`, hexz: p99(cold), unit: 'us', peer: qPeer, peerValue: p99(qCold), better: 'lower', target: '' });
  if (coldDropped) {
    add({ group: G4, measure: 'cold p50, open+readAt (page cache warm)', hexz: p50(coldWarmPc), unit: 'us', peer: qPeer, peerValue: p50(qio?.coldPc), better: 'lower', target: '' });
    add({ group: G4, measure: 'cold p99, open+readAt (page cache warm)', hexz: p99(coldWarmPc), unit: 'us', peer: qPeer, peerValue: p99(qio?.coldPc), better: 'lower', target: '' });
    add({ group: G4, measure: 'cold p50, readAt only (page cache warm)', hexz: p50(coldWarmPcR.readOnly), unit: 'us', peer: qPeer, peerValue: p50(qio?.coldPc), better: 'lower', target: '' });
  }
  add({ group: G4, measure: 'warm readAt p50 (block cached)', hexz: p50(warmUs), unit: 'us', peer: 'qemu-io, 2nd read, 1 process', peerValue: p50(qio?.warm), better: 'lower', target: '< 20 us', met: p50(warmUs)! < 20 });
  add({ group: G4, measure: 'warm readAt p99 (block cached)', hexz: p99(warmUs), unit: 'us', peer: 'qemu-io, 2nd read, 1 process', peerValue: p99(qio?.warm), better: 'lower', target: '' });
  add({ group: G4, measure: 'first readAt on open archive p50', hexz: p50(firstUs), unit: 'us', peer: 'qemu-io, 1st read, 1 process', peerValue: p50(qio?.first), better: 'lower', target: '' });
  notes.push(`random reads, hexz: measured in this one Node process with process.hrtime around the awaited calls (node startup not counted; the JIT is warmed by 3 untimed passes over the offsets first). "cold" = a new Archive per read (empty block and index-node caches)${coldDropped ? ', page cache dropped (echo 3 > /proc/sys/vm/drop_caches) just before each read' : '; the OS page cache was NOT dropped (drop_caches not writable: needs root)'}; "open+readAt" = Archive.open(path) (file open, header read and check, and whatever else open loads) + readAt (the index nodes not yet loaded, block read, decompress, BLAKE3 check); "readAt only" = the readAt part alone on the freshly opened Archive, the scope closest to qemu-io's read-op time (which also leaves out its image open). "warm" = second readAt of the same 4 KiB on one open Archive (decoded block in its LRU cache). "first readAt on open archive" = the first readAt of each offset on that long-lived Archive (index nodes mostly cached, block not).`);
  if (qio) {
    notes.push(`random reads, qemu-io: a fresh \`qemu-io -f qcow2 -r -c 'read OFF 4k'\` per read; its time is 1 / the ops/sec it prints for the read command (${qio.method}), so it excludes process start and image open (header + L1 table) but includes the L2 table load, compressed-cluster read and decompression. ${qio.coldDrop ? 'For the dropped-cache run, after each drop a qemu-io read of a tiny zstd qcow2 (untimed) pages qemu\'s own binary back in first, as hexz\'s code is resident in the measuring process. ' : ''}1st/2nd read, 1 process = one qemu-io process reading every offset twice (its L2 cache and the file's pages warm after the first); for reference, (that process's wall time - a no-op qemu-io run of ${qio.baselineMs.toFixed(1)} ms) / reads = ${qio.warmWallPerRead.toFixed(0)} us.`);
  }

  // ---- report ---------------------------------------------------------------------------------
  notes.push(`CPU share used by other processes during the random-read phases: ${Object.entries(phaseOther).map(([k, v]) => `${k} ${v === null ? '?' : `${(v * 100).toFixed(0)}%`}`).join(', ')}.`);
  notes.push(`each timed run records the CPU share other processes used meanwhile (/proc/stat minus the run's own CPU time); runs where it exceeded ${DISTURBED * 100}% were repeated (up to 3x the run count) and left out of the medians${disturbed.length ? `: ${disturbed.length} such run(s): ${disturbed.map((d) => `${d.label} (${(d.other * 100).toFixed(0)}%)`).join(', ')}` : ' (none were)'}. Random-read samples cannot be screened this way.`);
  const totalS = msSince(started) / 1000;
  const loadEnd = loadavg().map((x) => +x.toFixed(2));
  const table = printTable(rows);
  const out = [
    ...header,
    `load avg at end: ${loadEnd.join(' ')}; bench wall time ${totalS.toFixed(0)} s`,
    `CPU used by other processes just before each section: ${quietLog.map((q) => `${q.section} ${q.busy === null ? '?' : `${(q.busy * 100).toFixed(0)}%`}${q.waitedS > 1.5 ? ` (waited ${q.waitedS} s)` : ''}`).join(', ')}`,
    '',
    ...(noisy.length ? [`WARNING: other processes used over ${DISTURBED * 100}% of the CPUs during every run of: ${noisy.join(', ')} — those figures are unreliable; rerun on a quiet machine.`] : []),
    'ratio = hexz / peer; "better" says which direction favours hexz (lower time/size/latency/RSS, higher throughput).',
    '',
    table,
    '',
    'notes:',
    ...notes.map((n) => `- ${n}`),
    ...(input.kind === 'generated' ? ['- targets are defined for the 2 GiB corpus image on 2 cores; on the generated image they are indicative only.'] : []),
  ].join('\n');
  process.stdout.write(`${out}\n`);

  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = {
    date: new Date().toISOString(), machine: { ...machine, loadavgEnd: loadEnd }, input: { ...input },
    settings: { runs: RUNS, samples: SAMPLES, dropCaches: dropOk, peakRss: TIME ? '/usr/bin/time -f %M' : 'process.resourceUsage().maxRSS' },
    benchSeconds: totalS, otherCpuBeforeSections: quietLog, disturbedRuns: disturbed, noisyMeasurements: noisy, rows, notes, raw,
  };
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  log(`results written to ${join(resultsDir, 'latest.json')}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? err}\n`);
  process.exitCode = 1;
});
