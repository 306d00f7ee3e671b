import { FastCdc } from '../chunk/fast-cdc.js';
import type { ChunkParams } from '../chunk/chunk-params.js';

/**
 * Where a stream is cut into blocks, fed piece by piece: fixed-size blocks on the grid of the
 * block size (docs/FORMAT.md §3), or FastCDC chunks (§3.2). The same cut points as the packer's
 * (pack.ts with block-input.ts / cdc-input.ts) for the same bytes and the same restart points,
 * so a stream re-cut from one of its blocks' starts finds the blocks a full pack would.
 */
export interface BlockCutter {
  /** True for content-defined chunks (cut points depend on the bytes), false for the fixed grid. */
  readonly contentDefined: boolean;
  /** Forgets any unfinished block; the next byte pushed is at stream offset `at` and starts a block. */
  restart(at: number): void;
  /**
   * Scans the next `bytes` of the stream.
   * @returns the lengths in bytes of the blocks that end inside `bytes`, in order (the first
   *   one counts bytes pushed earlier that were still pending).
   */
  push(bytes: Uint8Array): number[];
  /** Ends the current block here. @returns its length in bytes (0 when none was begun). */
  finish(): number;
}

/** A cutter for fixed blocks of `blockSize` bytes, cut at every multiple of it from stream offset 0. */
export function fixedCutter(blockSize: number): BlockCutter {
  let pos = 0;
  let pending = 0;
  return {
    contentDefined: false,
    restart(at) {
      pos = at;
      pending = 0;
    },
    push(bytes) {
      const cuts: number[] = [];
      let n = bytes.length;
      while (n > 0) {
        const k = Math.min(blockSize - (pos % blockSize), n);
        pos += k;
        pending += k;
        n -= k;
        if (pos % blockSize === 0) {
          cuts.push(pending);
          pending = 0;
        }
      }
      return cuts;
    },
    finish() {
      const last = pending;
      pending = 0;
      return last;
    },
  };
}

/** A FastCDC cutter with `params` (a restart begins a new chunk with a fresh rolling hash). */
export function cdcCutter(params: ChunkParams): BlockCutter {
  const cdc = new FastCdc(params);
  return {
    contentDefined: true,
    restart: () => void cdc.finish(),
    push: (bytes) => cdc.push(bytes),
    finish: () => cdc.finish(),
  };
}
