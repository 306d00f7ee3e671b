import { blockAad, dictionaryAad, metadataAad, NonceClass, nodeAad } from '../format/seal-aad.js';
import type { ArchiveKeys } from './archive-keys.js';
import { NonceSequence, openSealed, seal } from './object-cipher.js';

/**
 * Seals and opens the stored objects of one encrypted archive (docs/FORMAT.md §12.3) with its
 * object key, binding each to the archive id and its place through the associated data.
 * Opening throws SealError (object-cipher.ts) when a tag does not verify; callers turn that
 * into an error naming the object.
 */
export class ArchiveCipher {
  private readonly nonces = new NonceSequence();

  constructor(readonly keys: ArchiveKeys, readonly archiveId: Uint8Array) {}

  /** Seals a block's encoded bytes that will be stored at `storedOffset`. */
  sealBlock(encoded: Uint8Array, storedOffset: number, length: number, encoding: number, hash: Uint8Array): Uint8Array {
    return seal(this.keys.objectKey, this.nonces.take(NonceClass.BLOCK), encoded, blockAad(this.archiveId, storedOffset, length, encoding, hash));
  }

  /** Opens a stored block; the arguments are those of its index entry. */
  openBlock(stored: Uint8Array, storedOffset: number, length: number, encoding: number, hash: Uint8Array): Uint8Array {
    return openSealed(this.keys.objectKey, stored, blockAad(this.archiveId, storedOffset, length, encoding, hash));
  }

  /** Seals an encoded index node of `stream` at `level` whose first record is at logical `firstOffset`. */
  sealNode(node: Uint8Array, stream: number, level: number, firstOffset: number): Uint8Array {
    return seal(this.keys.objectKey, this.nonces.take(NonceClass.NODE), node, nodeAad(this.archiveId, stream, level, firstOffset));
  }

  /** Opens a stored index node; the arguments are what its referrer records. */
  openNode(stored: Uint8Array, stream: number, level: number, firstOffset: number): Uint8Array {
    return openSealed(this.keys.objectKey, stored, nodeAad(this.archiveId, stream, level, firstOffset));
  }

  sealDictionary(bytes: Uint8Array): Uint8Array {
    return seal(this.keys.objectKey, this.nonces.take(NonceClass.DICTIONARY), bytes, dictionaryAad(this.archiveId));
  }

  openDictionary(stored: Uint8Array): Uint8Array {
    return openSealed(this.keys.objectKey, stored, dictionaryAad(this.archiveId));
  }

  sealMetadata(bytes: Uint8Array): Uint8Array {
    return seal(this.keys.objectKey, this.nonces.take(NonceClass.METADATA), bytes, metadataAad(this.archiveId));
  }

  openMetadata(stored: Uint8Array): Uint8Array {
    return openSealed(this.keys.objectKey, stored, metadataAad(this.archiveId));
  }
}
