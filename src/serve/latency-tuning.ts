import { setFlagsFromString } from 'node:v8';
import type { ServeExport } from './serve-export.js';

/**
 * Turns off V8's optimizing compiler (TurboFan) for the FUSE server of `hexz mount`; call it
 * before the server's first read. Why: on a small machine each
 * optimization compiles for 3–15 ms on a background thread that competes for a core with the
 * client and the serving thread, and it happens after a fixed number of reads, so a fresh
 * server's random 4 KiB reads had a tail of 1–5 ms reads at the same positions run after run
 * (a fresh mount, 1000 reads of the corpus disk, 2 cores: p99 1.4–2.7 ms with TurboFan,
 * 0.55–0.8 ms without; the whole-disk `dd` was not slower, the bytes are decoded and hashed in
 * native code and the serving JavaScript stays on V8's baseline tiers). `hexz serve` keeps
 * TurboFan: its NBD request path is heavier JavaScript, and without TurboFan its steady random
 * read p50 rose from 0.11–0.17 to 0.18–0.26 ms (same machine, alternated runs).
 */
export function preferSteadyLatency(): void {
  setFlagsFromString('--no-opt');
}

/**
 * Has V8 optimize the hot functions of `hexz serve` after fewer calls (its interrupt budget
 * from 66 KiB of bytecode executed to 8 KiB); call it before the server's first read. A fresh
 * server's request path still ran unoptimized, or was being compiled, well into its first
 * thousands of random reads, which a client measuring latency then (and the core that the
 * background compiler took from it) saw: steady-state random 4 KiB p50 through NBD 0.17 ms
 * with the default budget against 0.15 ms with this one (qemu-nbd 0.17 ms; median of three
 * alternated runs of 1500 reads and then 300 measured on a new connection, 2 cores).
 */
export function tierUpSooner(): void {
  setFlagsFromString('--interrupt-budget=8192');
}

/**
 * Reads 4 KiB of the first data run of each export once, before a server says it is ready:
 * the first read of a fresh process loads the index root and a leaf, starts the codec and
 * compiles the read path (about 2.5 ms measured), which would otherwise land on a client's
 * first request. Best effort: a failure here is left for the real read to report.
 */
export async function warmExports(exports: readonly ServeExport[]): Promise<void> {
  for (const e of exports) {
    try {
      const data = (await e.extents(0, e.size, 64)).find((x) => !x.zero);
      if (data) await e.read(data.offset, Math.min(4096, data.length));
    } catch {
      // The same read fails again when a client asks for it, with the error it deserves.
    }
  }
}
