/**
 * Reading one file out of a disk image, cold: `hexz cat --file` (whole process) beside getting
 * the same file out of the zstd qcow2 with qemu tools + debugfs (whole workflow), and the
 * library's readFile (in process) beside `debugfs cat` of the raw partition.
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { FilesContext } from './files-context.js';
import type { Target } from './files-setup.js';
import { log } from './log.js';
import { startQemuNbd, type QemuNbd } from './qemu-nbd.js';
import { run, timeInProcess, type RunResult } from './run.js';
import type { Measure } from './screened-runs.js';
import { median } from './stats.js';

const ms = (rs: RunResult[] | undefined) => (rs?.length ? median(rs.map((r) => r.ms)) : null);

/** `debugfs -R 'cat PATH' IMAGE > /dev/null` (no /usr/bin/time: runs of a few ms). */
const debugfsCat = (image: string, path: string) => run('debugfs', ['-R', `cat ${path}`, image], { stdoutTo: '/dev/null', time: false });

/** Section 1: whole-process `hexz cat --file` beside the qcow2 workflows (convert / qemu-nbd) + debugfs. */
export async function catWholeProcess(c: FilesContext, t: Target): Promise<void> {
  // Only the partition is converted or copied: debugfs needs the filesystem image, and the
  // raw driver's offset/size over the qcow2 cuts it out without converting the rest.
  const imageOpts = `driver=raw,offset=${c.partition.offset},size=${c.partition.size},file.driver=qcow2,file.file.filename=${c.qcow2}`;
  const converted = c.path('convert-part.raw');
  const copied = c.path('nbd-part.raw');
  const fresh = (out: string) => () => {
    rmSync(out, { force: true });
    c.cold();
  };
  const measures: Record<'hexz' | 'node' | 'convert' | 'nbd' | 'virt', Measure | undefined> = {
    hexz: { label: `hexz cat --file ${shortPath(t.path)}`, before: c.cold, run: () => c.hexz(['cat', c.v1, '--file', t.path], '/dev/null') },
    // The floor of any command of a Node CLI: the runtime starting cold, doing nothing.
    node: { label: 'node -e 0', before: c.cold, run: () => run(process.execPath, ['-e', '0'], { time: false }) },
    convert: c.has('qemu-img') ? {
      label: `qemu-img convert + debugfs cat ${shortPath(t.foot.realPath)}`,
      before: fresh(converted),
      run: () => timeInProcess(async () => {
        await run('qemu-img', ['convert', '--image-opts', imageOpts, '-O', 'raw', converted], { time: false });
        await debugfsCat(converted, t.foot.realPath);
      }),
    } : undefined,
    nbd: c.has('qemu-nbd') && c.has('nbdcopy') ? {
      label: `qemu-nbd + nbdcopy + debugfs cat ${shortPath(t.foot.realPath)}`,
      before: fresh(copied),
      run: () => nbdWorkflow(c, imageOpts, copied, t),
    } : undefined,
    virt: c.has('virt-cat') ? {
      label: `virt-cat ${shortPath(t.foot.realPath)}`,
      before: c.cold,
      run: () => run('virt-cat', ['-a', c.qcow2, t.foot.realPath], { stdoutTo: '/dev/null', time: false }),
    } : undefined,
  };
  log(`cat --file ${t.path} (${t.size} bytes), whole process, alternated with the qcow2 workflows ...`);
  const r = await c.runs.alternate(measures);
  rmSync(converted, { force: true });
  rmSync(copied, { force: true });
  c.results.raw[`catWholeProcess ${t.path}`] = Object.fromEntries(Object.entries(r).map(([k, rs]) => [k, rs.map((x) => +x.ms.toFixed(1))]));
  const G = 'cat one file, whole process, cold (ms, median)';
  const measure = `hexz cat --file ${shortPath(t.path)} (${sizeText(t.size)})`;
  const hexz = ms(r.hexz);
  const row = (peer: string, rs: RunResult[] | undefined, target: string, max?: number) => {
    const pv = ms(rs);
    c.results.add({ group: G, measure, hexz, unit: 'ms', peer, peerValue: pv, better: 'lower', target, met: max !== undefined && hexz !== null && pv !== null ? hexz <= max * pv : null });
  };
  row('qemu-img convert partition of zstd qcow2 + debugfs cat', r.convert, '<= 0.05x', 0.05);
  // Node's own cold start beside the same peer: when it alone exceeds 0.05x, no Node command can meet the target.
  c.results.add({ group: G, measure: 'node -e 0 (the floor: Node starting cold, nothing else)', hexz: ms(r.node), unit: 'ms', peer: 'qemu-img convert partition of zstd qcow2 + debugfs cat', peerValue: ms(r.convert), better: 'lower', target: '' });
  row('qemu-nbd -r + nbdcopy partition + debugfs cat', r.nbd, '');
  if (measures.virt) row('virt-cat -a zstd qcow2', r.virt, '');
}

/** One run of the NBD workflow: start the server, copy the partition, cat the file, stop the server. */
async function nbdWorkflow(c: FilesContext, imageOpts: string, out: string, t: Target): Promise<RunResult> {
  const held: { server?: QemuNbd; cpuS?: number | null } = {};
  try {
    const r = await timeInProcess(async () => {
      const server = await startQemuNbd(imageOpts, c.path('nbd.sock'), c.teardown);
      held.server = server;
      try {
        await run('nbdcopy', [server.uri, out], { time: false });
        await debugfsCat(out, t.foot.realPath);
      } finally {
        held.cpuS = server.cpuSeconds();
        server.signal(); // timed: a user stops the server too; waiting for it to exit is not
      }
    });
    // The server's decoding is this workflow's own work, not other processes' load.
    const serverS = held.cpuS ?? 0;
    return { ...r, other: r.other === undefined ? undefined : Math.max(0, r.other - serverS / ((r.ms / 1000) * availableParallelism())) };
  } finally {
    await held.server?.stopped();
  }
}

/** Section 3: the library's readFile in this process (fresh Archive each run) beside `debugfs cat` of the raw partition. */
export async function catInProcess(c: FilesContext, t: Target): Promise<void> {
  const { lib } = c;
  const read = async () => {
    const a = await lib.Archive.open(c.v1);
    try {
      let n = 0;
      for await (const chunk of (await lib.readFile(a, t.path)).chunks) n += chunk.length;
      if (n !== t.size) throw new Error(`readFile ${t.path}: ${n} bytes, expected ${t.size}`);
    } finally {
      await a.close();
    }
  };
  log(`readFile ${t.path} in process vs debugfs cat ${t.foot.realPath} of the raw partition, alternated ...`);
  const r = await c.runs.alternate({
    lib: { label: `readFile ${shortPath(t.path)} (in process)`, before: c.cold, run: () => timeInProcess(read) },
    debugfs: { label: `debugfs cat ${shortPath(t.foot.realPath)} (raw partition)`, before: c.cold, run: () => debugfsCat(c.partRaw, t.foot.realPath) },
  });
  c.results.raw[`catInProcess ${t.path}`] = { lib: r.lib.map((x) => +x.ms.toFixed(1)), debugfs: r.debugfs.map((x) => +x.ms.toFixed(1)) };
  c.results.add({
    group: 'read one file: library in process (open + readFile) vs debugfs on the raw partition (whole process), cold (ms, median)',
    measure: `readFile ${shortPath(t.path)} (${sizeText(t.size)})`, hexz: ms(r.lib), unit: 'ms',
    peer: `debugfs -R 'cat ${shortPath(t.foot.realPath)}' part.raw`, peerValue: ms(r.debugfs), better: 'lower', target: '<= 2.00x',
    met: ms(r.lib)! <= 2 * ms(r.debugfs)!,
  });
}

export function sizeText(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/** A path short enough for a table cell: long ones keep their last two components (`…/amdgpu/amdgpu.ko`). */
export function shortPath(p: string): string {
  return p.length <= 32 ? p : `…/${p.split('/').slice(-2).join('/')}`;
}
