import { delimiter } from 'node:path';

/**
 * The `--parent-dir DIR` option shared by every command that opens a thin archive
 * (docs/FORMAT.md §15.4): spread into `.option(...PARENT_DIR_FLAG)`. Repeatable; each use adds a
 * directory, in order.
 */
export const PARENT_DIR_FLAG = [
  '--parent-dir <dir>',
  'directory to look in for parents of a thin archive not found at their recorded path (repeatable; searched before HEXZ_PATH)',
  collectDir,
] as const;

/**
 * Commander collector for a repeatable option: appends `value`. No default list is given to
 * commander (it would print `(default: [])` in the help), so the first call gets undefined.
 */
function collectDir(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * The directories to search for parents of a thin archive: the `--parent-dir` flags in the order
 * given, then the entries of `HEXZ_PATH` (separated by `:`, the platform path delimiter; empty
 * entries are ignored, so `HEXZ_PATH=:a::b:` means `a`, `b`). Nothing is checked here: a
 * directory that does not exist is simply skipped by the resolver.
 * @param flags the command's parsed flags (`parentDir` is commander's name for `--parent-dir`).
 * @param env the environment to read `HEXZ_PATH` from (default `process.env`; injectable for tests).
 * @returns directories, possibly empty; never throws.
 */
export function parentDirsFrom(flags: { parentDir?: string[] }, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.HEXZ_PATH ?? '').split(delimiter).filter((d) => d !== '');
  return [...(flags.parentDir ?? []), ...fromEnv];
}
