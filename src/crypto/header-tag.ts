import { timingSafeEqual } from 'node:crypto';
import { HEADER_TAG_OFFSET } from '../format/constants.js';
import { resealHeader } from '../format/header.js';
import { headerTagInput, storedHeaderTag } from '../format/header-tag.js';
import { blake3 } from '../hash/blake3.js';
import type { ArchiveKeys } from './archive-keys.js';
import { keyedBlake3 } from './content-hash.js';

/**
 * The header tag of an encrypted version 6 archive (docs/FORMAT.md §12.5): keyed BLAKE3-256,
 * under the archive's header key, of the neutral header with the tag zeroed. The header checksum
 * only detects damage; this tag makes every header field of an encrypted archive (stream roots,
 * sizes, extents, parents) impossible to change without the password going unnoticed.
 */
export function computeHeaderTag(headerBytes: Uint8Array, keys: ArchiveKeys): Uint8Array {
  return keyedBlake3(keys.headerKey)(headerTagInput(headerBytes));
}

/** Writes the tag into `headerBytes` (4096 bytes, in place), recomputes the checksum, and returns it. */
export function sealHeaderTag(headerBytes: Uint8Array, keys: ArchiveKeys): Uint8Array {
  headerBytes.set(computeHeaderTag(headerBytes, keys), HEADER_TAG_OFFSET);
  return resealHeader(headerBytes, blake3);
}

/** True when the stored tag is the one `keys` give for this header. */
export function headerTagMatches(headerBytes: Uint8Array, keys: ArchiveKeys): boolean {
  return timingSafeEqual(computeHeaderTag(headerBytes, keys), storedHeaderTag(headerBytes));
}
