/**
 * Files inside disk archives benchmark (issue 15): reading single files, listing the tree and
 * diffing two snapshots of the corpus disk, beside what it takes without hexz. Every peer is
 * measured in the same run, runs alternated (hexz, peer, hexz, …; lib/screened-runs.ts), medians
 * reported; where /proc/sys/vm/drop_caches is writable the page cache is flushed and dropped
 * (`1`: page cache only) before every timed run, so everything is read cold, programs included.
 *
 * 1. `hexz cat v1.hxz --file PATH > /dev/null` (a small config file, and the largest 5–20 MiB
 *    file under /usr/lib or /usr/bin) beside getting it out of disk-v1-zstd.qcow2: (a) `qemu-img
 *    convert` of the partition only (raw driver offset/size over the qcow2) + `debugfs cat`,
 *    (b) `qemu-nbd -r` of the partition on a unix socket + `nbdcopy` to a file + `debugfs cat`,
 *    (c) `virt-cat`, when installed and working. Target: <= 0.05x of (a). `node -e 0` runs cold
 *    in the same rounds: the floor of any Node command, reported beside (a).
 * 2. Bytes `readFile` reads from v1.hxz for those files (CountingSource) beside the stored
 *    bytes of the entries holding the file's data + its metadata (named by debugfs). Target <= 2x.
 * 3. `readFile` in process (fresh Archive each run) beside `debugfs cat` of the raw partition
 *    (whole process). Target <= 2x.
 * 4. `hexz files v1.hxz --json > /dev/null` beside losetup + mount -o ro + find + umount
 *    (root only). No target.
 * 5. `hexz diff v1.hxz v2.hxz --files --json > /dev/null`, with the report's counts and the bytes
 *    read. No target.
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:files
 *
 * HEXZ_CORPUS is required (disk-v1.raw, disk-v2.raw, disk-v1-zstd.qcow2); without it the bench
 * exits with status 2. debugfs (e2fsprogs) is required; qemu-img, qemu-nbd + nbdcopy, virt-cat
 * and the loop mount (root) are each skipped when missing. Knobs: HEXZ_BENCH_RUNS (runs per
 * measure, default 5), HEXZ_BENCH_QUIET_WAIT_S (longest wait for a quiet machine before each
 * section, default 30), HEXZ_BENCH_KEEP=1 (keep the work dir). v1.hxz and v2.hxz (thin, parent
 * v1) are packed untimed in the work dir by the measured build, a copy of bin/ + dist/ (so a
 * concurrent build cannot change it mid-run). Servers, loop devices and mounts are undone on
 * exit, on errors and on SIGINT/SIGTERM. Results: the table on stdout, and
 * bench/results/files-latest.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importLib, snapshotBuild } from './lib/build-snapshot.js';
import { bytesRead } from './lib/files-bytes.js';
import { catInProcess, catWholeProcess, sizeText } from './lib/files-cat.js';
import type { FilesContext } from './lib/files-context.js';
import { extractPartition, inspectV1, makeTarget, packBoth } from './lib/files-setup.js';
import { diffTree, listTree } from './lib/files-tree.js';
import { log } from './lib/log.js';
import { mountedUnder } from './lib/loop-mount.js';
import { canDropCaches, dropCaches, syncAll } from './lib/page-cache.js';
import { signalChildren } from './lib/processes.js';
import { Results } from './lib/results.js';
import { msSince, nowNs, run } from './lib/run.js';
import { DISTURBED, ScreenedRuns } from './lib/screened-runs.js';
import { intEnv } from './lib/settings.js';
import { formatTable } from './lib/table.js';
import { Teardown } from './lib/teardown.js';
import { firstLine, have } from './lib/tools.js';
import { waitQuiet, type QuietRecord } from './lib/wait-quiet.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CORPUS_FILES = ['disk-v1.raw', 'disk-v2.raw', 'disk-v1-zstd.qcow2'];

async function main(): Promise<number> {
  const corpus = process.env.HEXZ_CORPUS;
  const missing = corpus ? CORPUS_FILES.filter((f) => !existsSync(join(corpus, f))) : CORPUS_FILES;
  if (!corpus || missing.length) {
    process.stderr.write(`bench:files needs HEXZ_CORPUS, a directory with ${CORPUS_FILES.join(', ')}${corpus ? ` (missing in ${corpus}: ${missing.join(', ')})` : ' (HEXZ_CORPUS is not set)'}\n`);
    return 2;
  }
  if (!have('debugfs')) {
    process.stderr.write('bench:files needs debugfs (e2fsprogs): it is both a peer and the reference for the bytes a file needs\n');
    return 2;
  }
  const runs = intEnv('HEXZ_BENCH_RUNS', 5);
  const keep = process.env.HEXZ_BENCH_KEEP === '1';
  const work = mkdtempSync(join(tmpdir(), 'hexz-bench-files-'));
  const teardown = new Teardown();
  const cleanup = () => {
    teardown.runAll();
    // Never remove through a mount point that failed to unmount.
    if (keep || mountedUnder(work)) return log(`keeping work dir ${work}`);
    try {
      rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch (err) {
      log(`cleanup: could not remove ${work}: ${(err as Error).message}`);
    }
  };
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      // A peer a timed run had started is still running: stopped first, then what was set up.
      // (Not on a normal exit: every run was awaited, and tsx's own esbuild child must live.)
      for (const pid of signalChildren()) log(`cleanup: sent SIGTERM to child ${pid}`);
      cleanup();
      process.exit(code);
    });
  }
  try {
    await bench(corpus, work, runs, teardown);
    return 0;
  } finally {
    cleanup();
  }
}

async function bench(corpus: string, work: string, runCount: number, teardown: Teardown): Promise<void> {
  const started = nowNs();
  const build = snapshotBuild(ROOT, join(work, 'hexz-build'));
  const lib = await importLib(build);
  const path = (name: string) => join(work, name);
  const raw1 = join(corpus, 'disk-v1.raw');
  const v1 = path('v1.hxz');
  const v2 = path('v2.hxz');
  await packBoth(build.bin, raw1, join(corpus, 'disk-v2.raw'), v1, v2);
  const { partition, small, large, entries } = await inspectV1(lib, v1, raw1, '/etc/os-release');
  const partRaw = path('part.raw');
  extractPartition(raw1, partition, partRaw);
  const targets = [
    makeTarget(build.bin, v1, partRaw, small.path, small.size, 'small config file'),
    makeTarget(build.bin, v1, partRaw, large.path, large.size, 'largest 5-20 MiB file under /usr/lib or /usr/bin'),
  ];
  const drop = canDropCaches();
  const qcow2 = join(corpus, 'disk-v1-zstd.qcow2');
  const virtCat = have('virt-cat') ? virtCatWorks(qcow2, targets[0].foot.realPath) : 'not installed';
  const results = new Results();
  const screened = new ScreenedRuns(runCount);
  const c: FilesContext = {
    lib, bin: build.bin, path, runs: screened, results, teardown, v1, v2, raw1, qcow2, partition, partRaw, targets, entries,
    cold: drop ? () => { syncAll(); dropCaches(1); } : () => {},
    has: (prog) => (prog === 'virt-cat' ? virtCat === 'works' : have(prog)),
    hexz: (args, stdoutTo) => run(process.execPath, [build.bin, ...args], { stdoutTo, time: false }),
  };

  const machine = {
    nproc: availableParallelism(), cpu: cpus()[0]?.model ?? '?', memMiB: Math.round(totalmem() / (1 << 20)), kernel: release(),
    node: process.version, loadavgStart: loadavg().map((x) => +x.toFixed(2)),
    tools: Object.fromEntries([['qemu-img', '--version'], ['qemu-nbd', '--version'], ['nbdcopy', '--version'], ['debugfs', '-V']].map(([p, a]) => [p, have(p) ? firstLine(p, [a]) : null])),
  };
  const header = [
    `hexz files benchmark (issue 15) — ${new Date().toISOString()}`,
    `machine: ${machine.nproc} cores (${machine.cpu}), ${machine.memMiB} MiB RAM, Linux ${machine.kernel}, node ${machine.node}, load avg ${machine.loadavgStart.join(' ')}`,
    `corpus: ${corpus}; v1.hxz ${sizeText(statSync(v1).size)}, v2.hxz ${sizeText(statSync(v2).size)} (thin, parent v1.hxz); partition ${partition.number} at ${partition.offset} (${sizeText(partition.size)}), from ${partition.source}`,
    ...targets.map((t) => `file: ${t.path} (${t.size} bytes, ${t.why})${t.foot.realPath !== t.path ? `; debugfs reads it as ${t.foot.realPath} (debugfs does not follow a final symlink)` : ''}`),
    `runs: median of ${runCount} alternated runs per measure; page cache ${drop ? 'flushed and dropped (drop_caches=1) before every timed run' : 'NOT dropped (drop_caches not writable): runs are warm'}`,
  ];
  for (const l of header) log(l);

  const quiet: QuietRecord[] = [];
  const quietWaitMs = intEnv('HEXZ_BENCH_QUIET_WAIT_S', 30) * 1000;
  const section = async (name: string, fn: () => Promise<void>) => {
    await waitQuiet(name, quiet, quietWaitMs);
    await fn();
  };
  for (const t of targets) await section(`cat ${t.path}`, () => catWholeProcess(c, t));
  for (const t of targets) await section(`bytes ${t.path}`, () => bytesRead(c, t));
  for (const t of targets) await section(`readFile ${t.path}`, () => catInProcess(c, t));
  await section('files --json', () => listTree(c));
  await section('diff --files', () => diffTree(c));

  if (virtCat !== 'works') results.note(`virt-cat (libguestfs): ${virtCat}; not measured.`);
  results.note('cat peers: qemu-img convert and nbdcopy write the partition (2 GiB apparent, sparse) to a file in the work dir, deleted and flushed untimed before each run; the qemu-nbd run includes starting the server (a child of the bench, timed up to its first accepted connection) and signalling it to stop; its CPU time is not counted as load of other processes when runs are screened. hexz runs are `node bin/hexz.js …` of the copied build; every process, node and the peers alike, starts with the page cache dropped.');
  results.note(`each timed run records the CPU share other processes used meanwhile; runs of 1 s or more where it exceeded ${DISTURBED * 100}% were repeated (up to 3x the run count) and left out of the medians${screened.disturbed.length ? `: ${screened.disturbed.length} such run(s): ${disturbedSummary(screened.disturbed)}` : ' (none were)'}. Shorter runs cannot be screened.`);
  const loadEnd = loadavg().map((x) => +x.toFixed(2));
  const totalS = msSince(started) / 1000;
  const out = [
    ...header,
    `load avg at end: ${loadEnd.join(' ')}; bench wall time ${totalS.toFixed(0)} s`,
    `CPU used by other processes just before each section: ${quiet.map((q) => `${q.section} ${q.busy === null ? '?' : `${(q.busy * 100).toFixed(0)}%`}${q.waitedS > 1.5 ? ` (waited ${q.waitedS} s)` : ''}`).join(', ')}`,
    ...(screened.noisy.length ? [`WARNING: other processes used over ${DISTURBED * 100}% of the CPUs during every run of: ${screened.noisy.join(', ')} — rerun on a quiet machine.`] : []),
    '',
    'ratio = hexz / peer (lower is better for hexz everywhere here).',
    '',
    formatTable(results.rows),
    '',
    'notes:',
    ...results.notes.map((n) => `- ${n}`),
  ].join('\n');
  process.stdout.write(`${out}\n`);

  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = {
    date: new Date().toISOString(), machine: { ...machine, loadavgEnd: loadEnd }, corpus,
    archives: { v1Bytes: statSync(v1).size, v2Bytes: statSync(v2).size }, partition,
    files: targets.map((t) => ({ path: t.path, realPath: t.foot.realPath, size: t.size, why: t.why, dataExtents: t.foot.data.length })),
    settings: { runs: runCount, dropCaches: drop, virtCat },
    benchSeconds: totalS, otherCpuBeforeSections: quiet, disturbedRuns: screened.disturbed, noisyMeasurements: screened.noisy,
    rows: results.rows, notes: results.notes, raw: results.raw,
  };
  writeFileSync(join(resultsDir, 'files-latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  log(`results written to ${join(resultsDir, 'files-latest.json')}`);
}

/** Disturbed runs by measure: `label x3 (42-61%)`, in order of first appearance. */
function disturbedSummary(runs: { label: string; other: number }[]): string {
  const by = new Map<string, number[]>();
  for (const d of runs) by.set(d.label, [...(by.get(d.label) ?? []), Math.round(d.other * 100)]);
  return [...by].map(([label, o]) => `${label} x${o.length} (${Math.min(...o)}${o.length > 1 ? `-${Math.max(...o)}` : ''}%)`).join(', ');
}

/** `works`, or why `virt-cat` cannot be used here (it needs a libguestfs appliance). */
function virtCatWorks(qcow2: string, path: string): string {
  const r = spawnSync('virt-cat', ['-a', qcow2, path], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'ignore', 'pipe'] });
  return r.status === 0 ? 'works' : `installed but failed (${(r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`})`;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`bench:files failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
