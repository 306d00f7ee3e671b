/**
 * The one small family of typed errors hexz throws. Callers branch on the class (or `code`),
 * never on message text. Every error carries structured fields naming what failed, and the
 * CLI maps each class to a distinct exit code (see {@link exitCodeFor}).
 */

/** Where in an archive something went wrong; every field is optional. */
export interface ErrorLocation {
  /** Archive path or source description. */
  archive?: string;
  /** Stream name (`disk` or `memory`). */
  stream?: string;
  /** Logical byte offset within the stream. */
  offset?: number;
  /** Absolute byte offset within the archive file. */
  fileOffset?: number;
  /** Which stage failed: `header`, `index`, `block`, `decode`, `read`, ... */
  stage?: string;
}

/** Base class of every error hexz throws on purpose. */
export abstract class HexzError extends Error {
  /** Stable machine-readable code, e.g. `CORRUPT_ARCHIVE`. */
  abstract readonly code: string;
  /** Process exit code the CLI uses for this class. */
  abstract readonly exitCode: number;
  readonly location: ErrorLocation;

  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.location = location;
  }
}

/** Bad arguments or options from the caller (unknown flag value, offset past the end, ...). Exit 2. */
export class UsageError extends HexzError {
  readonly code = 'USAGE';
  readonly exitCode = 2;
}

/** The file is not a hexz archive at all (wrong magic, too short to hold a header). Exit 3. */
export class NotAnArchiveError extends HexzError {
  readonly code = 'NOT_AN_ARCHIVE';
  readonly exitCode = 3;
}

/** The archive is damaged: checksum or hash mismatch, truncation, undecodable block. Exit 4. */
export class CorruptArchiveError extends HexzError {
  readonly code = 'CORRUPT_ARCHIVE';
  readonly exitCode = 4;
}

/** A format version, required feature or input format this build cannot handle. Exit 5. */
export class UnsupportedError extends HexzError {
  readonly code = 'UNSUPPORTED';
  readonly exitCode = 5;
}

/** The storage below failed (I/O error, disk full, permission denied, missing file). Exit 6. */
export class StoreError extends HexzError {
  readonly code = 'STORE';
  readonly exitCode = 6;
  /**
   * True when trying again may succeed (a network error, a 5xx, throttling): retry wrappers
   * retry only these. False for permanent failures (404, 403, 416, a changed object, ENOENT).
   */
  readonly transient: boolean;

  constructor(message: string, location: ErrorLocation = {}, options?: { cause?: unknown; transient?: boolean }) {
    super(message, location, options);
    this.transient = options?.transient ?? false;
  }
}

/** Wrong password or key (used by encrypted archives). Exit 7. */
export class WrongKeyError extends HexzError {
  readonly code = 'WRONG_KEY';
  readonly exitCode = 7;
}

/** A parent archive of a thin snapshot is missing or not the expected one. Exit 8. */
export class MissingParentError extends HexzError {
  readonly code = 'MISSING_PARENT';
  readonly exitCode = 8;
}

/**
 * An input disk image (qcow2) is damaged: a table or cluster outside the file, an absurd size,
 * a compressed cluster that does not decode, a backing-file cycle. Exit 9.
 */
export class CorruptImageError extends HexzError {
  readonly code = 'CORRUPT_IMAGE';
  readonly exitCode = 9;
}

/**
 * An archive's signature does not vouch for it (§14): the signature does not verify against the
 * archive's bytes, it was made by another key than the one the caller trusts, or the caller
 * asked for a signature (`verify --pubkey`) and the archive has none. Exit 10.
 */
export class BadSignatureError extends HexzError {
  readonly code = 'BAD_SIGNATURE';
  readonly exitCode = 10;
}

/** The operation was cancelled through its AbortSignal (Ctrl-C in the CLI). Exit 130. */
export class AbortedError extends HexzError {
  readonly code = 'ABORTED';
  readonly exitCode = 130;
}

/** Exit code for anything that is not a HexzError (a bug). */
export const INTERNAL_ERROR_EXIT = 70;

/** Maps any thrown value to the CLI exit code documented in README.md. */
export function exitCodeFor(err: unknown): number {
  return err instanceof HexzError ? err.exitCode : INTERNAL_ERROR_EXIT;
}

/** Throws {@link AbortedError} if `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) throw new AbortedError(`${what} cancelled`);
}

/**
 * Wraps a Node system error (ENOENT, ENOSPC, EACCES, ...) as a StoreError naming the path;
 * HexzErrors pass through unchanged.
 */
export function wrapIoError(err: unknown, path: string, what: string): HexzError {
  if (err instanceof HexzError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason =
    e?.code === 'ENOENT' ? 'no such file or directory'
    : e?.code === 'ENOSPC' ? 'no space left on device'
    : e?.code === 'EACCES' || e?.code === 'EPERM' ? 'permission denied'
    : e?.code === 'EISDIR' ? 'is a directory'
    : e?.code === 'EEXIST' ? 'already exists'
    : (e?.message ?? String(err));
  return new StoreError(`${path}: ${what}: ${reason}`, { archive: path, stage: what }, { cause: err });
}
