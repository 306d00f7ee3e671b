import { bytesEqual, type Digest32 } from '../format/digest.js';
import type { Header } from '../format/header.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError } from '../errors.js';
import type { ArchiveOpener } from './reader-platform.js';
import { SealError } from '../crypto/seal-error.js';

/**
 * Reads and verifies the archive's zstd dictionary (§8.1): its stored bytes must hash to the
 * BLAKE3-256 recorded in the header, because every zstd block depends on it; in an encrypted
 * archive they are then unsealed (§12.4).
 * `blake3` is BLAKE3-256.
 * @throws CorruptArchiveError when the hash differs or the seal does not open.
 */
export async function loadDictionary(source: ByteSource, header: Header, cipher: ArchiveOpener | undefined, blake3: Digest32): Promise<Uint8Array | undefined> {
  const { offset, length } = header.dictionary;
  if (length === 0) return undefined;
  const bytes = await source.read(offset, length);
  if (bytes.length !== length || !bytesEqual(blake3(bytes), header.dictionaryInfo.hash)) {
    throw new CorruptArchiveError('dictionary hash mismatch', { stage: 'dictionary', fileOffset: offset });
  }
  if (!cipher) return bytes.slice();
  try {
    return await cipher.openDictionary(bytes);
  } catch (err) {
    if (!(err instanceof SealError)) throw err;
    throw new CorruptArchiveError('dictionary fails authentication (AES-GCM tag mismatch)', { stage: 'dictionary', fileOffset: offset }, { cause: err });
  }
}
