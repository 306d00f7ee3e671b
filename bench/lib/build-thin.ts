/**
 * Thin rebuild of one tree: the tree copied to the work dir (`cp -a`, untimed, after checking
 * free space), built in full (`full.hxz`, one run), then 1% of its regular files, chosen by a
 * seeded PRNG over the sorted list, changed and the copy rebuilt with `--parent full.hxz`:
 * first only their mtimes (as `touch`), then a few bytes appended to each (content, size and
 * mtime change). Each rebuild is timed (screened, median of the runs) and its archive size set
 * beside the full archive's; each child's filesystem goes through e2fsck once, untimed.
 */
import { rmSync, statSync } from 'node:fs';
import { storedBytes, type BenchTree, type BuildContext, type BuildJson } from './build-context.js';
import { fsckArchive, type FsckResult } from './build-fsck.js';
import { mib } from './build-compare.js';
import { appendToFiles, copyTree, freeBytes, pickFiles, touchFiles, walkTree, warmTree } from './build-tree.js';
import { log } from './log.js';
import { syncAll } from './page-cache.js';
import { medianS } from './screened-runs.js';
import { waitQuiet } from './wait-quiet.js';

/** Share of the regular files changed, and the PRNG seed that picks them. */
const SHARE = 0.01;
const SEED = 16;
const GiB = 2 ** 30;

interface Variant { key: 'mtime' | 'content'; what: string; change: (files: string[]) => void }

const VARIANTS: Variant[] = [
  { key: 'mtime', what: 'mtime only (touch)', change: touchFiles },
  { key: 'content', what: 'content + size (a few bytes appended)', change: appendToFiles },
];

/**
 * Runs the thin rebuild of `tree`; `treeBytes` is its regular files' apparent size and
 * `archiveBytes` what its full build took (both for the free-space check).
 */
export async function thinRebuild(c: BuildContext, tree: BenchTree, treeBytes: number, archiveBytes: number, usedBytes: number): Promise<void> {
  const G = `thin rebuild of a copy of ${tree.path}: ${SHARE * 100}% of the regular files changed, --parent = full build of the copy`;
  // The copy, the full archive and two children, and one extracted disk (its used blocks) at a time.
  const need = treeBytes * 1.05 + archiveBytes * 1.5 + usedBytes + 1 * GiB;
  const free = freeBytes(c.work);
  if (free < need) {
    const msg = `thin rebuild of ${tree.path} SKIPPED: ${mib(free)} free in ${c.work}, about ${mib(need)} needed (copy ${mib(treeBytes)} + archives + one extracted disk); set TMPDIR to a roomier file system`;
    log(msg);
    c.alarms.push(msg);
    c.results.add({ group: G, measure: 'skipped: too little free space in the work dir', hexz: null, unit: 'bytes', peer: `${mib(free)} free, ~${mib(need)} needed`, peerValue: null, better: 'lower', target: '' });
    return;
  }
  const copy = c.path(`${tree.key}-copy`);
  const full = c.path(`${tree.key}-full.hxz`);
  try {
    log(`thin ${tree.key}: cp -a ${tree.path} ${copy} (untimed; ${mib(free)} free, ~${mib(need)} needed) ...`);
    const cpS = copyTree(tree.path, copy);
    const walk = walkTree(copy);
    const chosen = pickFiles(walk.files, SHARE, SEED);
    log(`thin ${tree.key}: copied in ${cpS.toFixed(0)} s; ${chosen.length} of ${walk.files.length} files chosen (seed ${SEED})`);
    syncAll();
    warmTree(walk);
    await waitQuiet(`thin ${tree.key}`, c.quiet, c.quietWaitMs);
    log(`thin ${tree.key}: full build of the copy (one run) ...`);
    const f = await c.hexz(['build', copy, '-o', full, '--json']);
    const fullJson = JSON.parse(f.stdout) as BuildJson;
    const fullBytes = statSync(full).size;
    const offset = fullJson.build.partitions[0].offset;
    const raw: Record<string, unknown> = { copySeconds: +cpS.toFixed(1), files: walk.files.length, chosen: chosen.length, seed: SEED, chosenSample: chosen.slice(0, 10), full: { ms: +f.ms.toFixed(0), archiveBytes: fullBytes, summary: fullJson } };
    c.results.raw[`thin ${tree.key}`] = raw;
    const fsckFull = fsckArchive(c, full, offset, `${tree.key}-full`);
    noteFsck(c, fsckFull, `full build of the copy of ${tree.path}`, `hexz build COPY -o full.hxz`);

    for (const v of VARIANTS) {
      v.change(chosen);
      const child = c.path(`${tree.key}-child-${v.key}.hxz`);
      const args = ['build', copy, '-o', child, '--parent', full, '--json'];
      let last: BuildJson | undefined;
      await waitQuiet(`thin ${tree.key} ${v.key}`, c.quiet, c.quietWaitMs);
      log(`thin ${tree.key}: ${v.what} changed in ${chosen.length} files; hexz build --parent ...`);
      const runs = await c.runs.repeat(`hexz build --parent ${tree.key} (${v.key})`, () => {
        rmSync(child, { force: true });
        syncAll();
        warmTree(walk);
      }, async () => {
        const r = await c.hexz(args);
        last = JSON.parse(r.stdout) as BuildJson;
        return r;
      });
      const childBytes = statSync(child).size;
      const s = medianS(runs);
      const fsck = fsckArchive(c, child, offset, `${tree.key}-child-${v.key}`);
      noteFsck(c, fsck, `thin child (${v.what}) of the copy of ${tree.path}`, `hexz build COPY -o full.hxz && (change 1% of files: ${v.what}) && hexz build COPY -o child.hxz --parent full.hxz`);
      raw[v.key] = { runsMs: runs.map((x) => +x.ms.toFixed(0)), rssKiB: runs.map((x) => x.rssKiB), archiveBytes: childBytes, storedBytes: storedBytes(last!), thin: last!.thin, fsck };
      c.results.add({ group: G, measure: `child archive size, ${v.what}`, hexz: childBytes, unit: 'B', peer: 'full archive of the copy', peerValue: fullBytes, better: 'lower', target: '<= 0.05x', met: childBytes <= 0.05 * fullBytes });
      c.results.add({ group: G, measure: `thin rebuild time, ${v.what}`, hexz: s, unit: 's', peer: 'full build of the copy (1 run)', peerValue: f.ms / 1000, better: 'lower', target: '' });
      c.results.add({ group: G, measure: `e2fsck -fn of the child (${v.key}): ${fsck.clean ? 'clean' : `*** FAILED (exit ${fsck.status}) ***`}`, hexz: null, unit: 's', peer: fsck.clean ? fsck.detail.replace(/^.*?: /, '') : 'see WARNING above the table', peerValue: null, better: 'lower', target: 'clean', met: fsck.clean, ratio: null });
      rmSync(child, { force: true });
    }
    c.results.add({ group: G, measure: `e2fsck -fn of the full build of the copy: ${fsckFull.clean ? 'clean' : `*** FAILED (exit ${fsckFull.status}) ***`}`, hexz: null, unit: 's', peer: fsckFull.clean ? fsckFull.detail.replace(/^.*?: /, '') : 'see WARNING above the table', peerValue: null, better: 'lower', target: 'clean', met: fsckFull.clean, ratio: null });
    c.info.push(`thin ${tree.path}: copy of ${walk.files.length} regular files (cp -a ${cpS.toFixed(0)} s); ${chosen.length} changed (mulberry32 seed ${SEED} over the sorted list); full build of the copy ${(f.ms / 1000).toFixed(1)} s, ${mib(fullBytes)}`);
  } finally {
    rmSync(copy, { recursive: true, force: true });
    rmSync(full, { force: true });
  }
}

function noteFsck(c: BuildContext, r: FsckResult, what: string, how: string): void {
  if (!r.clean) c.alarms.push(`e2fsck FAILED on the ${what} (exit ${r.status}): ${r.detail}\n    reproduce: ${how}; then ${r.commands.join(' && ')}`);
}
