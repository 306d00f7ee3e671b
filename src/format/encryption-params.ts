/**
 * Pure encode/decode of the encryption parameters at header bytes 128..256 (docs/FORMAT.md
 * §12.2): which cipher and KDF, the Argon2id costs, and the key envelope (salt, wrap nonce,
 * wrapped data key, tag, key check).
 */
import { CorruptArchiveError, UnsupportedError } from '../errors.js';

/** §12.2 Cipher id 1: AES-256-GCM. */
export const CIPHER_AES_256_GCM = 1;
/** §12.2 KDF id 1: Argon2id version 0x13. */
export const KDF_ARGON2ID = 1;
/** §12.2 Bounds a reader accepts for the Argon2id costs (they bound what a crafted header can make us spend). */
export const KDF_LIMITS = { memoryKiB: [8, 4194304], iterations: [1, 256], lanes: [1, 64] } as const;

/** Argon2id costs: memory in KiB, iterations (time cost) and lanes (parallelism). */
export interface KdfParams {
  memoryKiB: number;
  iterations: number;
  lanes: number;
}

/** The decoded 128 bytes of encryption parameters. */
export interface EncryptionParams {
  cipher: number;
  kdf: number;
  kdfParams: KdfParams;
  /** 16 random bytes. */
  salt: Uint8Array;
  /** 12-byte GCM nonce of the wrapped data key. */
  wrapNonce: Uint8Array;
  /** 32-byte GCM ciphertext of the data key. */
  wrappedKey: Uint8Array;
  /** 16-byte GCM tag of the wrapped data key. */
  wrapTag: Uint8Array;
  /** 16-byte key check derived from the password (§12.1). */
  keyCheck: Uint8Array;
}

/** Size of the encryption parameters region. */
export const ENCRYPTION_PARAMS_SIZE = 128;

/** Encodes `p` into 128 bytes (the region at header offset 128). */
export function encodeEncryptionParams(p: EncryptionParams): Uint8Array {
  const out = new Uint8Array(ENCRYPTION_PARAMS_SIZE);
  const v = new DataView(out.buffer);
  v.setUint8(0, p.cipher);
  v.setUint8(1, p.kdf);
  v.setUint32(4, p.kdfParams.memoryKiB, true);
  v.setUint32(8, p.kdfParams.iterations, true);
  v.setUint32(12, p.kdfParams.lanes, true);
  out.set(p.salt.subarray(0, 16), 16);
  out.set(p.wrapNonce.subarray(0, 12), 32);
  out.set(p.wrappedKey.subarray(0, 32), 48);
  out.set(p.wrapTag.subarray(0, 16), 80);
  out.set(p.keyCheck.subarray(0, 16), 96);
  return out;
}

/**
 * Decodes and validates the 128-byte region.
 * @throws UnsupportedError for an unknown cipher or KDF.
 * @throws CorruptArchiveError for KDF costs outside {@link KDF_LIMITS}.
 */
export function decodeEncryptionParams(bytes: Uint8Array): EncryptionParams {
  const v = new DataView(bytes.buffer, bytes.byteOffset, ENCRYPTION_PARAMS_SIZE);
  const cipher = v.getUint8(0);
  const kdf = v.getUint8(1);
  if (cipher !== CIPHER_AES_256_GCM) throw new UnsupportedError(`unknown cipher id ${cipher}`, { stage: 'header' });
  if (kdf !== KDF_ARGON2ID) throw new UnsupportedError(`unknown key derivation id ${kdf}`, { stage: 'header' });
  const kdfParams = { memoryKiB: v.getUint32(4, true), iterations: v.getUint32(8, true), lanes: v.getUint32(12, true) };
  const problem = checkKdfParams(kdfParams);
  if (problem) throw new CorruptArchiveError(`invalid key derivation parameters: ${problem}`, { stage: 'header' });
  return {
    cipher, kdf, kdfParams,
    salt: bytes.slice(16, 32), wrapNonce: bytes.slice(32, 44), wrappedKey: bytes.slice(48, 80),
    wrapTag: bytes.slice(80, 96), keyCheck: bytes.slice(96, 112),
  };
}

/** Returns what is wrong with `p` (outside {@link KDF_LIMITS}), or undefined when it is valid. */
export function checkKdfParams(p: KdfParams): string | undefined {
  for (const k of ['memoryKiB', 'iterations', 'lanes'] as const) {
    const [lo, hi] = KDF_LIMITS[k];
    if (!Number.isInteger(p[k]) || p[k] < lo || p[k] > hi) return `${k} ${p[k]} is outside [${lo}, ${hi}]`;
  }
  if (p.memoryKiB < 8 * p.lanes) return `memory ${p.memoryKiB} KiB is less than 8 KiB per lane (${p.lanes} lanes)`;
  return undefined;
}
