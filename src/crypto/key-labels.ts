import { HEADER_TAG_VERSION } from '../format/constants.js';

/**
 * The HKDF-SHA-256 `info` labels of the key schedule (docs/FORMAT.md §12.1, §12.2), shared by
 * every implementation of it (node:crypto in `archive-keys.ts` / `key-envelope.ts`, WebCrypto in
 * `browser/web-crypto.ts`) so the two can never drift apart.
 */
export const KEY_LABELS = {
  /** §12.2 The 32-byte key that wraps the data key, from the password's KEK. */
  keyWrap: 'hexz v4 key wrap',
  /** §12.2 The 16-byte check value of the KEK (a wrong password is told from a damaged header). */
  keyCheck: 'hexz v4 key check',
  /** §12.1 The content hash key (salt: none; shared by a thin lineage with the same data key). */
  contentHash: 'hexz v4 content hash key',
  /** §12.5 The header tag key (salt: the archive id). */
  headerKey: 'hexz v6 header key',
} as const;

/** §12.1 The object key label of a format `version` (salt: the archive id): version 6 changed it, so a v6 archive relabelled v5 opens nothing. */
export function objectKeyLabel(version: number): string {
  return version >= HEADER_TAG_VERSION ? 'hexz v6 object key' : 'hexz v4 object key';
}
