import { availableParallelism } from 'node:os';
import type { Archive } from '../node/archive.js';
import { UsageError } from '../errors.js';
import type { ServeExport } from './serve-export.js';

/** What {@link openExports} made, and how to release it once no server reads it any more. */
export interface OpenedExports {
  exports: ServeExport[];
  /** Flushes and closes the overlay, or stops the decode pools (the archives stay open). */
  close(): Promise<void>;
  /**
   * Resolves once the decode pools' threads have started (at once without pools): until then they
   * take the cores from the first requests (a fresh mount's first ~70 random 4 KiB reads had
   * 2-7 ms stalls every few reads while two workers loaded). Never rejects: a pool that failed
   * to start fails the reads that need it, with their own errors.
   */
  ready(): Promise<void>;
}

/**
 * The exports `hexz serve` and `hexz mount` offer for opened archives: with `overlay`, the
 * writable exports of that overlay file over the one archive (created on first use); otherwise
 * `archiveExports`, each archive with a run-decoding worker pool of one worker per core (on
 * more than one core), so long reads decode off the serving thread.
 * @throws UsageError for an overlay with several archives; as `Overlay.openOrCreate` does.
 */
export async function openExports(archives: { name: string; archive: Archive }[], options: { overlay?: string; parentDirs?: string[] } = {}): Promise<OpenedExports> {
  if (options.overlay !== undefined) {
    if (archives.length !== 1) throw new UsageError('--overlay: one archive with one overlay');
    const { Overlay } = await import('../overlay/overlay.js');
    const { overlayExports } = await import('../overlay/overlay-exports.js');
    const overlay = await Overlay.openOrCreate(options.overlay, archives[0].archive, { parentDirs: options.parentDirs });
    return { exports: overlayExports(overlay), close: () => overlay.close(), ready: async () => {} };
  }
  const { startRunDecoderPool } = await import('../node/run-decoder-pool.js');
  const { archiveExports } = await import('./archive-exports.js');
  const cores = availableParallelism();
  const pools = cores > 1 ? archives.map((a) => startRunDecoderPool(a.archive, cores)) : [];
  try {
    return {
      exports: archiveExports(archives.map((a, i) => ({ ...a, decoder: pools[i] }))),
      close: async () => void (await Promise.all(pools.map((p) => p.close()))),
      ready: async () => void (await Promise.all(pools.map((p) => p.ready().catch(() => {})))),
    };
  } catch (err) {
    await Promise.all(pools.map((p) => p.close()));
    throw err;
  }
}
