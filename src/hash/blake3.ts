import { blakeHash } from './blake-hash-binding.js';

/** BLAKE3-256 of `bytes` (32 bytes). Native, about 4 GB/s on one core here. */
export function blake3(bytes: Uint8Array): Uint8Array {
  return blakeHash.blake3(bytes);
}
