import { bytesEqual, type Digest32 } from '../format/digest.js';
import type { Header } from '../format/header.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError } from '../errors.js';
import type { ArchiveOpener } from './reader-platform.js';

/**
 * Reads, hash-checks, unseals (when `cipher` is given) and parses the archive's metadata object
 * (§13); the header must record one (`header.metadata.length > 0`). `archive` names the archive
 * in errors; `blake3` is BLAKE3-256.
 * @throws CorruptArchiveError when the metadata fails its hash, its seal, or is not a JSON object.
 */
export async function loadMetadata(source: ByteSource, header: Header, cipher: ArchiveOpener | undefined, archive: string, blake3: Digest32): Promise<Record<string, unknown>> {
  const { offset, length } = header.metadata;
  const stored = await source.read(offset, length);
  const corrupt = (what: string, cause?: unknown) => new CorruptArchiveError(`metadata ${what}`, { archive, stage: 'metadata', fileOffset: offset }, { cause });
  if (stored.length !== length || !bytesEqual(blake3(stored), header.metadataHash)) throw corrupt('hash mismatch');
  let plain = stored;
  if (cipher) {
    try {
      plain = await cipher.openMetadata(stored);
    } catch (err) {
      throw corrupt('fails authentication (AES-GCM tag mismatch)', err);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch (err) {
    throw corrupt('is not valid UTF-8 JSON', err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('is not a JSON object');
  return value as Record<string, unknown>;
}
