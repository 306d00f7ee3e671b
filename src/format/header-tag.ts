/**
 * What the header tag of an encrypted archive covers (docs/FORMAT.md §12.5). Pure: the tag
 * itself is computed in crypto/header-tag.ts with a key only the password unlocks.
 */
import { HEADER_TAG_OFFSET, HEADER_TAG_SIZE } from './constants.js';
import { copyBytes } from './digest.js';
import { neutralHeader } from './signature.js';

/**
 * The bytes the header tag authenticates: the neutral header (§14: bytes [0, 4064) with the
 * signature extent and key envelope zeroed, so `sign` and `passwd` keep the tag valid) with the
 * tag field itself zeroed.
 * @throws RangeError when `headerBytes` is shorter than 4064 bytes.
 */
export function headerTagInput(headerBytes: Uint8Array): Uint8Array {
  const out = neutralHeader(headerBytes);
  out.fill(0, HEADER_TAG_OFFSET, HEADER_TAG_OFFSET + HEADER_TAG_SIZE);
  return out;
}

/** The stored tag: header bytes 1120..1152 (a copy). */
export function storedHeaderTag(headerBytes: Uint8Array): Uint8Array {
  return copyBytes(headerBytes, HEADER_TAG_OFFSET, HEADER_TAG_OFFSET + HEADER_TAG_SIZE);
}
