import { readHeader } from '../ops/read-header.js';
import { openSource } from '../store/open-source.js';
import { requirePassword } from './password.js';
import type { PasswordOption } from '../archive/archive.js';

/** The `--password-file` flag shared by every command that reads an archive. */
export const PASSWORD_FILE_FLAG = ['--password-file <file>', 'read the password of an encrypted archive from the first line of FILE (else HEXZ_PASSWORD, else a prompt)'] as const;

/**
 * The password to open `file` with: undefined when the archive is not encrypted (only its
 * header is read to find out), else from --password-file, HEXZ_PASSWORD or a terminal prompt.
 * @throws UsageError when the archive is encrypted and no password source is available.
 * @throws StoreError / NotAnArchiveError / CorruptArchiveError / UnsupportedError when the file
 *   is missing or its header is damaged (anything beyond the header, a thin archive's parents
 *   included, is left to the real open).
 */
export async function passwordFor(file: string, flags: { passwordFile?: string }): Promise<string | undefined> {
  const source = await openSource(file);
  let encrypted: boolean;
  try {
    encrypted = (await readHeader(source)).header.encryption !== null;
  } finally {
    await source.close?.();
  }
  if (!encrypted) return undefined;
  return requirePassword({ passwordFile: flags.passwordFile, prompt: `Password for ${file}: ` }, `${file} is encrypted`);
}

/**
 * The password of `file` as an {@link PasswordOption} for `Archive.open`: asked for (from
 * --password-file, HEXZ_PASSWORD or a prompt) only if the archive turns out to be encrypted, so
 * the header is read once, by the open itself.
 */
export function lazyPasswordFor(file: string, flags: { passwordFile?: string }): PasswordOption {
  return () => requirePassword({ passwordFile: flags.passwordFile, prompt: `Password for ${file}: ` }, `${file} is encrypted`);
}
