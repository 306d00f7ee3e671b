import type { KeyObject } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { assertEd25519, fingerprint, loadPrivateKey, rawPublicKey, signMessage } from '../crypto/signing.js';
import {
  contentEnd, encodeSignatureBlock, FIRST_SIGNED_VERSION, isSigned, SIGNATURE_BLOCK_SIZE, SIGNATURE_VERSION,
  SignatureAlgorithm, signatureMessage, withSignatureExtent,
} from '../format/signature.js';
import { blake3 } from '../hash/blake3.js';
import { FileSource } from '../store/file-source.js';
import { rewriteFile } from '../store/rewrite-file.js';
import { formatTime } from '../util/format-time.js';
import { CorruptArchiveError, UnsupportedError, UsageError } from '../errors.js';
import { coveredDigest } from './covered-digest.js';
import { readHeader } from './read-header.js';

/** Options of {@link signArchive}. */
export interface SignOptions {
  /** The Ed25519 private key, or the path of its PEM file (PKCS#8, as `hexz keygen` writes). */
  key: KeyObject | string;
  /** The clock, in milliseconds since the epoch (default Date.now); recorded as "signed at". */
  now?: () => number;
  signal?: AbortSignal;
}

/** What {@link signArchive} did. */
export interface SignResult {
  file: string;
  /** `SHA256:…` of the signing key's public half. */
  fingerprint: string;
  /** When it was signed (ISO 8601) and the same in milliseconds since the epoch. */
  signedAt: string;
  signedAtMs: number;
  /** Size of the signed archive in bytes. */
  bytes: number;
  /** True when an earlier signature was replaced. */
  replaced: boolean;
}

/**
 * Signs a format version 4 archive in place (docs/FORMAT.md §14): hashes the covered bytes —
 * the neutral header, the dictionary, the index and the metadata, not the data region, whose
 * blocks the index commits to by hash — signs the 60-byte message with Ed25519, and stores the
 * 128-byte signature block at the old signature's offset (replacing it and anything after it)
 * or at the end of an unsigned archive. The header's signature extent and checksum are patched
 * byte by byte so fields this build does not know survive. The archive is rewritten as a copy
 * beside itself (cloned where the file system can) and renamed over the original only when
 * complete and synced; on any failure the original is untouched and no temporary file remains.
 * Blocks are not read or checked; `verify` does that.
 *
 * @throws UsageError when the key is not an Ed25519 private key (or its file is not one), or the clock gives a bad time.
 * @throws StoreError when the archive or key file cannot be read, or the copy cannot be written.
 * @throws NotAnArchiveError, CorruptArchiveError when the header or layout is damaged.
 * @throws UnsupportedError for a format version below 4 or newer than this build reads.
 * @example
 * const r = await signArchive('vm.hxz', { key: 'release.key' });
 * console.log(r.fingerprint);
 */
export async function signArchive(path: string, options: SignOptions): Promise<SignResult> {
  const key = typeof options.key === 'string' ? await loadPrivateKey(options.key) : options.key;
  assertEd25519(key, typeof options.key === 'string' ? options.key : 'signing key', 'private');
  const publicKey = rawPublicKey(key);
  const signedAtMs = (options.now ?? Date.now)();
  if (!Number.isSafeInteger(signedAtMs) || signedAtMs < 0) throw new UsageError(`signing time must be a non-negative integer of milliseconds, got ${signedAtMs}`);
  let result: SignResult | undefined;
  await rewriteFile(path, async (fh, size) => {
    // Everything is read from the copy that is renamed into place, so the bytes signed are the
    // bytes published even if the original changes meanwhile.
    const source = FileSource.fromHandle(path, fh, size);
    const { headerBytes, header } = await readHeader(source, options);
    if (header.version < FIRST_SIGNED_VERSION) {
      throw new UnsupportedError(`signing needs a format version ${FIRST_SIGNED_VERSION} archive; repack it with this hexz (this archive is version ${header.version})`, { archive: path, stage: 'signature' });
    }
    const replaced = isSigned(header);
    const offset = replaced ? header.signature.offset : size;
    const end = contentEnd(header);
    if (offset > size || offset < end) {
      throw new CorruptArchiveError(replaced
        ? `the recorded signature at ${offset} is not between the archive's contents (ending at ${end}) and the end of the file (${size} bytes)`
        : `archive is truncated: ${size} bytes, its contents end at ${end}`, { archive: path, stage: 'signature', fileOffset: offset });
    }
    const digest = await coveredDigest(source, headerBytes, header, size, options);
    const signature = signMessage(key, signatureMessage(header.archiveId, signedAtMs, digest));
    const block = encodeSignatureBlock({ version: SIGNATURE_VERSION, algorithm: SignatureAlgorithm.ED25519, signedAtMs, publicKey, signature });
    await writeFully(fh, block, offset);
    await fh.truncate(offset + SIGNATURE_BLOCK_SIZE);
    await writeFully(fh, withSignatureExtent(headerBytes, { offset, length: SIGNATURE_BLOCK_SIZE }, blake3), 0);
    result = {
      file: path, fingerprint: fingerprint(publicKey), signedAt: formatTime(signedAtMs), signedAtMs,
      bytes: offset + SIGNATURE_BLOCK_SIZE, replaced,
    };
  });
  return result!;
}

async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
