import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import { formatBytes } from '../util/size.js';

/** Extra figures shown after the bar. */
export interface ProgressExtras {
  [key: string]: string;
}

/** A progress display: a bar on a TTY, nothing otherwise. */
export interface ProgressView {
  update(done: number, total: number | undefined, extras?: ProgressExtras): void;
  stop(): void;
}

/**
 * Creates a progress bar on stderr when it is a TTY and `enabled`; otherwise a no-op view.
 * Shows bytes done, throughput, ETA and any extras (dedup, compression so far).
 */
export function createProgress(label: string, enabled: boolean): ProgressView {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  // Loaded only when a bar is shown (a terminal): ~30 ms that scripts and pipes never pay.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  const started = Date.now();
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} {bar} {percentage}% | {doneText} / {totalText} | {rate}/s | ETA {etaText}{extrasText}`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  let startedBar = false;
  return {
    update(done, total, extras = {}) {
      const secs = Math.max((Date.now() - started) / 1000, 0.001);
      const rate = done / secs;
      const eta = total && rate > 0 ? Math.max(0, (total - done) / rate) : undefined;
      const payload = {
        doneText: formatBytes(done), totalText: total === undefined ? '?' : formatBytes(total), rate: formatBytes(Math.round(rate)),
        etaText: eta === undefined ? '?' : `${Math.round(eta)}s`,
        extrasText: Object.entries(extras).map(([k, v]) => ` | ${k} ${v}`).join(''),
      };
      const max = total ?? Math.max(done, 1);
      if (!startedBar) {
        bar.start(max, done, payload);
        startedBar = true;
      } else {
        bar.setTotal(max);
        bar.update(done, payload);
      }
    },
    stop() {
      if (startedBar) bar.stop();
    },
  };
}
