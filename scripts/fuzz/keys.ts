/**
 * Archive keys for the fuzzer's own sealing and opening, whatever the signature of
 * deriveArchiveKeys in this tree: format 6 derives the object key with a label that depends on
 * the archive's version (a third argument), earlier trees take two arguments.
 */
import { deriveArchiveKeys, type ArchiveKeys } from '../../src/crypto/archive-keys.ts';

export function deriveKeys(dataKey: Uint8Array, archiveId: Uint8Array, version: number): ArchiveKeys {
  return (deriveArchiveKeys as (k: Uint8Array, id: Uint8Array, v?: number) => ArchiveKeys)(dataKey, archiveId, version);
}
