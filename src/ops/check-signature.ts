import type { KeyObject } from 'node:crypto';
import { fingerprint, rawPublicKey, verifyMessage } from '../crypto/signing.js';
import { bytesEqual } from '../format/digest.js';
import type { Header } from '../format/header.js';
import {
  checkSignatureExtent, decodeSignatureBlock, FIRST_SIGNED_VERSION, isSigned, SIGNATURE_ALGORITHM_NAMES, SIGNATURE_BLOCK_SIZE,
  signatureMessage, type SignatureBlock,
} from '../format/signature.js';
import { openSource } from '../store/open-source.js';
import type { ByteSource } from '../store/types.js';
import { formatTime } from '../util/format-time.js';
import { CorruptArchiveError, HexzError } from '../errors.js';
import { coveredDigest } from './covered-digest.js';
import { readHeader } from './read-header.js';

/** The outcome of {@link checkSignature}. */
export interface SignatureCheck {
  /** True when the archive carries a signature block. */
  signed: boolean;
  /** The signature algorithm (`Ed25519`), when signed. */
  algorithm?: string;
  /** `SHA256:…` of the public key embedded in the signature, when signed. */
  fingerprint?: string;
  /** When it was signed (ISO 8601, or the raw milliseconds when not representable), when signed. */
  signedAt?: string;
  /**
   * True when the signature verifies against the archive's covered bytes with the embedded key
   * and, when a public key was given, the embedded key is that key.
   */
  valid: boolean;
  /** True when `valid` and the embedded key is the public key the caller gave. */
  keyTrusted: boolean;
  /** Why the archive is not validly signed, when it is not. */
  reason?: string;
}

/**
 * Checks an archive's signature (docs/FORMAT.md §14): the signature extent (128 bytes, ending
 * at the end of the file), the block, then — unless the embedded key is not `publicKey` — `D`
 * over the covered bytes and the Ed25519 signature of the message. Reads the header, the
 * dictionary, the index and the metadata, never the data region. Without `publicKey` a valid
 * signature proves only that the archive is unchanged since someone signed it (`keyTrusted`
 * false); with it, that the holder of that key signed it.
 *
 * An invalid or missing signature is a result, not an exception.
 * @param from an archive path or any ByteSource.
 * @throws NotAnArchiveError, UnsupportedError, CorruptArchiveError when the header is bad, the
 *   signature extent breaks the layout rules or the block is malformed (UnsupportedError for an
 *   unknown block version or algorithm).
 * @throws StoreError when reading fails; AbortedError when `signal` aborts.
 * @example
 * const s = await checkSignature('vm.hxz', { publicKey: await loadPublicKey('release.pub') });
 * if (!s.keyTrusted) throw new Error(s.reason);
 */
export async function checkSignature(from: string | ByteSource, options: { publicKey?: KeyObject; signal?: AbortSignal } = {}): Promise<SignatureCheck> {
  const source = typeof from === 'string' ? await openSource(from) : from;
  try {
    const { headerBytes, header, fileSize } = await readHeader(source, options);
    const block = await readSignatureBlock(source, header, fileSize, options);
    if (!block) {
      const reason = header.version < FIRST_SIGNED_VERSION ? `not signed (format version ${header.version} archives cannot be signed)` : 'not signed';
      return { signed: false, valid: false, keyTrusted: false, reason };
    }
    const found = fingerprint(block.publicKey);
    const about = { signed: true, algorithm: SIGNATURE_ALGORITHM_NAMES[block.algorithm], fingerprint: found, signedAt: formatTime(block.signedAtMs) };
    if (options.publicKey && !bytesEqual(rawPublicKey(options.publicKey), block.publicKey)) {
      // No need to hash anything: whatever the bytes, this is not the key the caller trusts.
      return { ...about, valid: false, keyTrusted: false, reason: `signed by a different key ${found} (expected ${fingerprint(options.publicKey)})` };
    }
    const digest = await coveredDigest(source, headerBytes, header, fileSize, options);
    const valid = verifyMessage(block.publicKey, signatureMessage(header.archiveId, block.signedAtMs, digest), block.signature);
    return valid
      ? { ...about, valid, keyTrusted: options.publicKey !== undefined }
      : { ...about, valid, keyTrusted: false, reason: `signature does not verify (key ${found}): the header, index or metadata changed after signing, or the signature is damaged` };
  } catch (err) {
    if (err instanceof HexzError) err.location.archive ??= source.name;
    throw err;
  } finally {
    if (typeof from === 'string') await source.close?.();
  }
}

/**
 * Reads and decodes the signature block of an archive whose header is already decoded, after
 * checking its extent; null when the archive is not signed (versions 1–3 never are: header
 * 112..124 is reserved there). Does not verify anything.
 * @throws CorruptArchiveError when the extent breaks the layout rules or the block is malformed.
 * @throws UnsupportedError for an unknown block version or algorithm.
 */
export async function readSignatureBlock(source: ByteSource, header: Header, fileSize: number, options: { signal?: AbortSignal } = {}): Promise<SignatureBlock | null> {
  if (!isSigned(header)) return null;
  checkSignatureExtent(header, fileSize);
  const bytes = await source.read(header.signature.offset, SIGNATURE_BLOCK_SIZE, options);
  if (bytes.length !== SIGNATURE_BLOCK_SIZE) throw new CorruptArchiveError('archive is truncated inside its signature block', { stage: 'signature', fileOffset: header.signature.offset });
  return decodeSignatureBlock(bytes);
}
