import { coveredRanges, isSigned, neutralHeader } from '../format/signature.js';
import type { Extent, Header } from '../format/header.js';
import { Blake3Stream } from '../hash/blake3-stream.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, throwIfAborted } from '../errors.js';

/** Largest read while hashing covered bytes: big enough to amortise each request, small enough to stay flat in memory. */
const READ_BYTES = 4 << 20;

/**
 * `D` of docs/FORMAT.md §14: BLAKE3-256 of the neutral header, the dictionary region and
 * everything from the end of the data region to the signature block (index nodes, metadata).
 * Streams the ranges in reads of at most 4 MiB, reading the next while hashing the current.
 * @param headerBytes the archive's first 4096 bytes as stored.
 * @param header those bytes decoded.
 * @param fileSize the archive's size; for an unsigned archive the covered bytes end there
 *   (where a new signature block goes), for a signed one at the recorded signature offset.
 * @returns the 32-byte digest.
 * @throws CorruptArchiveError when the data region is misplaced or the file ends early.
 * @throws StoreError when a read fails; AbortedError when `signal` aborts.
 */
export async function coveredDigest(
  source: ByteSource, headerBytes: Uint8Array, header: Header, fileSize: number, options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const end = isSigned(header) ? header.signature.offset : fileSize;
  if (end > fileSize) throw new CorruptArchiveError(`archive is truncated: ${fileSize} bytes, its signature is at ${end}`, { archive: source.name, stage: 'signature' });
  const hasher = new Blake3Stream().update(neutralHeader(headerBytes));
  for (const range of coveredRanges(header, end)) await hashRange(source, range, hasher, options.signal);
  return hasher.digest();
}

async function hashRange(source: ByteSource, range: Extent, hasher: Blake3Stream, signal?: AbortSignal): Promise<void> {
  const end = range.offset + range.length;
  const readAt = (at: number) => source.read(at, Math.min(READ_BYTES, end - at), { signal });
  let at = range.offset;
  let pending = readAt(at);
  while (at < end) {
    const bytes = await pending;
    const want = Math.min(READ_BYTES, end - at);
    if (bytes.length !== want) {
      throw new CorruptArchiveError(`archive is truncated: covered bytes end at ${end}, the file at ${at + bytes.length}`, { archive: source.name, stage: 'signature', fileOffset: at });
    }
    at += want;
    throwIfAborted(signal, 'signature check');
    // Overlap the next read with hashing this piece; nothing below can throw before it is awaited.
    if (at < end) pending = readAt(at);
    hasher.update(bytes);
  }
}
