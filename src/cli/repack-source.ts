import { Archive } from '../node/archive.js';
import { UsageError } from '../errors.js';
import { refuseExistingOutput, type RepackOptions } from '../ops/repack-archive.js';
import { lazyPasswordFor } from './archive-password.js';
import { parentDirsFrom } from './parent-dirs.js';
import { readPassword } from './password.js';
import { kdfFlags } from './kdf-flags.js';
import type { RepackFlags } from './repack-flags.js';

/**
 * Opens the source of `flatten` / `rebase` and derives the library options from the shared
 * flags. The source's password is asked for by the open itself, only when its header says it
 * is encrypted (no header read of its own: one request less for a URL); the new archive's is
 * never prompted for (by default the source's). Both are read here, before any progress bar.
 * @returns the open source (the caller closes it) and the options, whose `password` is the
 *   source's (undefined when it is not encrypted).
 * @throws UsageError for a bad --workers, an existing output without --force (checked before any
 *   password is asked for), or --new-password-file / --kdf-* on a plain source.
 * @throws as {@link Archive.open} (WrongKeyError for a wrong password, MissingParentError, …).
 */
export async function openRepackSource(file: string, flags: RepackFlags): Promise<{ source: Archive; options: RepackOptions }> {
  const workers = flags.workers === undefined ? undefined : Number(flags.workers);
  if (workers !== undefined && !Number.isInteger(workers)) throw new UsageError(`--workers must be an integer, got '${flags.workers}'`);
  await refuseExistingOutput(flags);
  const parentDirs = parentDirsFrom(flags);
  // Remembered: it is also the new archive's password and (rebase) the new parent's by default.
  let password: string | undefined;
  const ask = lazyPasswordFor(file, flags);
  const source = await Archive.open(file, { password: async () => (password = await ask()), parentDirs });
  try {
    const anyKdf = flags.kdfMemory !== undefined || flags.kdfIterations !== undefined || flags.kdfLanes !== undefined;
    if (!source.encrypted && (flags.newPasswordFile !== undefined || anyKdf)) {
      throw new UsageError(`${file} is not encrypted: --new-password-file and --kdf-* apply only to encrypted archives`);
    }
    const newPassword = !source.encrypted ? undefined
      : flags.newPasswordFile !== undefined || process.env.HEXZ_NEW_PASSWORD !== undefined
        ? await readPassword({ passwordFile: flags.newPasswordFile, envVar: 'HEXZ_NEW_PASSWORD' })
        : undefined;
    const options: RepackOptions = {
      output: flags.output, force: flags.force, password, newPassword, kdf: anyKdf ? kdfFlags(flags) : undefined, parentDirs, workers,
    };
    return { source, options };
  } catch (err) {
    await source.close();
    throw err;
  }
}
