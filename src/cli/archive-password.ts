import { Archive } from '../archive/archive.js';
import { requirePassword } from './password.js';

/** The `--password-file` flag shared by every command that reads an archive. */
export const PASSWORD_FILE_FLAG = ['--password-file <file>', 'read the password of an encrypted archive from the first line of FILE (else HEXZ_PASSWORD, else a prompt)'] as const;

/**
 * The password to open `file` with: undefined when the archive is not encrypted (only its
 * header is read to find out), else from --password-file, HEXZ_PASSWORD or a terminal prompt.
 * @throws UsageError when the archive is encrypted and no password source is available.
 * @throws as {@link Archive.open} for a missing or damaged file (not for a missing parent of a
 *   thin archive: parents are not opened here, so the real open reports that with the password).
 */
export async function passwordFor(file: string, flags: { passwordFile?: string }): Promise<string | undefined> {
  // Header only: a thin archive's parents are found (or reported missing) by the real open.
  const a = await Archive.open(file, { openParents: false, preloadIndexBytes: 0 });
  const encrypted = a.encrypted;
  await a.close();
  if (!encrypted) return undefined;
  return requirePassword({ passwordFile: flags.passwordFile, prompt: `Password for ${file}: ` }, `${file} is encrypted`);
}
