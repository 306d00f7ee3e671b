import { blakeHash } from '../hash/blake-hash-binding.js';
import type { Digest32 } from '../format/digest.js';

/**
 * BLAKE3-256 in keyed mode with the 32-byte `key` (docs/FORMAT.md §12.4): the content hash of
 * encrypted archives, used for dedup and for verifying blocks. Not thread-safe; one per thread.
 */
export function keyedBlake3(key: Uint8Array): Digest32 {
  const hasher = blakeHash.Blake3Hasher.newKeyed(Buffer.from(key));
  return (bytes: Uint8Array) => {
    hasher.reset();
    return new Uint8Array(hasher.update(bytes).digestBuffer());
  };
}
