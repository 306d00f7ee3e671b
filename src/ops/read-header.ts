import { HEADER_SIZE } from '../format/constants.js';
import { decodeHeader, type Header } from '../format/header.js';
import { blake3 } from '../hash/blake3.js';
import type { ByteSource } from '../store/types.js';
import { HexzError } from '../errors.js';

/** An archive's header as raw bytes and decoded, and the archive's size. */
export interface ArchiveHeader {
  /** The first 4096 bytes, exactly as stored (kept so they can be patched or hashed as-is). */
  headerBytes: Uint8Array;
  /** The decoded, checksum-verified header. */
  header: Header;
  /** Size of the archive in bytes. */
  fileSize: number;
}

/**
 * Reads and validates the header of the archive in `source` (magic, version, checksum, fields;
 * docs/FORMAT.md §1, §8.1) without loading anything else.
 * @throws NotAnArchiveError, CorruptArchiveError, UnsupportedError as `decodeHeader`, with the
 *   source named in `location.archive`.
 * @throws StoreError when the source cannot be read.
 */
export async function readHeader(source: ByteSource, options: { signal?: AbortSignal } = {}): Promise<ArchiveHeader> {
  try {
    const fileSize = await source.size();
    const headerBytes = await source.read(0, HEADER_SIZE, options);
    return { headerBytes, header: decodeHeader(headerBytes, blake3), fileSize };
  } catch (err) {
    if (err instanceof HexzError) err.location.archive ??= source.name;
    throw err;
  }
}
