import { Archive } from '../node/archive.js';
import { repackArchive, refuseExistingOutput, type RepackOptions, type RepackResult } from './repack-archive.js';

/** Options of {@link flatten}. */
export type FlattenOptions = RepackOptions;

/**
 * Writes a standalone copy of a (thin) archive: every stream re-packed with the source's
 * settings, every block stored in the new archive, no parents table. The result reads the same
 * bytes and no longer needs the chain, which may then be deleted. An encrypted source gives an
 * encrypted result under `newPassword` (default: the source's `password`) with a new data key.
 *
 * @example
 * await flatten('monday-thin.hxz', { output: 'monday-full.hxz' });
 * @param child a path (opened with `password` and `parentDirs`, closed afterwards) or an open
 *   archive (left open).
 * @throws UsageError when the output exists without `force`.
 * @throws MissingParentError (exit 8) when a parent of the source is missing, replaced or modified.
 * @throws WrongKeyError when the source is encrypted and `password` is wrong or missing.
 * @throws CorruptArchiveError when a block of the source fails its checks (nothing is written).
 * @throws StoreError, AbortedError as {@link pack}.
 */
export async function flatten(child: string | Archive, options: FlattenOptions): Promise<RepackResult> {
  if (typeof child !== 'string') return repackArchive(child, options);
  await refuseExistingOutput(options);
  const a = await Archive.open(child, { password: options.password, parentDirs: options.parentDirs });
  try {
    return await repackArchive(a, options);
  } finally {
    await a.close();
  }
}
