import { GEAR } from './gear-table.js';
import { NORMALIZATION_LEVEL, type ChunkParams } from './chunk-params.js';

/**
 * The gear table as int32: same bits, but every entry is a V8 small integer, so
 * `(fp << 1) + gear[b]` stays in int32 arithmetic instead of going through doubles (values of a
 * Uint32Array above 2^31 are not). `| 0` makes the sum wrap exactly as the u32 spec's does.
 */
const GEAR_I32 = new Int32Array(GEAR.buffer, GEAR.byteOffset, GEAR.length);

/**
 * FastCDC with normalized chunking (Xia et al., USENIX ATC 2016), exactly as specified in
 * docs/FORMAT.md §3.2. Streaming: bytes are pushed in pieces of any size and the cut points
 * found are the same whatever the split, because the only state carried between pushes is the
 * current chunk's length so far and its rolling hash.
 */
export class FastCdc {
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;
  /** Masks tested before (small, more bits) and after (large, fewer bits) the average. */
  private readonly maskS: number;
  private readonly maskL: number;
  /** Bytes of the current, unfinished chunk seen so far. */
  private pos = 0;
  private fp = 0;

  constructor(params: ChunkParams) {
    this.min = params.min;
    this.avg = params.avg;
    this.max = params.max;
    const bits = Math.log2(params.avg);
    this.maskS = topBits(bits + NORMALIZATION_LEVEL);
    this.maskL = topBits(Math.max(1, bits - NORMALIZATION_LEVEL));
  }

  /**
   * Scans `bytes`, the next bytes of the stream.
   * @returns the lengths (bytes) of the chunks that end inside `bytes`, in order. The first
   *   length counts bytes pushed earlier that were still pending.
   */
  push(bytes: Uint8Array): number[] {
    const cuts: number[] = [];
    const { min, avg, max, maskS, maskL } = this;
    const gear = GEAR_I32;
    const n = bytes.length;
    let pos = this.pos;
    let fp = this.fp;
    let i = 0;
    while (i < n) {
      if (pos < min) {
        // The first `min` bytes of a chunk are not hashed (FastCDC's cut-point skipping).
        const k = Math.min(min - pos, n - i);
        pos += k;
        i += k;
        if (pos === max) { cuts.push(pos); pos = 0; fp = 0; }
        continue;
      }
      let cut = false;
      let start = i;
      if (pos < avg) {
        // Before the average: the stricter mask makes small chunks rare.
        const endS = i + Math.min(avg - pos, n - i);
        for (; i < endS; i++) {
          fp = ((fp << 1) + gear[bytes[i]]) | 0;
          if ((fp & maskS) === 0) { i++; cut = true; break; }
        }
        pos += i - start;
        if (cut) { cuts.push(pos); pos = 0; fp = 0; continue; }
        if (pos < avg) continue; // input ran out before the average
        start = i;
      }
      // From the average on: the looser mask makes large chunks rare.
      const endL = i + Math.min(max - pos, n - i);
      for (; i < endL; i++) {
        fp = ((fp << 1) + gear[bytes[i]]) | 0;
        if ((fp & maskL) === 0) { i++; cut = true; break; }
      }
      pos += i - start;
      if (cut || pos === max) { cuts.push(pos); pos = 0; fp = 0; }
    }
    this.pos = pos;
    this.fp = fp;
    return cuts;
  }

  /** Ends the stream. @returns the length of the final, unfinished chunk (0 when none). */
  finish(): number {
    const last = this.pos;
    this.pos = 0;
    this.fp = 0;
    return last;
  }
}

/** A 32-bit mask with the top `k` bits set (as a signed int32, to compare with `| 0` values). */
function topBits(k: number): number {
  return k >= 32 ? -1 : ((((1 << k) - 1) << (32 - k)) | 0);
}
