/**
 * CLI startup section: whole-process wall time of short `hexz` commands beside `node -e 0`
 * (the floor any node CLI pays), all taking turns run after run; medians, rows as ratios to
 * `node -e 0`. The commands run from the copied build, on the zstd archive (in the page cache).
 */
import type { BenchContext, PackedArchives } from '../lib/context.js';
import { log } from '../lib/log.js';
import { warm } from '../lib/page-cache.js';
import { run, timeInProcess, type RunResult } from '../lib/run.js';
import { median } from '../lib/stats.js';
import { waitQuiet } from '../lib/wait-quiet.js';

export async function startupSection(ctx: BenchContext, packed: PackedArchives): Promise<void> {
  const { results } = ctx;
  const n = ctx.settings.startupRuns;
  const archive = packed.hxzZstd;
  // No /usr/bin/time around these: its own fork + exec would be a visible share of a ~50 ms run
  // and shrink every ratio toward 1.
  const node = (args: string[], stdoutTo?: string) => () => run(process.execPath, args, { time: false, stdoutTo });
  const hexz = (...args: string[]) => [ctx.build.bin, ...args];
  await waitQuiet('startup', ctx.quiet, ctx.settings.quietWaitMs);
  log(`startup: node -e 0, hexz --version, hexz inspect, hexz cat --length 4K, alternated, ${n} runs each ...`);
  warm(archive);
  let m: Record<'node' | 'version' | 'inspect' | 'cat', RunResult[]> | undefined;
  // Runs this short cannot be screened one by one (10 ms CPU ticks); the section as a whole is
  // measured instead.
  const span = await timeInProcess(async () => {
    m = await ctx.runs.alternate({
      node: { label: 'node -e 0', run: node(['-e', '0']) },
      version: { label: 'hexz --version', run: node(hexz('--version')) },
      inspect: { label: 'hexz inspect', run: node(hexz('inspect', archive)) },
      cat: { label: 'hexz cat --length 4K', run: node(hexz('cat', '--length', '4K', archive), '/dev/null') },
    }, n, { screen: false });
  });
  const runs = m!;
  const ms = (rs: RunResult[]) => rs.map((r) => r.ms);
  results.raw.startupMs = { nodeE0: ms(runs.node), version: ms(runs.version), inspect: ms(runs.inspect), cat4k: ms(runs.cat), otherCpu: span.other ?? null };
  const base = median(ms(runs.node));
  const G = `CLI startup (whole process wall time, median of ${n} runs alternated with node -e 0; archive in page cache)`;
  const row = (measure: string, rs: RunResult[], max: number) => {
    const v = median(ms(rs));
    results.add({ group: G, measure, hexz: v, unit: 'ms', peer: 'node -e 0', peerValue: base, better: 'lower', target: `<= ${max.toFixed(2)}x`, met: v <= max * base });
  };
  row('hexz --version', runs.version, 1.3);
  row('hexz inspect ARCHIVE', runs.inspect, 1.6);
  row('hexz cat --length 4K ARCHIVE > /dev/null', runs.cat, 2.0);
  results.note(`startup: \`node bin/hexz.js …\` of the copied build and \`node -e 0\` (same node binary) as child processes, wall time from spawn to exit, taking turns (node, --version, inspect, cat, node, …); stdout is a pipe read by the bench, /dev/null for cat. Other processes used ${span.other === undefined ? '?' : `${(span.other * 100).toFixed(0)}%`} of the CPUs over the section (single runs are too short to screen).`);
}
