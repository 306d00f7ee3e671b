import { ENCRYPTION_PARAMS_OFFSET, HEADER_CHECKSUM_OFFSET, HEADER_SIZE, KEY_ENVELOPE_OFFSET } from '../format/constants.js';
import { encodeEncryptionParams, type KdfParams } from '../format/encryption-params.js';
import { resealHeader } from '../format/header.js';
import { blake3 } from '../hash/blake3.js';
import { createEnvelope, DEFAULT_KDF, unlockEnvelope } from '../crypto/key-envelope.js';
import { FileSource } from '../store/file-source.js';
import { rewriteFile } from '../store/rewrite-file.js';
import { UsageError, wrapIoError } from '../errors.js';
import { readHeader } from './read-header.js';

/** Options of {@link changePassword}. */
export interface ChangePasswordOptions {
  oldPassword: string;
  newPassword: string;
  /** Argon2id costs for the new envelope; by default the archive's current ones. */
  kdf?: Partial<KdfParams>;
}

/** Result of {@link changePassword}. */
export interface ChangePasswordResult {
  file: string;
  kdf: KdfParams;
  seconds: number;
}

/**
 * Changes the password of an encrypted archive (docs/FORMAT.md §12.2): unwraps the data key
 * with the old password and wraps it under the new one with a fresh salt and nonce. Only the
 * key envelope (header 132..256) and the header checksum change, so no block is re-encrypted
 * and a signature stays valid; the file is rewritten atomically (a copy, renamed into place).
 * @throws UsageError when the archive is not encrypted or the new password is empty.
 * @throws WrongKeyError when `oldPassword` is wrong (the file is untouched).
 * @throws CorruptArchiveError / NotAnArchiveError / UnsupportedError for a damaged or foreign file.
 * @throws StoreError when the file cannot be read or rewritten.
 */
export async function changePassword(path: string, options: ChangePasswordOptions): Promise<ChangePasswordResult> {
  const started = Date.now();
  const source = await FileSource.open(path);
  let headerBytes: Uint8Array;
  let params;
  let archiveId: Uint8Array;
  try {
    const h = await readHeader(source);
    if (!h.header.encryption) throw new UsageError(`${path} is not encrypted; nothing to change (pack it again with --encrypt)`, { archive: path });
    headerBytes = h.headerBytes.slice(0, HEADER_SIZE);
    params = h.header.encryption;
    archiveId = h.header.archiveId;
  } finally {
    await source.close();
  }
  let dataKey: Uint8Array;
  try {
    dataKey = await unlockEnvelope(params, options.oldPassword, archiveId);
  } catch (err) {
    if (err instanceof Error && 'location' in err) (err as { location: { archive?: string } }).location.archive ??= path;
    throw err;
  }
  const kdf = { ...(params.kdfParams ?? DEFAULT_KDF), ...options.kdf };
  const next = await createEnvelope(options.newPassword, dataKey, archiveId, kdf);
  headerBytes.set(encodeEncryptionParams(next), ENCRYPTION_PARAMS_OFFSET);
  resealHeader(headerBytes, blake3);
  await rewriteFile(path, async (fh) => {
    // The copy must still hold the header we unlocked (a sign or passwd in between would
    // otherwise be undone): every byte outside the key envelope and checksum must match.
    const now = new Uint8Array(HEADER_SIZE);
    await fh.read(now, 0, HEADER_SIZE, 0);
    const same = (a: number, b: number) => Buffer.from(now.subarray(a, b)).equals(Buffer.from(headerBytes.subarray(a, b)));
    if (!same(0, KEY_ENVELOPE_OFFSET) || !same(ENCRYPTION_PARAMS_OFFSET + 128, HEADER_CHECKSUM_OFFSET)) {
      throw new UsageError(`${path} changed while its password was being changed; try again`, { archive: path });
    }
    try {
      await fh.write(headerBytes, 0, HEADER_SIZE, 0);
    } catch (err) {
      throw wrapIoError(err, path, 'write header');
    }
  });
  return { file: path, kdf, seconds: (Date.now() - started) / 1000 };
}
