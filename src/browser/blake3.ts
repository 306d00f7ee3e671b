import type { Digest32 } from '../format/digest.js';

/**
 * BLAKE3-256 in WebAssembly (hash-wasm), as a synchronous {@link Digest32} once loaded; keyed
 * (docs/FORMAT.md §12.4) when `key` (32 bytes) is given. Each call makes its own hasher, so two
 * digests never share state.
 */
export async function loadBlake3(key?: Uint8Array): Promise<Digest32> {
  const { createBLAKE3 } = await import('./wasm-hashes.js');
  const hasher = await createBLAKE3(256, key);
  return (bytes) => {
    hasher.init();
    hasher.update(bytes);
    return hasher.digest('binary');
  };
}
