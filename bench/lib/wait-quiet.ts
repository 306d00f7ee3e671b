/** Waiting for a quiet machine before a section, and the record of what was seen. */
import { cpuBusy } from './cpu-share.js';
import { log } from './log.js';
import { msSince, nowNs } from './run.js';

/** What {@link waitQuiet} saw before one section (reported as otherCpuBeforeSections). */
export interface QuietRecord { section: string; busy: number | null; waitedS: number }

/**
 * Waits (up to `maxWaitMs`) until other processes use under 20% of the CPUs, so a section does
 * not start while something else is running; appends what it saw to `record`.
 */
export async function waitQuiet(section: string, record: QuietRecord[], maxWaitMs: number): Promise<void> {
  const t0 = nowNs();
  let busy = await cpuBusy(1000);
  while (busy !== null && busy > 0.2 && msSince(t0) < maxWaitMs) {
    log(`  machine busy (${(busy * 100).toFixed(0)}% CPU used by other processes); waiting before ${section} ...`);
    busy = await cpuBusy(2000);
  }
  record.push({ section, busy: busy === null ? null : +busy.toFixed(3), waitedS: +(msSince(t0) / 1000).toFixed(1) });
  if (busy !== null && busy > 0.2) log(`  WARNING: still ${(busy * 100).toFixed(0)}% busy; ${section} timings will be skewed`);
}
