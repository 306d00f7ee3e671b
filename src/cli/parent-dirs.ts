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
 * entries are ignored, so `HEXZ_PATH=:a::b:` means `a`, `b`; an entry may be a URL such as
 * `https://host:8080/snaps` or `s3://bucket/prefix`, whose own colons do not split it). Nothing
 * is checked here: a directory that does not exist is simply skipped by the resolver.
 * @param flags the command's parsed flags (`parentDir` is commander's name for `--parent-dir`).
 * @param env the environment to read `HEXZ_PATH` from (default `process.env`; injectable for tests).
 * @returns directories, possibly empty; never throws.
 */
export function parentDirsFrom(flags: { parentDir?: string[] }, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = splitSearchPath(env.HEXZ_PATH ?? '').filter((d) => d !== '');
  return [...(flags.parentDir ?? []), ...fromEnv];
}

/**
 * Splits a `:`-separated search path whose entries may be URLs: `scheme:` followed by `//…` is
 * rejoined, and so is a port (`:8080/…`) after a URL's host.
 */
export function splitSearchPath(value: string): string[] {
  const parts = value.split(delimiter);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    let entry = parts[i];
    if (/^(https?|s3)$/i.test(entry) && parts[i + 1]?.startsWith('//')) {
      entry += `:${parts[++i]}`;
      // A port: the host part has no '/' yet and the next piece starts with digits.
      if (!entry.slice(entry.indexOf('//') + 2).includes('/') && /^\d+(\/|$)/.test(parts[i + 1] ?? '')) entry += `:${parts[++i]}`;
    }
    out.push(entry);
  }
  return out;
}
