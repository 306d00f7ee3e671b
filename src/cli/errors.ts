import { HexzError, INTERNAL_ERROR_EXIT, MissingParentError } from '../errors.js';

/**
 * Prints one line for an error — `hexz: FILE: what is wrong` — and returns its exit code.
 * Unexpected (non-hexz) errors also get one line; set HEXZ_DEBUG=1 for the stack.
 */
export function reportError(err: unknown): number {
  if (err instanceof HexzError) {
    const where = err.location.archive && !err.message.startsWith(err.location.archive) ? `${err.location.archive}: ` : '';
    // The fix for a parent that is elsewhere is a flag away; say so on the same line.
    const hint = err instanceof MissingParentError ? ' (search other directories with --parent-dir DIR or HEXZ_PATH)' : '';
    process.stderr.write(`hexz: ${where}${err.message}${hint}\n`);
    if (process.env.HEXZ_DEBUG) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`hexz: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.HEXZ_DEBUG) process.stderr.write(`${e?.stack}\n`);
  return INTERNAL_ERROR_EXIT;
}
