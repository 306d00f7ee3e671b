/**
 * `hexz commit` benchmark (ops/commit-overlay.ts): committing an overlay with 1% and 10% of an
 * image's 4 KiB pages written at random, against a full `hexz pack` of the same modified image
 * and against `qemu-img commit` of a qcow2 overlay holding the same writes. Runs are alternated
 * (commit, pack, qemu), HEXZ_BENCH_RUNS times (default 3); medians are printed with the ratios
 * commit/pack and commit/qemu (below 1: commit is faster). The child is checked against the
 * modified image once per fraction (not timed).
 *
 *   npm run bench:commit                          # a generated 1 GiB image
 *   HEXZ_CORPUS=/work/corpus npm run bench:commit # the corpus's disk-v1.raw
 *   HEXZ_BENCH_MB=256 npm run bench:commit        # a smaller generated image
 *
 * Writes go through Overlay.write (hexz), pwrite (the raw image for the full pack) and
 * `qemu-io -c 'write -P N OFF 4k'` in batches (qcow2): the same pages, each filled with one byte
 * value. Each measured run starts after a `sync` (not timed), so that none pays for the write-back
 * of what the setup or an earlier run wrote. HEXZ_BENCH_CASES=2 (a comma-separated list of 0: 1% as
 * single pages, 1: 10%, 2: 1% in 64 KiB runs) runs only those. Results go to bench/results/commit-latest.json. HEXZ_BENCH_KEEP=1 keeps the temporary
 * directory.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The built library (npm run build): workers start as plain JS, as they do for the CLI, rather
// than each loading tsx, which would add about a second to every pack and commit measured.
import { Archive } from '../dist/node/archive.js';
import { commitOverlay } from '../dist/ops/commit-overlay.js';
import { Overlay } from '../dist/overlay/overlay.js';
import { pack } from '../dist/pack/pack.js';
import { fillPseudoText } from './lib/generated-image.js';
import { upperMedian as median } from './lib/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const PAGE = 4096;
const RUNS = Number(process.env.HEXZ_BENCH_RUNS) || 3;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-commit-'));

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} …: ${r.stderr?.toString().trim() || r.error?.message}`);
}

/** The input image: the corpus disk, or generated pseudo-text with a 2 MiB zero run every 32 MiB. */
function image(): string {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return join(corpus, 'disk-v1.raw');
  const size = (Number(process.env.HEXZ_BENCH_MB) || 1024) * MiB;
  const path = join(work, 'image.raw');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(32 * MiB);
  for (let at = 0, k = 0; at < size; at += chunk.length, k++) {
    fillPseudoText(chunk, 12345 + k);
    chunk.fill(0, 0, 2 * MiB);
    writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
  }
  closeSync(fd);
  return path;
}

/** `count` distinct random page numbers below `pages` (xorshift, fixed seed). */
function randomPages(count: number, pages: number, seed: number): number[] {
  const set = new Set<number>();
  let x = seed;
  while (set.size < count) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    set.add((x >>> 0) % pages);
  }
  return [...set];
}

const pattern = (i: number) => 1 + (i % 250);
const seconds = async (fn: () => Promise<unknown> | void) => {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
};

async function sha256OfStream(a: Archive): Promise<string> {
  const h = createHash('sha256');
  for await (const c of a.createReadStream('disk')) h.update(c as Buffer);
  return h.digest('hex');
}

function sha256OfFile(path: string): string {
  const r = spawnSync('sha256sum', [path], { encoding: 'utf8' });
  return r.stdout.split(' ')[0];
}

async function main(): Promise<void> {
  const img = image();
  const size = statSync(img).size;
  const pages = Math.floor(size / PAGE);
  console.log(`image ${img}: ${(size / MiB).toFixed(0)} MiB; ${RUNS} alternated runs per fraction`);
  const base = join(work, 'base.hxz');
  const basePack = await seconds(() => pack({ disk: img, output: base }));
  console.log(`base pack: ${basePack.toFixed(2)} s`);
  const qemu = spawnSync('qemu-img', ['--version']).status === 0 && spawnSync('qemu-io', ['--version']).status === 0;
  const pristine = join(work, 'pristine');
  mkdirSync(pristine);
  if (qemu) run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', img, join(pristine, 'base.qcow2')]);
  const results: Record<string, unknown>[] = [];
  // Random single pages: each touches a 64 KiB block a sixteenth, whose clean rest becomes slices
  // (format v8); the clustered case (64 KiB runs of pages, each across two blocks) re-cuts the
  // block of each pair written half or more, and slices the other.
  const all = [{ fraction: 0.01, run: 1 }, { fraction: 0.1, run: 1 }, { fraction: 0.01, run: 16 }];
  const cases = process.env.HEXZ_BENCH_CASES ? process.env.HEXZ_BENCH_CASES.split(',').filter((k) => k.trim() !== '').map((k) => all[Number(k)]).filter(Boolean) : all;
  for (const { fraction, run: pagesPerRun } of cases) {
    const list = randomPages(Math.round((pages * fraction) / pagesPerRun), Math.floor(pages / pagesPerRun), fraction === 0.01 ? 99 : 7)
      .flatMap((r) => Array.from({ length: pagesPerRun }, (_, k) => r * pagesPerRun + k));
    // hexz overlay
    const ovPath = join(work, `dirty-${fraction}-${pagesPerRun}.overlay`);
    const baseArchive = await Archive.open(base);
    const ov = await Overlay.create(ovPath, baseArchive);
    for (const [i, p] of list.entries()) await ov.write('disk', p * PAGE, Buffer.alloc(PAGE, pattern(i)));
    await ov.close();
    await baseArchive.close();
    // the modified raw image, for the full pack
    const mod = join(work, 'modified.raw');
    copyFileSync(img, mod);
    const fd = openSync(mod, 'r+');
    for (const [i, p] of list.entries()) writeSync(fd, Buffer.alloc(PAGE, pattern(i)), 0, PAGE, p * PAGE);
    closeSync(fd);
    // the qcow2 overlay with the same writes
    if (qemu) {
      rmSync(join(pristine, 'top.qcow2'), { force: true });
      run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', join(pristine, 'top.qcow2')]);
      for (let k = 0; k < list.length; k += 1000) {
        const args = list.slice(k, k + 1000).flatMap((p, j) => ['-c', `write -q -P ${pattern(k + j)} ${p * PAGE} 4k`]);
        run('qemu-io', ['-f', 'qcow2', ...args, join(pristine, 'top.qcow2')]);
      }
    }
    const times = { commit: [] as number[], pack: [] as number[], qemu: [] as number[] };
    let commitReport: Awaited<ReturnType<typeof commitOverlay>> | undefined;
    const child = join(work, 'child.hxz');
    // Each measured run starts with the page cache clean: the setup and every run before dirty
    // gigabytes of it (copies of the image and of the qcow2 files, outputs), and the kernel's
    // write-back of those would otherwise land in whichever run comes next (its fsync waits).
    const settle = () => run('sync', []);
    for (let r = 0; r < RUNS; r++) {
      settle();
      times.commit.push(await seconds(async () => {
        commitReport = await commitOverlay(ovPath, { output: child, force: true });
      }));
      settle();
      times.pack.push(await seconds(() => pack({ disk: mod, output: join(work, 'full.hxz'), force: true })));
      if (qemu) {
        const qdir = join(work, 'qemu');
        rmSync(qdir, { recursive: true, force: true });
        mkdirSync(qdir);
        copyFileSync(join(pristine, 'base.qcow2'), join(qdir, 'base.qcow2'));
        copyFileSync(join(pristine, 'top.qcow2'), join(qdir, 'top.qcow2'));
        settle();
        times.qemu.push(await seconds(() => run('qemu-img', ['commit', '-q', join(qdir, 'top.qcow2')])));
      }
    }
    const a = await Archive.open(child);
    const same = (await sha256OfStream(a)) === sha256OfFile(mod);
    await a.close();
    if (!same) throw new Error(`the committed child does not read as the modified image (${fraction * 100}% dirty)`);
    const m = { commit: median(times.commit), pack: median(times.pack), qemu: qemu ? median(times.qemu) : null };
    const row = {
      dirtyPercent: fraction * 100, pagesPerWrite: pagesPerRun, writes: list.length, dirtyBytes: commitReport!.dirtyBytes, rewrittenBytes: commitReport!.rewrittenBytes,
      storedBytes: commitReport!.storedBytes, childBytes: commitReport!.archiveBytes,
      seconds: m, runs: times,
      commitOverPack: m.commit / m.pack, commitOverQemu: m.qemu ? m.commit / m.qemu : null,
    };
    results.push(row);
    console.log(`${fraction * 100}% dirty (${list.length} random 4 KiB writes${pagesPerRun > 1 ? ` in runs of ${pagesPerRun}` : ''}; ${(row.rewrittenBytes / MiB).toFixed(1)} MiB re-packed, child ${(row.childBytes / MiB).toFixed(1)} MiB):`
      + ` commit ${m.commit.toFixed(3)} s, full pack ${m.pack.toFixed(3)} s, qemu-img commit ${m.qemu?.toFixed(3) ?? 'n/a'} s`
      + ` → commit/pack ${row.commitOverPack.toFixed(3)}x, commit/qemu ${row.commitOverQemu?.toFixed(2) ?? 'n/a'}x`);
    rmSync(mod);
  }
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/commit-latest.json'), `${JSON.stringify({ image: img, imageBytes: size, runs: RUNS, basePackSeconds: basePack, results }, null, 2)}\n`);
}

main().finally(() => {
  if (!process.env.HEXZ_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
