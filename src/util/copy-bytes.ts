/** Bytes staged per step by {@link copyBytes} (a multiple of 8). */
const STAGE_BYTES = 256 << 10;
let stage: Uint8Array | undefined;

/**
 * `target.set(source, at)`, fast also where one side is shared memory (a SharedArrayBuffer):
 * V8 copies to or from shared memory with relaxed atomic word stores when source and target are
 * equally aligned and byte by byte when they are not, about 1.4 GB/s here against 9 GB/s for
 * ordinary memory. A misaligned copy (a network chunk lands at any offset) is therefore staged
 * through ordinary memory placed to match the target's alignment: two fast copies instead of
 * one slow one.
 * @throws RangeError as `set` does when the source does not fit at `at`.
 */
export function copyBytes(source: Uint8Array, target: Uint8Array, at = 0): void {
  const shared = target.buffer instanceof SharedArrayBuffer || source.buffer instanceof SharedArrayBuffer;
  if (!shared || source.length < 4096 || ((source.byteOffset - target.byteOffset - at) & 7) === 0) {
    target.set(source, at);
    return;
  }
  if (at + source.length > target.length) throw new RangeError('offset is out of bounds');
  stage ??= new Uint8Array(STAGE_BYTES + 8);
  // The staging buffer's own memory is 8-aligned: start at the target position's alignment.
  const shift = (target.byteOffset + at) & 7;
  for (let done = 0; done < source.length; done += STAGE_BYTES) {
    const part = source.subarray(done, Math.min(source.length, done + STAGE_BYTES));
    const staged = stage.subarray(shift, shift + part.length);
    staged.set(part);
    target.set(staged, at + done);
  }
}
