/** A 32-byte digest function (BLAKE3-256 in practice), injected so format code stays pure. */
export type Digest32 = (bytes: Uint8Array) => Uint8Array;

/** True when two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Two lowercase hex digits per byte value (portable: no Buffer). */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b];
  return out;
}

/** A copy of `bytes[from, to)` that owns its memory (a Buffer's own `slice` would be a view). */
export function copyBytes(bytes: Uint8Array, from: number, to: number): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes, from, to);
}
