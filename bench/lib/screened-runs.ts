/**
 * Repeated timed runs, screened for other processes' CPU use and alternated between measures.
 *
 * Alternation: the measures of a comparison take turns (hexz run, peer run, hexz run, …), so a
 * stretch of background load or a thermal or cache state falls on both sides rather than on all
 * runs of one; each side reports the median of its runs.
 * Screening: a run during which other processes used over {@link DISTURBED} of the CPUs is set
 * aside and that measure runs again in a later round (at most 3 x the run count in all).
 */
import { log } from './log.js';
import type { RunResult } from './run.js';
import { median } from './stats.js';

/** Other processes' CPU share above which a run is set aside. */
export const DISTURBED = 0.25;

/** One measure taking part in {@link ScreenedRuns.alternate}. */
export interface Measure<R extends RunResult = RunResult> {
  label: string;
  /** Untimed preparation before every run (delete the last output, warm the input, …). */
  before?: () => void;
  run: () => Promise<R>;
}

/** The runs {@link ScreenedRuns.alternate} returns, under the keys of its measures. */
export type RunsOf<M> = { [K in keyof M]: M[K] extends Measure<infer R> | undefined ? R[] : never };

export class ScreenedRuns {
  /** Runs set aside as disturbed. */
  readonly disturbed: { label: string; ms: number; other: number }[] = [];
  /** Measures that had no undisturbed run at all (their figures use disturbed runs). */
  readonly noisy: string[] = [];

  /** @param runs default number of undisturbed runs wanted per measure. */
  constructor(readonly runs: number) {}

  /**
   * Runs the measures in turn (in the record's order; undefined ones are skipped), round after
   * round, until each has `runs` undisturbed runs or 3 x `runs` attempts. Returns, under each
   * measure's key, its undisturbed runs, or every run when none was undisturbed.
   * `screen: false` keeps every run: for runs so short that only the slowest (over 1 s) would
   * have a CPU share at all, and screening those alone would bias the median.
   */
  async alternate<M extends Record<string, Measure<RunResult> | undefined>>(measures: M, runs = this.runs, opts: { screen?: boolean } = {}): Promise<RunsOf<M>> {
    const screen = opts.screen ?? true;
    const list = Object.entries(measures).filter((e): e is [string, Measure<RunResult>] => e[1] !== undefined);
    const all: RunResult[][] = list.map(() => []);
    const clean: RunResult[][] = list.map(() => []);
    for (let round = 0; round < runs * 3; round++) {
      let ran = false;
      for (const [i, [, m]] of list.entries()) {
        if (clean[i].length >= runs) continue;
        ran = true;
        m.before?.();
        const r = await m.run();
        all[i].push(r);
        const bad = screen && r.other !== undefined && r.other > DISTURBED;
        if (bad) this.disturbed.push({ label: m.label, ms: Math.round(r.ms), other: +r.other!.toFixed(2) });
        else clean[i].push(r);
        log(`  ${m.label} run ${all[i].length}: ${r.ms >= 1000 ? `${(r.ms / 1000).toFixed(2)} s` : `${r.ms.toFixed(1)} ms`}${r.rssKiB ? `, peak RSS ${(r.rssKiB / 1024).toFixed(0)} MiB` : ''}${r.other !== undefined ? `, other processes ${(r.other * 100).toFixed(0)}% CPU${bad ? ' (disturbed, repeated)' : ''}` : ''}`);
      }
      if (!ran) break;
    }
    return Object.fromEntries(list.map(([key, m], i) => {
      if (!clean[i].length) this.noisy.push(m.label);
      return [key, clean[i].length ? clean[i] : all[i]];
    })) as RunsOf<M>;
  }

  /** {@link alternate} of a single measure: `runs` undisturbed runs of it, one after another. */
  async repeat<R extends RunResult>(label: string, before: () => void, run: () => Promise<R>, runs = this.runs): Promise<R[]> {
    const { only } = await this.alternate({ only: { label, before, run } }, runs);
    return only;
  }
}

/** Median wall time of runs, in seconds. */
export const medianS = (rs: RunResult[]) => median(rs.map((r) => r.ms)) / 1000;

/** Largest peak RSS of runs (KiB), or null when none was measured. */
export const maxRss = (rs: RunResult[]) => (rs.some((r) => r.rssKiB) ? Math.max(...rs.map((r) => r.rssKiB ?? 0)) : null);
