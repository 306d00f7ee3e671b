import type { ByteSource } from './types.js';

/** A {@link ByteSource} over bytes in memory (tests, small archives, embedding). */
export class MemorySource implements ByteSource {
  constructor(private readonly bytes: Uint8Array, readonly name = 'memory') {}

  async size(): Promise<number> {
    return this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.bytes.subarray(Math.min(offset, this.bytes.length), Math.min(offset + length, this.bytes.length));
  }
}
