import { CorruptArchiveError, HexzError, MissingParentError, StoreError, UnsupportedError, WrongKeyError } from '../errors.js';

/**
 * The message a person sees for `err`: the library's own message (which names the archive,
 * the block or the parent), and for the failures a page meets most, what to do about them.
 */
export function errorText(err: unknown): string {
  if (!(err instanceof HexzError)) return `Unexpected error: ${(err as Error)?.message ?? String(err)}`;
  let hint = '';
  if (err instanceof StoreError && /request failed|Failed to fetch|NetworkError|Load failed/i.test(err.message)) {
    hint = 'The request was refused or the server is unreachable. If the archive is on another origin, its server must allow this page with CORS '
      + '(Access-Control-Allow-Origin, and Access-Control-Expose-Headers: Content-Range, ETag); the browser console shows the exact reason.';
  } else if (err instanceof StoreError && /not found/.test(err.message)) {
    hint = 'No archive at that URL (404).';
  } else if (err instanceof WrongKeyError) {
    hint = 'Wrong password: try again.';
  } else if (err instanceof MissingParentError) {
    hint = 'This thin archive reads part of its content from a parent that was not found next to it; those regions cannot be read.';
  } else if (err instanceof CorruptArchiveError) {
    hint = 'The archive is damaged: a hash or authentication check failed. Nothing unverified is shown.';
  } else if (err instanceof UnsupportedError) {
    hint = '';
  }
  return hint ? `${err.message}\n${hint}` : err.message;
}
