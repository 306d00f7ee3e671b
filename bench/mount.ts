/**
 * `hexz mount` benchmark (issue 13), beside squashfuse (and squashfuse_ll where present) mounting
 * a squashfs zstd image holding the same disk file; every peer measured in the same run, runs
 * alternated (the peer order rotates each round), medians reported:
 *
 * - sequential read of the mounted disk file: `dd bs=1M` to /dev/null.
 * - random 4 KiB read latency: N distinct 4 KiB offsets inside data blocks (picked from the
 *   archive's non-ZERO index entries, the same offsets for every peer in a round), one
 *   synchronous pread each on an fd opened normally (no O_DIRECT, no fadvise), p50/p99; every
 *   read is also checked against the raw image (not timed).
 * - 4 parallel readers: 4 `dd bs=1M` of disjoint quarters at once, total throughput.
 *
 * Caches: every measurement gets a fresh mount (unmounted after), so nothing of the mounted file
 * is in the page cache and no server cache carries over. The backing files (.hxz, .sqfs) stay in
 * the host's page cache for both peers alike: this measures FUSE + index + decode, not the disk.
 * HEXZ_BENCH_DROP_CACHES=1 also writes 1 to /proc/sys/vm/drop_caches before each measurement
 * (global: it slows every other job on the machine, and makes the runs disk-bound).
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:mount    # disk-v1.raw (2 GiB)
 *
 * Without HEXZ_CORPUS a generated 512 MiB image is used. HEXZ_BENCH_RUNS rounds (default 3),
 * HEXZ_BENCH_N random reads per round (default 1000). hexz mount raises its mount's read-ahead to
 * 1 MiB (src/mount/readahead.ts); the peers keep the kernel's 128 KiB unless
 * HEXZ_BENCH_PEER_READAHEAD=1 raises theirs too (the value used is in the results).
 * Results go to bench/results/mount-latest.json. Needs root, /dev/fuse, fusermount3 (fuse3), the
 * hexz-fuse addon, mksquashfs (squashfs-tools) and squashfuse. Everything mounted is unmounted,
 * also on errors and on SIGINT/SIGTERM; HEXZ_BENCH_KEEP=1 keeps the temporary directory.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The built library (npm run build): pack's workers start as plain JS, as they do for the CLI.
import { Archive } from '../dist/node/archive.js';
import { pack } from '../dist/pack/pack.js';
import { writeGeneratedImage } from './lib/generated-image.js';
import { must, sh } from './lib/shell.js';
import { upperMedian as median, upperPercentile as pct } from './lib/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HEXZ = join(ROOT, 'bin', 'hexz.js');
const MiB = 1 << 20;
const PAGE = 4096;
const RUNS = Number(process.env.HEXZ_BENCH_RUNS) || 3;
const N = Number(process.env.HEXZ_BENCH_N) || 1000;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-mount-'));
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

/** Whether `dir` is a mount point now (/proc/self/mountinfo, field 5). */
function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

/** The read-ahead (KiB) of the file system mounted on `dir`, from its backing device info. */
function readaheadKib(dir: string): number | undefined {
  const dev = sh(`mountpoint -d ${dir}`).stdout.trim();
  const r = sh(`cat /sys/class/bdi/${dev}/read_ahead_kb`);
  return r.status === 0 ? Number(r.stdout) : undefined;
}

/** The raw image: the corpus disk, or generated pseudo-text with a 16 MiB zero run every 64 MiB. */
function input(): string {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return join(corpus, 'disk-v1.raw');
  const raw = join(work, 'disk');
  writeGeneratedImage(raw);
  return raw;
}

/** One mounted file system under test: how to mount it, and the disk file's path inside. */
interface Peer {
  name: 'hexz' | 'squashfuse' | 'squashfuse_ll';
  dir: string;
  file: string;
  mount(): void;
  unmount(): void;
}

/** Every mount point this run made; unmounted at the end whatever happened. */
const live = new Set<Peer>();

function unmountAll(): void {
  for (const p of live) {
    try {
      p.unmount();
    } catch (err) {
      console.error(`unmounting ${p.dir}: ${(err as Error).message}`);
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    unmountAll();
    process.exit(130);
  });
}

function makePeer(name: Peer['name'], image: string, fileName: string, raisePeerReadahead: boolean): Peer {
  const dir = join(work, `mnt-${name}`);
  mkdirSync(dir);
  const peer: Peer = {
    name, dir, file: join(dir, fileName),
    mount() {
      if (name === 'hexz') must(`node ${HEXZ} mount ${image} ${dir}`);
      else {
        must(`${name} ${image} ${dir}`);
        if (raisePeerReadahead) must(`echo 1024 > /sys/class/bdi/$(mountpoint -d ${dir})/read_ahead_kb`);
      }
      live.add(peer);
      statSync(peer.file);
    },
    unmount() {
      if (!mounted(dir)) return void live.delete(peer);
      if (name === 'hexz') must(`node ${HEXZ} umount ${dir}`);
      else must(`fusermount3 -u ${dir}`);
      live.delete(peer);
    },
  };
  return peer;
}

/** Runs `fn` on a fresh mount of `peer` (page cache of the mounted file empty), then unmounts. */
function fresh<T>(peer: Peer, fn: () => T): T {
  if (process.env.HEXZ_BENCH_DROP_CACHES === '1') must('sync; echo 1 > /proc/sys/vm/drop_caches');
  peer.mount();
  try {
    return fn();
  } finally {
    peer.unmount();
  }
}

/** `count` distinct 4 KiB-aligned offsets inside data (non-ZERO) blocks, xorshift with `seed`. */
function pickOffsets(blocks: { offset: number; length: number }[], count: number, seed: number): number[] {
  const chosen = new Set<number>();
  let x = seed;
  const next = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0); };
  while (chosen.size < count) {
    const b = blocks[next() % blocks.length];
    chosen.add(b.offset + (next() % Math.floor(b.length / PAGE)) * PAGE);
  }
  return [...chosen];
}

/** Per-read ms of one synchronous 4 KiB pread at each offset; each result checked against `raw`. */
function randomReads(file: string, raw: string, offsets: number[]): number[] {
  const fd = openSync(file, 'r');
  const rawFd = openSync(raw, 'r');
  const got = Buffer.alloc(PAGE);
  const want = Buffer.alloc(PAGE);
  const lat: number[] = [];
  try {
    for (const off of offsets) {
      const t = performance.now();
      const n = readSync(fd, got, 0, PAGE, off);
      lat.push(performance.now() - t);
      readSync(rawFd, want, 0, PAGE, off);
      if (n !== PAGE || !got.equals(want)) throw new Error(`${file}: wrong bytes at ${off}`);
    }
  } finally {
    closeSync(fd);
    closeSync(rawFd);
  }
  return lat;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark mounts with FUSE and sets read-ahead: run it as root');
  for (const t of ['fusermount3', 'mksquashfs', 'squashfuse', 'dd', 'mountpoint']) if (sh(`command -v ${t}`).status !== 0) throw new Error(`${t} is needed for this benchmark (Debian: fuse3 squashfs-tools squashfuse)`);
  const loadBefore = load();
  const raw = input();
  const size = statSync(raw).size;
  const archive = join(work, 'disk.hxz');
  console.log(`packing ${raw} (${(size / MiB).toFixed(0)} MiB) ...`);
  await pack({ disk: raw, output: archive });
  // squashfs of the same file: a single file source lands in the image's root under its name.
  const sqfs = join(work, 'disk.sqfs');
  console.log('mksquashfs -comp zstd ...');
  const mksq = must(`mksquashfs ${raw} ${sqfs} -comp zstd -noappend -quiet -no-progress`);

  const a = await Archive.open(archive);
  const blocks: { offset: number; length: number }[] = [];
  for await (const e of a.entries('disk')) if (e.kind !== 0 && e.length >= PAGE) blocks.push({ offset: e.offset, length: e.length });
  await a.close();

  const raisePeer = process.env.HEXZ_BENCH_PEER_READAHEAD === '1';
  const peers = [
    makePeer('hexz', archive, 'disk', raisePeer),
    makePeer('squashfuse', sqfs, basename(raw), raisePeer),
    ...(sh('command -v squashfuse_ll').status === 0 ? [makePeer('squashfuse_ll', sqfs, basename(raw), raisePeer)] : []),
  ];
  const names = peers.map((p) => p.name);
  const seq: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const par: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const lat: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const readahead: Record<string, number | undefined> = {};
  const quarter = Math.ceil(size / MiB / 4);
  try {
    for (let round = 0; round < RUNS; round++) {
      const order = peers.map((_, i) => peers[(i + round) % peers.length]);
      const offsets = pickOffsets(blocks, N, 0x9e3779b9 ^ (round + 1));
      for (const p of order) {
        seq[p.name].push(fresh(p, () => {
          readahead[p.name] = readaheadKib(p.dir);
          return must(`dd if=${p.file} of=/dev/null bs=1M status=none`).ms;
        }));
      }
      for (const p of order) lat[p.name].push(...fresh(p, () => randomReads(p.file, raw, offsets)));
      for (const p of order) {
        par[p.name].push(fresh(p, () => must(`pids=(); for i in 0 1 2 3; do dd if=${p.file} of=/dev/null bs=1M skip=$((i * ${quarter})) count=${quarter} status=none & pids+=($!); done; for q in "\${pids[@]}"; do wait $q || exit 1; done`).ms));
      }
      console.log(`round ${round + 1}/${RUNS} (load ${load().join(' ')}): ${names.map((n) => `${n} seq ${Math.round(seq[n].at(-1)!)} ms, 4x ${Math.round(par[n].at(-1)!)} ms, p50 ${median(lat[n].slice(-N)).toFixed(3)} ms`).join('; ')}`);
    }
  } finally {
    unmountAll();
  }

  const mbps = (ms: number) => size / MiB / (ms / 1000);
  const row = (times: Record<string, number[]>) => ({
    ...Object.fromEntries(names.map((n) => [n, { ms: median(times[n]), MBps: mbps(median(times[n])), runs: times[n].map(Math.round) }])),
    // squashfuse_time / hexz_time: above 1, hexz is faster.
    ...Object.fromEntries(names.filter((n) => n !== 'hexz').map((n) => [`throughputRatioVs${n === 'squashfuse' ? 'Squashfuse' : 'SquashfuseLl'}`, median(times[n]) / median(times.hexz)])),
  });
  const results = {
    input: raw, inputBytes: size, archiveBytes: statSync(archive).size, squashfsBytes: statSync(sqfs).size,
    blockBytes: { hexz: 65536, squashfs: 131072 },
    mksquashfsMs: Math.round(mksq.ms),
    machine: { cpus: availableParallelism(), loadavgBefore: loadBefore, loadavgAfter: load() },
    method: {
      caches: `fresh mount per measurement${process.env.HEXZ_BENCH_DROP_CACHES === '1' ? ' + drop_caches=1' : ''}; backing files in the host page cache`,
      readaheadKib: readahead, rounds: RUNS, randomReadsPerRound: N,
    },
    sequential: row(seq),
    parallel4: row(par),
    randomRead4k: {
      ...Object.fromEntries(names.map((n) => [n, { p50: median(lat[n]), p99: pct(lat[n], 0.99), reads: lat[n].length }])),
      // hexz_p50 / squashfuse_p50: below 1, hexz is faster.
      ...Object.fromEntries(names.filter((n) => n !== 'hexz').map((n) => [`p50RatioVs${n === 'squashfuse' ? 'Squashfuse' : 'SquashfuseLl'}`, median(lat.hexz) / median(lat[n])])),
      ...Object.fromEntries(names.filter((n) => n !== 'hexz').map((n) => [`p99RatioVs${n === 'squashfuse' ? 'Squashfuse' : 'SquashfuseLl'}`, pct(lat.hexz, 0.99) / pct(lat[n], 0.99)])),
    },
  };
  console.log(JSON.stringify(results, null, 2));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'mount-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2)}\n`);
  // Never rm -r through a mount point that failed to unmount.
  if (!process.env.HEXZ_BENCH_KEEP && live.size === 0) rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} finally {
  unmountAll();
}
