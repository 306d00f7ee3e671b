import { Archive, type PasswordOption } from '../node/archive.js';
import { isSigned, SIGNATURE_ALGORITHM_NAMES } from '../format/signature.js';
import { formatTime } from '../util/format-time.js';
import { HexzError } from '../errors.js';
import { inspectParents } from './inspect-parents.js';
import { headerReport, type InspectReport, type InspectSignature } from './inspect-report.js';

export type { InspectReport, InspectSignature, InspectStream } from './inspect-report.js';

/** Options of {@link inspect}. */
export interface InspectOptions {
  /** Password of an encrypted archive: only needed to read its metadata. */
  password?: PasswordOption;
  /** Directories to look in for a thin archive's parents (docs/FORMAT.md §15.4; `--parent-dir`, `HEXZ_PATH`). */
  parentDirs?: string[];
}

/**
 * Reads an archive's header (and signature block, if any) and summarises it. A malformed
 * signature block is reported in `signature.error`, not thrown. The metadata is read too,
 * unless the archive is encrypted and no `password` is given. A thin archive's parents are
 * looked for but not opened, so a missing, replaced or modified parent is reported in
 * `thin.parents` rather than thrown.
 * @throws as {@link Archive.open} (a wrong `password` is WrongKeyError), except MissingParentError.
 */
export async function inspect(path: string, options: InspectOptions = {}): Promise<InspectReport> {
  const a = await Archive.open(path, { password: options.password, preloadIndexBytes: 0, openParents: false });
  try {
    return await inspectArchive(a, { parentDirs: options.parentDirs });
  } finally {
    await a.close();
  }
}

/**
 * Summarises an already open archive; reads its signature block (128 bytes) if it is signed,
 * its metadata unless it is locked, and looks for a thin archive's parents (headers only).
 * @param options.parentDirs directories to look in for parents; options.baseDir what recorded
 *   parent paths are relative to (default: the directory of `a.name`).
 * @throws CorruptArchiveError when the metadata fails its checks.
 */
export async function inspectArchive(a: Archive, options: { parentDirs?: string[]; baseDir?: string } = {}): Promise<InspectReport> {
  return { ...headerReport(a), signature: await inspectSignature(a), metadata: a.locked ? null : await a.metadata(), thin: await inspectParents(a, options) };
}

async function inspectSignature(a: Archive): Promise<InspectSignature | null> {
  if (!isSigned(a.header)) return null;
  // Only a signed archive needs them, and node:crypto with them.
  const [{ readSignatureBlock }, { fingerprint }] = await Promise.all([import('./check-signature.js'), import('../crypto/signing.js')]);
  try {
    const block = await readSignatureBlock(a.source, a.header, a.fileSize);
    return block && {
      algorithm: SIGNATURE_ALGORITHM_NAMES[block.algorithm], fingerprint: fingerprint(block.publicKey), signedAt: formatTime(block.signedAtMs), verified: false,
    };
  } catch (err) {
    if (!(err instanceof HexzError)) throw err;
    return { verified: false, error: err.message };
  }
}
