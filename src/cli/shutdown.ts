import { constants } from 'node:os';
import { liveTempFiles, type LiveTempFiles } from '../store/live-temp-files.js';

/** How long a command gets to clean up after the first SIGINT/SIGTERM before the process exits anyway (ms). */
export const SHUTDOWN_GRACE_MS = 2000;

/** The signals that end a command. */
export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

/** The conventional exit status after `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: ShutdownSignal): number {
  return 128 + constants.signals[signal];
}

/** Injected for tests; the defaults are the real process and registry. */
export interface ShutdownOptions {
  /** Grace period in ms (default {@link SHUTDOWN_GRACE_MS}). */
  graceMs?: number;
  /** Temp files to remove on a forced exit (default: the process registry). */
  tempFiles?: LiveTempFiles;
  /** Ends the process (default `process.exit`). */
  exit?: (code: number) => void;
  /** Writes one line to stderr (default `process.stderr.write`). */
  warn?: (line: string) => void;
}

/** Signal handling for one CLI run, installed by {@link installShutdown}. */
export interface Shutdown {
  /** Aborted on the first SIGINT/SIGTERM: commands pass it down so their cleanup runs. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: ShutdownSignal | undefined;
  /**
   * Removes the signal handlers once the command has finished with `exitCode`. A grace timer
   * already running stays armed (it is unref'd): if something the command started still holds
   * the process open, it ends it quietly with `exitCode`.
   */
  dispose(exitCode: number): void;
}

/**
 * Makes every command end promptly on SIGINT/SIGTERM, whatever it is waiting on. The first
 * signal aborts {@link Shutdown.signal} so the command cancels and cleans up (temp output
 * removed, exit 130/143); if it has not finished after the grace period — blocked in a read
 * that abort cannot interrupt, such as a FIFO or a stalled stdout — the registered temp files
 * are removed and the process exits with {@link signalExitCode}. A second signal exits at once
 * the same way. The grace timer is unref'd so it never keeps a finished process alive.
 */
export function installShutdown(options: ShutdownOptions = {}): Shutdown {
  const controller = new AbortController();
  const tempFiles = options.tempFiles ?? liveTempFiles;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const warn = options.warn ?? ((line: string) => void process.stderr.write(line));
  let received: ShutdownSignal | undefined;
  let finished: number | undefined;
  const forceExit = (signal: ShutdownSignal) => {
    tempFiles.removeAllSync();
    // A finished command has already reported; only a stuck one needs the line.
    if (finished === undefined) warn(`hexz: cancelled (${signal}); gave up waiting for cleanup\n`);
    exit(finished ?? signalExitCode(signal));
  };
  const onSignal = (signal: ShutdownSignal) => {
    if (received) return forceExit(received);
    received = signal;
    setTimeout(() => forceExit(signal), options.graceMs ?? SHUTDOWN_GRACE_MS).unref();
    controller.abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose(exitCode: number) {
      finished = exitCode;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
