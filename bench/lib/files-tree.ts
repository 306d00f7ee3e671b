/**
 * Whole-tree operations: `hexz files --json` beside the kernel listing a loop mount of the raw
 * partition (section 4), and `hexz diff --files` of the two snapshots (section 5).
 */
import { mkdirSync, statSync } from 'node:fs';
import type { FilesDiffReport } from '../../dist/index.js';
import type { FilesContext } from './files-context.js';
import { log } from './log.js';
import { loopMount } from './loop-mount.js';
import { readChars } from './proc-io.js';
import { msSince, nowNs, run, timeInProcess, type RunResult } from './run.js';
import type { Measure } from './screened-runs.js';
import { median } from './stats.js';

const ms = (rs: RunResult[]) => median(rs.map((r) => r.ms));
const list = (rs: RunResult[]) => rs.map((r) => +r.ms.toFixed(1));

/** Section 4: `hexz files v1.hxz --json > /dev/null` beside losetup + mount + find + umount + detach (root only). */
export async function listTree(c: FilesContext): Promise<void> {
  const asRoot = process.getuid?.() === 0 && c.has('losetup') && c.has('mount');
  const mnt = c.path('mnt');
  mkdirSync(mnt, { recursive: true });
  const findMs: number[] = [];
  const loop: Measure | undefined = asRoot ? {
    label: 'losetup + mount -o ro + find + umount + losetup -d',
    before: c.cold,
    run: () => timeInProcess(async () => {
      const m = await loopMount(c.raw1, c.partition.offset, c.partition.size, mnt, c.teardown);
      try {
        findMs.push((await run('find', [mnt, '-printf', '%p %s %m %T@\\n'], { stdoutTo: '/dev/null', time: false })).ms);
      } finally {
        await m.unmount();
      }
    }),
  } : undefined;
  log('whole-tree listing: hexz files --json vs a loop mount + find, alternated ...');
  const r = await c.runs.alternate({
    hexz: { label: 'hexz files --json', before: c.cold, run: () => c.hexz(['files', c.v1, '--json'], '/dev/null') },
    loop,
  });
  c.results.raw.listTree = { hexz: list(r.hexz), loop: r.loop ? list(r.loop) : null, findOnlyMs: findMs.map((x) => +x.toFixed(1)) };
  c.results.add({
    group: 'whole-tree listing, whole process, cold (ms, median)', measure: `hexz files v1.hxz --json > /dev/null (${c.entries} entries)`,
    hexz: ms(r.hexz), unit: 'ms', peer: 'losetup -r + mount -o ro + find -printf + umount + detach', peerValue: r.loop ? ms(r.loop) : null,
    better: 'lower', target: '',
  });
  if (r.loop) c.results.note(`listing: of the loop-mount workflow, \`find MNT -printf '%p %s %m %T@\\n'\` alone took ${median(findMs).toFixed(1)} ms (median); the rest is losetup, mount, umount and detach.`);
  else c.results.note('listing: the loop-mount peer needs root, losetup and mount: not measured.');
}

/** Section 5: `hexz diff v1.hxz v2.hxz --files --json` whole process, then once in process for counts and bytes read. */
export async function diffTree(c: FilesContext): Promise<void> {
  log('diff --files v1 v2 ...');
  const runs = await c.runs.repeat('hexz diff --files --json', c.cold, () => c.hexz(['diff', c.v1, c.v2, '--files', '--json'], '/dev/null'));
  // In process, cold, once: the report's counts, and every byte read from both archive files
  // (v2's blocks mostly live in its parent v1, which it opens itself: /proc/self/io sees both).
  c.cold();
  const chars0 = readChars();
  const t0 = nowNs();
  const report = await inProcessDiff(c);
  const inProcessMs = msSince(t0);
  const chars1 = readChars();
  const archiveBytes = chars0 === null || chars1 === null ? null : chars1 - chars0;
  const sizes = statSync(c.v1).size + statSync(c.v2).size;
  const counts = { added: report.added.length, removed: report.removed.length, changed: report.changed.length, filesCompared: report.filesCompared, bytesByIndex: report.bytesByIndex, bytesRead: report.bytesRead };
  c.results.raw.diff = { wholeProcessMs: list(runs), inProcessMs: +inProcessMs.toFixed(1), archiveBytesRead: archiveBytes, archivesBytes: sizes, ...counts };
  const G = 'diff --files v1.hxz v2.hxz (v2 thin against v1), cold';
  c.results.add({ group: G, measure: 'hexz diff --files --json > /dev/null (whole process)', hexz: ms(runs), unit: 'ms', peer: '', peerValue: null, better: 'lower', target: '' });
  c.results.add({ group: G, measure: 'bytes read from the archive files (in-process diffFiles)', hexz: archiveBytes, unit: 'B', peer: 'size of v1.hxz + v2.hxz', peerValue: sizes, better: 'lower', target: '' });
  c.results.note(`diff: ${counts.added} added, ${counts.removed} removed, ${counts.changed} changed; ${counts.filesCompared} regular files compared, ${counts.bytesByIndex} bytes proven equal from index hashes, ${counts.bytesRead} bytes of content read to compare; in process it took ${inProcessMs.toFixed(0)} ms and read ${archiveBytes ?? '?'} bytes of the two archive files (/proc/self/io rchar).`);
}

async function inProcessDiff(c: FilesContext): Promise<FilesDiffReport> {
  const a = await c.lib.Archive.open(c.v1);
  try {
    const b = await c.lib.Archive.open(c.v2);
    try {
      return await c.lib.diffFiles(a, b);
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}
