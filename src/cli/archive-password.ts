import { requirePassword } from './password.js';
import type { PasswordOption } from '../node/archive.js';

/** The `--password-file` flag shared by every command that reads an archive. */
export const PASSWORD_FILE_FLAG = ['--password-file <file>', 'read the password of an encrypted archive from the first line of FILE (else HEXZ_PASSWORD, else a prompt)'] as const;

/**
 * The password of `file` as an {@link PasswordOption} for `Archive.open`: asked for (from
 * --password-file, HEXZ_PASSWORD or a prompt) only if the archive turns out to be encrypted, so
 * the header is read once, by the open itself (no separate header read to decide whether to
 * ask: one request less for a URL, one file open less locally). Each call asks again.
 * @throws (when called) UsageError when no password source is available; StoreError when the
 *   password file cannot be read; AbortedError on Ctrl-C at the prompt.
 */
export function lazyPasswordFor(file: string, flags: { passwordFile?: string }): () => Promise<string> {
  return () => requirePassword({ passwordFile: flags.passwordFile, prompt: `Password for ${file}: ` }, `${file} is encrypted`);
}
