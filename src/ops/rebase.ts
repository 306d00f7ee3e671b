import { stat } from 'node:fs/promises';
import { Archive } from '../node/archive.js';
import { UsageError } from '../errors.js';
import { repackArchive, refuseExistingOutput, type RepackOptions, type RepackResult } from './repack-archive.js';

/** Options of {@link rebase}. */
export interface RebaseOptions extends RepackOptions {
  /** The new parent: the output is packed thin against it (and its own chain). */
  parent: string;
  /**
   * Password of an encrypted new parent (default: `password`, the source's). The output shares
   * the new parent's data key (docs/FORMAT.md §15.3), so an encrypted source needs an encrypted
   * new parent and a plain one a plain parent.
   */
  parentPassword?: string;
}

/**
 * Re-packs a (thin) archive thin against another parent: every stream is read back (through
 * the source's own chain) and packed with the source's settings, storing only the blocks the
 * new parent's chain lacks. The result reads the same bytes as the source and refers to the
 * new parent (slot 1) and the archives of its chain; the source's chain is no longer needed.
 *
 * @example
 * await rebase('tuesday.hxz', { parent: 'monday-full.hxz', output: 'tuesday-on-monday.hxz' });
 * @param child a path (opened with `password` and `parentDirs`, closed afterwards) or an open
 *   archive (left open).
 * @throws UsageError when the output exists without `force`; when the output would replace the
 *   new parent or an archive of its chain (the result would refer to itself); when one of the
 *   source and the new parent is encrypted and the other is not.
 * @throws MissingParentError (exit 8) when a parent of the source or of the new parent is
 *   missing, replaced or modified.
 * @throws WrongKeyError when `password` does not open the source or `parentPassword` the new parent.
 * @throws CorruptArchiveError, StoreError, AbortedError as {@link pack}.
 */
export async function rebase(child: string | Archive, options: RebaseOptions): Promise<RepackResult> {
  if (typeof options.parent !== 'string' || options.parent === '') throw new UsageError('rebase needs a new parent archive');
  await refuseExistingOutput(options);
  const a = typeof child === 'string' ? await Archive.open(child, { password: options.password, parentDirs: options.parentDirs }) : child;
  try {
    await checkNewParent(a, options);
    return await repackArchive(a, options, { parent: options.parent, parentPassword: options.parentPassword ?? options.password });
  } finally {
    if (typeof child === 'string') await a.close();
  }
}

/**
 * Checks, from headers only, what pack would otherwise report late or not at all: that the new
 * parent is encrypted exactly when the source is, and (when an existing output is overwritten)
 * that the output is neither the new parent nor an archive of its chain.
 * @throws UsageError / MissingParentError as described on {@link rebase}.
 */
async function checkNewParent(source: Archive, options: RebaseOptions): Promise<void> {
  const outputStat = options.force ? await stat(options.output).catch(() => undefined) : undefined;
  // Its chain is opened only when it matters (an output that exists and would be replaced).
  const p = await Archive.open(options.parent, { openParents: outputStat !== undefined, parentDirs: options.parentDirs, preloadIndexBytes: 0 });
  try {
    if (p.encrypted !== source.encrypted) {
      throw new UsageError(p.encrypted
        ? `${options.parent} is encrypted but ${source.name} is not: a thin archive shares its parent's data key, so rebase onto an unencrypted parent (or flatten)`
        : `${source.name} is encrypted but ${options.parent} is not: rebase onto an encrypted parent (its password with --parent-password-file if it differs), or flatten`);
    }
    if (outputStat) {
      for (const name of [options.parent, ...p.parents.map((x) => x.name)]) {
        const s = await stat(name).catch(() => undefined);
        if (s && s.dev === outputStat.dev && s.ino === outputStat.ino) {
          throw new UsageError(`${options.output} is ${name === options.parent ? 'the new parent' : `an archive the new parent refers to (${name})`}: the rebased archive would refer to itself; write it elsewhere`);
        }
      }
    }
  } finally {
    await p.close();
  }
}
