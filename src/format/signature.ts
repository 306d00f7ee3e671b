/**
 * Pure encode/decode of the signature block and the bytes a signature covers
 * (docs/FORMAT.md §14). Bytes in, plain objects out; the hash function is injected.
 */
import { HEADER_CHECKSUM_OFFSET, HEADER_SIZE, KEY_ENVELOPE_OFFSET } from './constants.js';
import { bytesEqual, copyBytes, type Digest32 } from './digest.js';
import { resealHeader, type Extent, type Header } from './header.js';
import { CorruptArchiveError, UnsupportedError } from '../errors.js';

/** §14 Size of the signature block in bytes; the signature extent's length is always this. */
export const SIGNATURE_BLOCK_SIZE = 128;
/** §14 Magic at the start of the signature block: ASCII "HXSG". */
export const SIGNATURE_MAGIC = Uint8Array.of(0x48, 0x58, 0x53, 0x47);
/** §14 The signature block version this build writes and reads. */
export const SIGNATURE_VERSION = 1;
/** §14 Signature algorithms (block bytes 6..8). */
export const SignatureAlgorithm = {
  /** Ed25519, RFC 8032, pure (no pre-hash, no context). */
  ED25519: 1,
} as const;
/** §14 Names of the algorithms as `inspect` and `verify` show them. */
export const SIGNATURE_ALGORITHM_NAMES: Record<number, string> = { 1: 'Ed25519' };
/** §14 Size of the signed message: "HXZS" ‖ archive id ‖ u64 signed at ‖ D. */
export const SIGNATURE_MESSAGE_SIZE = 60;
/** §14 Magic at the start of the signed message: ASCII "HXZS". */
export const SIGNATURE_MESSAGE_MAGIC = Uint8Array.of(0x48, 0x58, 0x5a, 0x53);
/** §1 Offset of the signature extent in the header: u64 offset at 112, u32 length at 120. */
export const SIGNATURE_EXTENT_OFFSET = 112;
/** §12.2 End of the key envelope (header bytes 132..256), left out of the signature. */
const KEY_ENVELOPE_END = 256;
/** §14 Sizes of the raw Ed25519 public key and signature. */
export const PUBLIC_KEY_SIZE = 32;
export const SIGNATURE_SIZE = 64;
/** §14 Signatures exist from format version 4; in versions 1–3 header 112..124 is reserved. */
export const FIRST_SIGNED_VERSION = 4;

/** The decoded signature block (§14). */
export interface SignatureBlock {
  /** Block version (1). */
  version: number;
  /** {@link SignatureAlgorithm} id (1 = Ed25519). */
  algorithm: number;
  /** When the archive was signed, milliseconds since the Unix epoch (covered by the signature). */
  signedAtMs: number;
  /** The raw 32-byte Ed25519 public key of the signer. */
  publicKey: Uint8Array;
  /** The 64-byte Ed25519 signature of {@link signatureMessage}. */
  signature: Uint8Array;
}

/**
 * Encodes a signature block into 128 fresh bytes (reserved bytes zero).
 * @throws RangeError when the key or signature has the wrong length or the time is not a
 *   non-negative safe integer (a caller bug, not bad input).
 */
export function encodeSignatureBlock(b: SignatureBlock): Uint8Array {
  if (b.publicKey.length !== PUBLIC_KEY_SIZE || b.signature.length !== SIGNATURE_SIZE) {
    throw new RangeError(`signature block needs a ${PUBLIC_KEY_SIZE}-byte key and a ${SIGNATURE_SIZE}-byte signature`);
  }
  const out = new Uint8Array(SIGNATURE_BLOCK_SIZE);
  const v = new DataView(out.buffer);
  out.set(SIGNATURE_MAGIC, 0);
  v.setUint16(4, b.version, true);
  v.setUint16(6, b.algorithm, true);
  v.setBigUint64(8, BigInt(checkTime(b.signedAtMs)), true);
  out.set(b.publicKey, 16);
  out.set(b.signature, 48);
  return out;
}

/**
 * Decodes and checks a signature block. Reserved bytes 112..128 are ignored, like every
 * reserved field (§ Conventions).
 * @throws CorruptArchiveError when `bytes` is not 128 bytes, the magic is wrong, or the time is
 *   beyond 2^53 − 1.
 * @throws UnsupportedError for an unknown block version or algorithm.
 */
export function decodeSignatureBlock(bytes: Uint8Array): SignatureBlock {
  if (bytes.length !== SIGNATURE_BLOCK_SIZE) {
    throw new CorruptArchiveError(`signature block is ${bytes.length} bytes, expected ${SIGNATURE_BLOCK_SIZE}`, { stage: 'signature' });
  }
  if (!bytesEqual(bytes.subarray(0, 4), SIGNATURE_MAGIC)) {
    throw new CorruptArchiveError('signature block has a bad magic (expected HXSG)', { stage: 'signature' });
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = v.getUint16(4, true);
  if (version !== SIGNATURE_VERSION) {
    throw new UnsupportedError(`unsupported signature block version ${version} (this hexz reads version ${SIGNATURE_VERSION})`, { stage: 'signature' });
  }
  const algorithm = v.getUint16(6, true);
  if (!(algorithm in SIGNATURE_ALGORITHM_NAMES)) {
    throw new UnsupportedError(`unsupported signature algorithm ${algorithm} (this hexz knows 1 = Ed25519)`, { stage: 'signature' });
  }
  const at = v.getBigUint64(8, true);
  if (at > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptArchiveError(`signature time is out of range (${at})`, { stage: 'signature' });
  }
  return { version, algorithm, signedAtMs: Number(at), publicKey: copyBytes(bytes, 16, 48), signature: copyBytes(bytes, 48, 112) };
}

/**
 * The neutral header (§14 covered bytes, part 1): a copy of header bytes [0, 4064) with the
 * signature extent (112..128) and the key envelope (132..256) zeroed. The extent is left out
 * because signing writes it; the envelope so that `hexz passwd` keeps a signature valid.
 * @param headerBytes at least the first 4064 bytes of the archive.
 * @throws RangeError when `headerBytes` is shorter than 4064 bytes.
 */
export function neutralHeader(headerBytes: Uint8Array): Uint8Array {
  if (headerBytes.length < HEADER_CHECKSUM_OFFSET) throw new RangeError(`header needs ${HEADER_CHECKSUM_OFFSET} bytes, got ${headerBytes.length}`);
  const out = copyBytes(headerBytes, 0, HEADER_CHECKSUM_OFFSET);
  out.fill(0, SIGNATURE_EXTENT_OFFSET, SIGNATURE_EXTENT_OFFSET + 16);
  out.fill(0, KEY_ENVELOPE_OFFSET, KEY_ENVELOPE_END);
  return out;
}

/**
 * The 60-byte message that is signed (§14): "HXZS" ‖ archive id (16) ‖ u64 signed at (ms) ‖ D (32).
 * @throws RangeError when the id is not 16 bytes or the digest not 32.
 */
export function signatureMessage(archiveId: Uint8Array, signedAtMs: number, digest: Uint8Array): Uint8Array {
  if (archiveId.length !== 16 || digest.length !== 32) throw new RangeError('signature message needs a 16-byte archive id and a 32-byte digest');
  const out = new Uint8Array(SIGNATURE_MESSAGE_SIZE);
  out.set(SIGNATURE_MESSAGE_MAGIC, 0);
  out.set(archiveId, 4);
  new DataView(out.buffer).setBigUint64(20, BigInt(checkTime(signedAtMs)), true);
  out.set(digest, 28);
  return out;
}

/** True when `header` records a signature: version 4 or later and a non-empty extent. */
export function isSigned(header: Header): boolean {
  return header.version >= FIRST_SIGNED_VERSION && header.signature.length > 0;
}

/**
 * Where everything the header points at ends: the data region, the dictionary, the metadata
 * and each stream's root node (wherever the writer put it: after the data region, or in the
 * front index area, §7). A signature block must not start before this, or it would overlap
 * covered bytes.
 */
export function contentEnd(header: Header): number {
  const end = (e: Extent) => (e.length > 0 ? e.offset + e.length : 0); // length 0 = absent, whatever the offset
  const ends = [
    header.data.offset + header.data.length, end(header.dictionary), end(header.metadata),
    ...header.streams.map((s) => (s.present ? s.rootOffset + s.rootLength : 0)),
  ];
  return Math.max(HEADER_SIZE, ...ends);
}

/**
 * Checks the recorded signature extent of a signed archive (§14): length 128, ending exactly at
 * the end of the file, after everything the header points at.
 * @param fileSize the archive's size in bytes.
 * @throws CorruptArchiveError when the extent breaks one of those rules.
 */
export function checkSignatureExtent(header: Header, fileSize: number): void {
  const { offset, length } = header.signature;
  if (length !== SIGNATURE_BLOCK_SIZE) {
    throw new CorruptArchiveError(`signature extent is ${length} bytes, expected ${SIGNATURE_BLOCK_SIZE}`, { stage: 'signature', fileOffset: offset });
  }
  if (offset + length !== fileSize) {
    throw new CorruptArchiveError(`signature block at ${offset} does not end at the end of the file (${fileSize} bytes)`, { stage: 'signature', fileOffset: offset });
  }
  if (offset < contentEnd(header)) {
    throw new CorruptArchiveError(`signature block at ${offset} overlaps the archive's contents (which end at ${contentEnd(header)})`, { stage: 'signature', fileOffset: offset });
  }
}

/**
 * The file ranges a signature covers after the neutral header (§14 parts 2 and 3): the
 * dictionary region [4096, data offset) and everything from the end of the data region up to
 * `signatureOffset` (index nodes and metadata). Empty ranges are left out.
 * @param signatureOffset where the signature block is, or goes (the end of an unsigned file).
 * @throws CorruptArchiveError when the data region does not lie between the header and `signatureOffset`.
 */
export function coveredRanges(header: Header, signatureOffset: number): Extent[] {
  const dataEnd = header.data.offset + header.data.length;
  if (header.data.offset < HEADER_SIZE || dataEnd > signatureOffset) {
    throw new CorruptArchiveError(`data region ${header.data.offset}+${header.data.length} does not lie between the header and the signature at ${signatureOffset}`, { stage: 'signature' });
  }
  return [
    { offset: HEADER_SIZE, length: header.data.offset - HEADER_SIZE },
    { offset: dataEnd, length: signatureOffset - dataEnd },
  ].filter((r) => r.length > 0);
}

/**
 * A copy of the 4096 header bytes with the signature extent set to `extent` and the header
 * checksum recomputed. Patches bytes in place of re-encoding, so fields this build does not
 * know survive untouched.
 * @throws RangeError when `headerBytes` is shorter than 4096 bytes.
 */
export function withSignatureExtent(headerBytes: Uint8Array, extent: Extent, digest: Digest32): Uint8Array {
  if (headerBytes.length < HEADER_SIZE) throw new RangeError(`header needs ${HEADER_SIZE} bytes, got ${headerBytes.length}`);
  const out = copyBytes(headerBytes, 0, HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setBigUint64(SIGNATURE_EXTENT_OFFSET, BigInt(extent.offset), true);
  v.setUint32(SIGNATURE_EXTENT_OFFSET + 8, extent.length, true);
  return resealHeader(out, digest);
}

function checkTime(ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`signature time must be a non-negative integer of milliseconds, got ${ms}`);
  return ms;
}

