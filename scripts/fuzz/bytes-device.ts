/**
 * A BlockDevice over an image in memory, for the partition and filesystem walks. A read outside
 * the device is refused with a UsageError, as a StreamView refuses it (so a walk over the image
 * and one over an archive of it stay comparable), and also reported: the readers promise to
 * check their ranges before reading, so a reader that asks for bytes past the end has trusted
 * a number it should not have.
 */
import { UsageError } from '../../src/index.ts';
import type { BlockDevice } from '../../src/fs/types.ts';

export function bytesDevice(bytes: Uint8Array, onOutOfRange: (message: string) => void): BlockDevice {
  const size = bytes.length;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
        const message = `read of ${length} bytes at ${offset} is outside the ${size}-byte device`;
        onOutOfRange(`${message}${callerFrame(new Error().stack ?? '')}`);
        throw new UsageError(message);
      }
      // A copy, as a real device returns fresh bytes: a reader keeping or changing them must not alias the image.
      return bytes.slice(offset, offset + length);
    },
  };
}

/** ` @ frame` of the first caller in src/. */
function callerFrame(stack: string): string {
  const line = stack.split('\n').find((l) => l.includes('/src/'));
  return line ? ` @ ${line.trim()}` : '';
}
