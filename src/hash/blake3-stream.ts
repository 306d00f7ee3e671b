import { blakeHash } from './blake-hash-binding.js';

/**
 * Incremental BLAKE3-256: feed bytes in pieces with {@link Blake3Stream.update}, read the
 * 32-byte digest with {@link Blake3Stream.digest}. Any split of a byte sequence hashes to what
 * `blake3()` (blake3.ts) gives for the whole, so large regions (a signature's covered bytes) are
 * hashed without holding them in memory.
 */
export class Blake3Stream {
  private readonly hasher = new blakeHash.Blake3Hasher();

  /** Adds `bytes` to the hashed sequence; returns this for chaining. */
  update(bytes: Uint8Array): this {
    this.hasher.update(bytes);
    return this;
  }

  /** The BLAKE3-256 (32 bytes) of everything added so far. */
  digest(): Uint8Array {
    return new Uint8Array(this.hasher.digestBuffer());
  }
}
