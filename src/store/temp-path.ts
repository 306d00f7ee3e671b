import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * A fresh temporary name beside `path`: `.NAME.hexz-tmp-<12 hex digits>` in the same directory,
 * so a rename onto `path` stays on one file system (atomic) and a leftover is easy to spot.
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.hexz-tmp-${randomBytes(6).toString('hex')}`);
}
