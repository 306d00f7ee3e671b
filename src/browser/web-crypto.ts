import type { ArchiveOpener, ReaderCrypto } from '../archive/reader-platform.js';
import type { ArchiveKeys } from '../crypto/archive-keys.js';
import { KEY_LABELS, objectKeyLabel } from '../crypto/key-labels.js';
import { checkKdfCost, DEFAULT_KDF_LIMITS } from '../crypto/kdf-limits.js';
import { SealError } from '../crypto/seal-error.js';
import { SEAL_OVERHEAD } from '../format/constants.js';
import { bytesEqual, type Digest32 } from '../format/digest.js';
import { checkKdfParams } from '../format/encryption-params.js';
import { headerTagInput, storedHeaderTag } from '../format/header-tag.js';
import { blockAad, dictionaryAad, keyWrapAad, metadataAad, nodeAad } from '../format/seal-aad.js';
import { CorruptArchiveError, UnsupportedError, WrongKeyError } from '../errors.js';
import { loadBlake3 } from './blake3.js';

const NONCE = 12;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** WebCrypto, or a clear error where the page has none (an insecure context: plain http to another host). */
function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) {
    throw new UnsupportedError('encrypted archives need WebCrypto, which this page does not have: open it over https:// or from localhost (a secure context)', { stage: 'key' });
  }
  return s;
}

// WebCrypto's BufferSource typing wants an ArrayBuffer-backed view; ours always are.
const buf = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

/** HKDF-SHA-256 of `ikm` with `salt` and the label `info`, `n` bytes (§12.1). */
async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, n: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', buf(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: buf(salt), info: utf8.encode(info) }, key, n * 8));
}

/** An AES-256-GCM key for opening sealed objects (§12.3). */
function aesKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', buf(raw), 'AES-GCM', false, ['decrypt']);
}

/** Opens `nonce ‖ ciphertext ‖ tag` (§12.3); rejects with SealError when the tag does not verify. */
async function openSealed(key: CryptoKey, stored: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  if (stored.length < SEAL_OVERHEAD) throw new SealError(`sealed object of ${stored.length} bytes is shorter than its nonce and tag`);
  try {
    return new Uint8Array(await subtle().decrypt(
      { name: 'AES-GCM', iv: buf(stored.subarray(0, NONCE)), additionalData: buf(aad), tagLength: 128 }, key, buf(stored.subarray(NONCE)),
    ));
  } catch (err) {
    // WebCrypto says only "OperationError" for a tag that fails; anything else is not ours to hide.
    if ((err as Error)?.name === 'OperationError') throw new SealError('authentication tag mismatch');
    throw err;
  }
}

/** Argon2id of the password (NFC, UTF-8), raw 32 bytes, in WebAssembly (hash-wasm). */
async function deriveKek(password: string, salt: Uint8Array, p: { memoryKiB: number; iterations: number; lanes: number }): Promise<Uint8Array> {
  const { argon2id } = await import('./wasm-hashes.js');
  return argon2id({
    password: utf8.encode(password.normalize('NFC')), salt, memorySize: p.memoryKiB, iterations: p.iterations, parallelism: p.lanes,
    hashLength: 32, outputType: 'binary',
  });
}

/** The sealed objects of one unlocked archive, opened with WebCrypto. */
class WebCryptoOpener implements ArchiveOpener {
  constructor(readonly keys: ArchiveKeys, readonly archiveId: Uint8Array, private readonly key: CryptoKey, readonly contentHash: Digest32) {}

  openBlock(stored: Uint8Array, storedOffset: number, length: number, encoding: number, hash: Uint8Array): Promise<Uint8Array> {
    return openSealed(this.key, stored, blockAad(this.archiveId, storedOffset, length, encoding, hash));
  }

  openNode(stored: Uint8Array, stream: number, level: number, firstOffset: number): Promise<Uint8Array> {
    return openSealed(this.key, stored, nodeAad(this.archiveId, stream, level, firstOffset));
  }

  openDictionary(stored: Uint8Array): Promise<Uint8Array> {
    return openSealed(this.key, stored, dictionaryAad(this.archiveId));
  }

  openMetadata(stored: Uint8Array): Promise<Uint8Array> {
    return openSealed(this.key, stored, metadataAad(this.archiveId));
  }
}

/** The opener of one archive's sealed objects from its keys (the page's, or a decode worker's copy). */
export async function webCryptoOpener(keys: ArchiveKeys, archiveId: Uint8Array): Promise<ArchiveOpener> {
  return new WebCryptoOpener(keys, archiveId, await aesKey(keys.objectKey), await loadBlake3(keys.hashKey));
}

/**
 * The browser's {@link ReaderCrypto} (docs/FORMAT.md §12): Argon2id in WebAssembly for the
 * password, WebCrypto HKDF-SHA-256 and AES-256-GCM for the key schedule and the sealed objects,
 * keyed BLAKE3 in WebAssembly for content hashes and the header tag. Everything is loaded on the
 * first encrypted archive. WebCrypto exists only in a secure context (https, localhost): elsewhere
 * unlocking is a clear UnsupportedError.
 */
export const webCrypto: ReaderCrypto = {
  async unlock(header, password, limits = DEFAULT_KDF_LIMITS) {
    const params = header.encryption!;
    const problem = checkKdfParams(params.kdfParams);
    if (problem) throw new CorruptArchiveError(`invalid key derivation parameters: ${problem}`, { stage: 'key' });
    checkKdfCost(params.kdfParams, limits);
    subtle();
    const kek = await deriveKek(password, params.salt, params.kdfParams);
    if (!bytesEqual(await hkdf(kek, EMPTY, KEY_LABELS.keyCheck, 16), params.keyCheck)) throw new WrongKeyError('wrong password', { stage: 'key' });
    const stored = new Uint8Array(SEAL_OVERHEAD + 32);
    stored.set(params.wrapNonce, 0);
    stored.set(params.wrappedKey, NONCE);
    stored.set(params.wrapTag, NONCE + 32);
    try {
      return await openSealed(await aesKey(await hkdf(kek, EMPTY, KEY_LABELS.keyWrap, 32)), stored, keyWrapAad(header.archiveId));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      throw new CorruptArchiveError('wrapped data key fails authentication (the header was altered)', { stage: 'key' }, { cause: err });
    }
  },

  async opener(dataKey, header) {
    const id = header.archiveId.subarray(0, 16);
    const [objectKey, hashKey, headerKey] = await Promise.all([
      hkdf(dataKey, id, objectKeyLabel(header.version), 32), hkdf(dataKey, EMPTY, KEY_LABELS.contentHash, 32), hkdf(dataKey, id, KEY_LABELS.headerKey, 32),
    ]);
    return webCryptoOpener({ dataKey, objectKey, hashKey, headerKey }, header.archiveId);
  },

  async headerTagMatches(headerBytes, keys) {
    const tag = (await loadBlake3(keys.headerKey))(headerTagInput(headerBytes));
    return bytesEqual(tag, storedHeaderTag(headerBytes));
  },
};
