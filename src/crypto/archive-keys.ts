import { hkdfSync } from 'node:crypto';
import { blake3 } from '../hash/blake3.js';
import type { Digest32 } from '../format/digest.js';
import { keyedBlake3 } from './content-hash.js';
import { FORMAT_VERSION } from '../format/constants.js';
import { KEY_LABELS, objectKeyLabel } from './key-labels.js';

/** The keys an unlocked encrypted archive uses (docs/FORMAT.md §12.1). */
export interface ArchiveKeys {
  /** The 32-byte data key (wrapped in the header). */
  dataKey: Uint8Array;
  /** Seals this archive's blocks, nodes, dictionary and metadata; unique per archive id. */
  objectKey: Uint8Array;
  /** Key of the keyed BLAKE3 content hash; shared by archives with the same data key. */
  hashKey: Uint8Array;
  /** (version 6) Key of the header tag (§12.5); unique per archive id. */
  headerKey: Uint8Array;
}

const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string) => new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32));

/**
 * Derives the object, hash and header keys of archive `archiveId` (16 bytes) from its data key
 * (§12.1). The object key's label depends on the format `version` (default: the one this build
 * writes): a version 6 archive relabelled as version 5 to skip its header tag then opens
 * nothing, because every sealed object was sealed under the version 6 key.
 */
export function deriveArchiveKeys(dataKey: Uint8Array, archiveId: Uint8Array, version = FORMAT_VERSION): ArchiveKeys {
  const id = archiveId.subarray(0, 16);
  return {
    dataKey,
    objectKey: hkdf(dataKey, id, objectKeyLabel(version)),
    hashKey: hkdf(dataKey, new Uint8Array(0), KEY_LABELS.contentHash),
    headerKey: hkdf(dataKey, id, KEY_LABELS.headerKey),
  };
}

/** The content hash function of an archive: keyed BLAKE3 when encrypted, plain BLAKE3 otherwise. */
export function contentHasher(keys: ArchiveKeys | undefined): Digest32 {
  return keys ? keyedBlake3(keys.hashKey) : blake3;
}
