import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** Marks a name as a hexz temporary file; `.NAME` + this + `<pid>-<12 hex digits>`. */
const TEMP_MARK = '.hexz-tmp-';

/**
 * A fresh temporary name beside `path`: `.NAME.hexz-tmp-<pid>-<12 hex digits>` in the same
 * directory, so a rename onto `path` stays on one file system (atomic), a leftover is easy to
 * spot, and the pid tells a later run whether its writer is still alive
 * ({@link removeStaleTemps}).
 *
 * @param pid the writing process (default: this one).
 */
export function tempPathFor(path: string, pid = process.pid): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * The writer's pid when `name` (a bare file name in `path`'s directory) is a temporary file of
 * `path` made by {@link tempPathFor}, with or without a suffix a writer adds for a side file
 * (`.index` for the index spool); otherwise undefined. Names of other outputs never match, even
 * when one output's name is a prefix of another's.
 */
export function tempOwnerPid(path: string, name: string): number | undefined {
  const prefix = `.${basename(path)}${TEMP_MARK}`;
  if (!name.startsWith(prefix)) return undefined;
  const m = /^([1-9][0-9]{0,9})-[0-9a-f]{12}(?:\.[a-z]+)?$/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : undefined;
}
