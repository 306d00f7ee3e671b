import { HEADER_SIZE, HEADER_TAG_VERSION, MAGIC } from '../format/constants.js';
import { bytesEqual, type Digest32 } from '../format/digest.js';
import { decodeHeader, type Header } from '../format/header.js';
import { PinnedRangeSource } from '../store/pinned-range-source.js';
import type { ByteSource } from '../store/types.js';
import { CorruptArchiveError, UnsupportedError } from '../errors.js';
import type { OpenOptions } from './open-options.js';
import type { ArchiveOpener, ReaderCrypto } from './reader-platform.js';

/** Default of {@link OpenOptions.preloadIndexBytes}: 4 MiB of index, 64K entries (4 GiB of data in 64 KiB blocks). */
export const DEFAULT_PRELOAD_INDEX = 4 << 20;

/** The header of an archive as read by {@link readArchiveHeader}. */
export interface ArchiveHead {
  /** Size of the archive in bytes. */
  size: number;
  /** The first 4096 bytes as read (shorter only when the source is). */
  head: Uint8Array;
  /** The decoded, checksum-verified header. */
  header: Header;
}

/**
 * The first step of `Archive.open`: reads the 4 KiB header, decodes it, and checks that the data
 * region, dictionary, metadata, signature, parents table and root nodes lie inside the file (§8.1).
 * `blake3` is BLAKE3-256, for the header checksum.
 * @throws NotAnArchiveError when the bytes are not a hexz archive.
 * @throws UnsupportedError for a newer version or unknown required features.
 * @throws CorruptArchiveError when the header is damaged or the file is truncated.
 */
export async function readArchiveHeader(source: ByteSource, blake3: Digest32): Promise<ArchiveHead> {
  const size = await source.size();
  const head = await source.read(0, HEADER_SIZE);
  if (head.length < HEADER_SIZE && bytesEqual(head.subarray(0, 4), MAGIC)) {
    throw new CorruptArchiveError(`archive is truncated: ${size} bytes, shorter than its ${HEADER_SIZE}-byte header`, { stage: 'header' });
  }
  const header = decodeHeader(head, blake3);
  const extentEnd = (e: { offset: number; length: number }) => (e.length > 0 ? e.offset + e.length : 0);
  const ends = [
    header.data.offset + header.data.length, extentEnd(header.dictionary), extentEnd(header.metadata), extentEnd(header.signature), extentEnd(header.parents.table),
    ...header.streams.map((s) => (s.present ? s.rootOffset + s.rootLength : 0)),
  ];
  const need = Math.max(...ends);
  if (need > size) throw new CorruptArchiveError(`archive is truncated: ${size} bytes, its index ends at ${need}`, { stage: 'header' });
  return { size, head, header };
}

/**
 * Unlocks an encrypted archive with `options.password` or `options.dataKey` (§12.2), checking
 * the header tag from version {@link HEADER_TAG_VERSION} on. Undefined when the archive is not
 * encrypted or neither was given (the archive then opens locked). `crypto` is the platform's
 * encryption support (none: an encrypted archive with a password is UnsupportedError).
 * @throws WrongKeyError when `password` is not the encrypted archive's.
 * @throws UnsupportedError when the password derivation would exceed `options.kdfLimits`.
 * @throws CorruptArchiveError when the header fails authentication.
 */
export async function unlockArchive(header: Header, head: Uint8Array, options: OpenOptions, crypto: ReaderCrypto | undefined): Promise<ArchiveOpener | undefined> {
  let cipher: ArchiveOpener | undefined;
  if (header.encryption && (options.password !== undefined || options.dataKey)) {
    if (!crypto) throw new UnsupportedError('archive is encrypted and this platform has no encryption support', { stage: 'key' });
    const password = typeof options.password === 'function' ? await options.password() : options.password;
    const dataKey = options.dataKey ?? await crypto.unlock(header, password!, options.kdfLimits);
    cipher = await crypto.opener(dataKey, header);
    if (header.version >= HEADER_TAG_VERSION && !(await crypto.headerTagMatches(head, cipher.keys))) {
      throw new CorruptArchiveError('header fails authentication: it was altered after the archive was written (header tag mismatch)', { stage: 'header' });
    }
  }
  return cipher;
}

/**
 * The source index nodes are read through: `source` itself, or, when the index nodes after the
 * data region are at most `preloadIndexBytes` (default {@link DEFAULT_PRELOAD_INDEX}, 0 for a
 * {@link ByteSource.local} source) with what
 * follows them, and readable (not locked), a {@link PinnedRangeSource} holding all of that,
 * read with one request.
 * @throws StoreError when the index cannot be read.
 */
export async function preloadIndex(source: ByteSource, header: Header, size: number, cipher: ArchiveOpener | undefined, preloadIndexBytes: number | undefined): Promise<ByteSource> {
  // The writer puts the index, or (version 7) what of it is not in the front index area, after
  // the data region, followed by the metadata, the parents table and the signature (§7). If
  // that tail is small, pin it in memory with one request (every node is still verified against
  // its hash when it is decoded). A tail that starts with the metadata holds no node: the whole
  // index is in the front area, which a remote source's first request already brought.
  const indexStart = header.data.offset + header.data.length;
  const nodesEnd = Math.min(size, ...[header.metadata, header.parents.table, header.signature]
    .filter((e) => e.length > 0 && e.offset >= indexStart).map((e) => e.offset));
  // A local file reads a node in microseconds from the page cache; preloading would make a cold
  // open read the whole tail from disk before its first read.
  const preload = preloadIndexBytes ?? (source.local ? 0 : DEFAULT_PRELOAD_INDEX);
  return nodesEnd > indexStart && size - indexStart <= preload && !(header.encryption && !cipher)
    ? new PinnedRangeSource(source, indexStart, await source.read(indexStart, size - indexStart))
    : source;
}
