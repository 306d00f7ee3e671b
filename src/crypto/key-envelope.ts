/**
 * The password → key-encryption key → wrapped data key envelope of encrypted archives
 * (docs/FORMAT.md §12.1–§12.2). Argon2id is deliberately slow; everything else is HKDF and GCM.
 */
import { hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Algorithm, Version } from '@node-rs/argon2';
import { CIPHER_AES_256_GCM, checkKdfParams, KDF_ARGON2ID, type EncryptionParams, type KdfParams } from '../format/encryption-params.js';
import { keyWrapAad } from '../format/seal-aad.js';
import { CorruptArchiveError, UsageError, WrongKeyError } from '../errors.js';
import { openSealed, seal, SealError } from './object-cipher.js';
import { KEY_LABELS } from './key-labels.js';
import { checkKdfCost, kdfLimitsFromEnv, type KdfLimits } from './kdf-limits.js';

/** §12.2 Default Argon2id costs: 64 MiB, 3 iterations, 4 lanes (about a quarter second here). */
export const DEFAULT_KDF: KdfParams = { memoryKiB: 65536, iterations: 3, lanes: 4 };

/** Source of random bytes; injectable so golden vectors are reproducible. */
export type RandomBytes = (n: number) => Uint8Array;

const hkdf = (kek: Uint8Array, info: string, n: number) => new Uint8Array(hkdfSync('sha256', kek, new Uint8Array(0), info, n));

/**
 * Argon2id of the password (UTF-8 after NFC normalization) with the envelope's salt and costs.
 * @returns the 32-byte key-encryption key.
 */
export async function deriveKek(password: string, salt: Uint8Array, kdf: KdfParams): Promise<Uint8Array> {
  // Loaded on first use: most commands never derive a key, and the addon costs ~40 ms to load.
  const { hashRaw } = await import('@node-rs/argon2');
  const raw = await hashRaw(Buffer.from(password.normalize('NFC'), 'utf8'), {
    // The package's enums are `const enum`s with no runtime object: 2 = Argon2id, 1 = version 0x13.
    algorithm: 2 as Algorithm, version: 1 as Version, memoryCost: kdf.memoryKiB, timeCost: kdf.iterations, parallelism: kdf.lanes,
    outputLen: 32, salt,
  });
  return new Uint8Array(raw);
}

/**
 * Wraps `dataKey` (32 bytes) under a key derived from `password`, for archive `archiveId`.
 * @throws UsageError for an empty password or KDF costs outside the format's limits.
 * @throws UnsupportedError for costs above the reader limits in force ({@link kdfLimitsFromEnv}):
 *   an archive that default readers would refuse is not written.
 */
export async function createEnvelope(password: string, dataKey: Uint8Array, archiveId: Uint8Array, kdf: KdfParams = DEFAULT_KDF, random: RandomBytes = randomBytes): Promise<EncryptionParams> {
  if (password.length === 0) throw new UsageError('the password must not be empty');
  const problem = checkKdfParams(kdf);
  if (problem) throw new UsageError(`invalid key derivation parameters: ${problem}`);
  checkKdfCost(kdf, kdfLimitsFromEnv());
  const salt = random(16);
  const wrapNonce = random(12);
  const kek = await deriveKek(password, salt, kdf);
  const sealed = seal(hkdf(kek, KEY_LABELS.keyWrap, 32), wrapNonce, dataKey, keyWrapAad(archiveId));
  return {
    cipher: CIPHER_AES_256_GCM, kdf: KDF_ARGON2ID, kdfParams: { ...kdf }, salt, wrapNonce,
    wrappedKey: sealed.subarray(12, 44), wrapTag: sealed.subarray(44, 60), keyCheck: hkdf(kek, KEY_LABELS.keyCheck, 16),
  };
}

/**
 * Recovers the data key from the envelope.
 * @param limits the most this caller agrees to spend on Argon2id (default: {@link kdfLimitsFromEnv}).
 * @throws UnsupportedError when the envelope's costs exceed `limits` (nothing is derived).
 * @throws WrongKeyError when the password is not the archive's (the key check differs).
 * @throws CorruptArchiveError when the password is right but the wrapped key fails authentication.
 */
export async function unlockEnvelope(params: EncryptionParams, password: string, archiveId: Uint8Array, limits: KdfLimits = kdfLimitsFromEnv()): Promise<Uint8Array> {
  checkKdfCost(params.kdfParams, limits);
  const kek = await deriveKek(password, params.salt, params.kdfParams);
  const check = hkdf(kek, KEY_LABELS.keyCheck, 16);
  if (!timingSafeEqual(check, params.keyCheck)) throw new WrongKeyError('wrong password', { stage: 'key' });
  const stored = new Uint8Array(60);
  stored.set(params.wrapNonce, 0);
  stored.set(params.wrappedKey, 12);
  stored.set(params.wrapTag, 44);
  try {
    return openSealed(hkdf(kek, KEY_LABELS.keyWrap, 32), stored, keyWrapAad(archiveId));
  } catch (err) {
    if (!(err instanceof SealError)) throw err;
    throw new CorruptArchiveError('wrapped data key fails authentication (the header was altered)', { stage: 'key' }, { cause: err });
  }
}
