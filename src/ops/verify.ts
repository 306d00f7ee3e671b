import { availableParallelism } from 'node:os';
import { Archive } from '../archive/archive.js';
import { EntryKind } from '../format/constants.js';
import { AbortedError, HexzError, exitCodeFor } from '../errors.js';
import { entryBatches } from './entry-batches.js';

/** The outcome of {@link verify}. */
export interface VerifyReport {
  file: string;
  ok: boolean;
  /** Checks that ran, in order, with their outcome. */
  checks: { name: string; ok: boolean; detail?: string }[];
  /** Blocks whose content hash was checked, and the logical bytes they cover. */
  blocksChecked: number;
  bytesChecked: number;
  /** The first damage found, if any. */
  error?: { code: string; exitCode: number; message: string; stream?: string; offset?: number; fileOffset?: number; stage?: string };
  seconds: number;
}

/**
 * Checks an archive completely: the header checksum, every index node's hash, that the index
 * tiles each stream exactly, and every block's decoding and BLAKE3 content hash. Stops at the
 * first damage and reports where it is; never throws for damage (only for cancellation).
 * @throws AbortedError when `signal` aborts.
 */
export async function verify(path: string, options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<VerifyReport> {
  const started = Date.now();
  const report: VerifyReport = { file: path, ok: true, checks: [], blocksChecked: 0, bytesChecked: 0, seconds: 0 };
  let a: Archive | undefined;
  try {
    a = await Archive.open(path, { verify: true, cacheBytes: 0, readAheadBytes: 0, decodeWorkers: availableParallelism() });
    report.checks.push({ name: 'header', ok: true, detail: 'magic, version, features and checksum' });
    const total = a.streams.reduce((n, s) => n + a!.size(s), 0);
    let done = 0;
    for (const stream of a.streams) {
      for await (const batch of entryBatches(a, stream, options.signal)) {
        for (const e of batch.entries) {
          if (e.kind !== EntryKind.ZERO) {
            report.blocksChecked++;
            report.bytesChecked += e.length;
          }
          done += e.length;
        }
        options.onProgress?.(done, total);
      }
      report.checks.push({ name: `${stream} stream`, ok: true, detail: 'index nodes, tiling, block decoding and content hashes' });
    }
  } catch (err) {
    if (err instanceof AbortedError) throw err;
    const e = err instanceof HexzError ? err : undefined;
    report.ok = false;
    report.error = {
      code: e?.code ?? 'INTERNAL', exitCode: exitCodeFor(err), message: (err as Error)?.message ?? String(err),
      stream: e?.location.stream, offset: e?.location.offset, fileOffset: e?.location.fileOffset, stage: e?.location.stage,
    };
    report.checks.push({ name: e?.location.stage ?? 'open', ok: false, detail: report.error.message });
  } finally {
    await a?.close();
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}
