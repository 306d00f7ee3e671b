/**
 * AES-256-GCM sealing of stored objects (docs/FORMAT.md §12.3): a sealed object is
 * nonce (12) ‖ ciphertext ‖ tag (16).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SEAL_OVERHEAD } from '../format/constants.js';
import type { NonceClassId } from '../format/seal-aad.js';
import { SealError } from './seal-error.js';

const NONCE = 12;
const TAG = 16;

export { SealError };

/**
 * Seals `plaintext` with `key` (32 bytes) under `nonce` (12 bytes) and `aad`.
 * @returns a new array of `plaintext.length + 28` bytes.
 */
export function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + SEAL_OVERHEAD);
  out.set(nonce.subarray(0, NONCE), 0);
  const c = createCipheriv('aes-256-gcm', key, nonce.subarray(0, NONCE));
  c.setAAD(aad);
  const body = c.update(plaintext);
  out.set(body, NONCE);
  const fin = c.final();
  out.set(fin, NONCE + body.length);
  out.set(c.getAuthTag(), NONCE + plaintext.length);
  return out;
}

/**
 * Opens a sealed object.
 * @returns the plaintext (`stored.length - 28` bytes).
 * @throws SealError when `stored` is too short or its tag does not verify.
 */
export function openSealed(key: Uint8Array, stored: Uint8Array, aad: Uint8Array): Uint8Array {
  if (stored.length < SEAL_OVERHEAD) throw new SealError(`sealed object of ${stored.length} bytes is shorter than its nonce and tag`);
  const d = createDecipheriv('aes-256-gcm', key, stored.subarray(0, NONCE));
  d.setAAD(aad);
  d.setAuthTag(stored.subarray(stored.length - TAG));
  const out = d.update(stored.subarray(NONCE, stored.length - TAG));
  try {
    d.final();
  } catch {
    throw new SealError('authentication tag mismatch');
  }
  // Callers keep views of the result and may transfer its buffer to a worker, so it must own
  // its whole ArrayBuffer; update()'s output normally does (copy only when it is a pooled slice).
  return out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? new Uint8Array(out.buffer) : new Uint8Array(out);
}

/**
 * This writer's nonces: u32 class ‖ u64 counter, counters from 0 per class (§12.3). Unique by
 * construction within one archive, whose object key is itself unique per archive id.
 */
export class NonceSequence {
  private readonly next = new Map<number, number>();

  /** The next unused nonce of `cls` (12 bytes). */
  take(cls: NonceClassId): Uint8Array {
    const n = this.next.get(cls) ?? 0;
    this.next.set(cls, n + 1);
    const out = new Uint8Array(NONCE);
    const v = new DataView(out.buffer);
    v.setUint32(0, cls, true);
    v.setUint32(4, n >>> 0, true);
    v.setUint32(8, Math.floor(n / 0x100000000), true);
    return out;
  }
}
