import { AbortedError, HexzError, StoreError } from '../errors.js';

/** The fields of an `@aws-sdk/client-s3` error (a ServiceException, or a network error) we look at. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

// S3 error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) that say
// "try again later", whatever the status that came with them.
const TRANSIENT_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestAbortedError']);
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload']);
const PERMANENT_CODES = new Set(['CredentialsProviderError', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied']);
const CHANGED_CODES = new Set(['PreconditionFailed']);

/**
 * Maps an error of an S3 request to the hexz error family: an abort through `signal` to
 * {@link AbortedError}; 412 PreconditionFailed (our `If-Match` pin failed) to the permanent
 * "changed while open" StoreError; 404/NoSuchKey, 403/AccessDenied, 416/InvalidRange and other
 * 4xx to permanent StoreErrors; network errors (no HTTP status), 408, 429, 5xx and
 * SlowDown/throttling to transient ones, which a RetryingSource retries. HexzErrors pass through.
 * @param name the object's `s3://bucket/key`, for the message.
 * @param what the request, e.g. `range 0-65535`.
 * @param stage the error location's stage: `read` (default) or `write`.
 */
export function s3Error(err: unknown, name: string, what: string, signal?: AbortSignal, stage = 'read'): HexzError {
  if (err instanceof HexzError) return err;
  const e = (err ?? {}) as SdkError;
  const location = { archive: name, stage };
  if (signal?.aborted || e.name === 'AbortError') return new AbortedError(`${name}: ${what} cancelled`, location, { cause: err });
  const status = e.$metadata?.httpStatusCode;
  const code = e.name ?? e.code ?? 'Error';
  if (status === 412 || CHANGED_CODES.has(code)) return changedWhileOpen(name);
  // No HTTP status means the request never got an answer (refused, reset, timed out), except
  // for failures on our side that no retry mends: no credentials found, a bug.
  const noAnswer = status === undefined && !PERMANENT_CODES.has(code) && !(err instanceof TypeError);
  const transient = TRANSIENT_CODES.has(code) || noAnswer || status === 408 || status === 429 || (status !== undefined && status >= 500);
  const reason =
    status === 404 || NOT_FOUND_CODES.has(code) ? 'not found'
    : status === 403 ? 'access denied'
    : status === 416 ? 'range not satisfiable'
    : status === undefined ? `request failed: ${e.code ?? e.message ?? code}`
    : code;
  const suffix = status === undefined ? '' : ` (${status}${code !== reason ? ` ${code}` : ''})`;
  return new StoreError(`${name}: ${what}: ${reason}${suffix}`, location, { cause: err, transient });
}

/** The permanent error of an object whose ETag or size differs from the one pinned at open. */
export function changedWhileOpen(name: string): StoreError {
  return new StoreError(`${name}: the object changed while open (its ETag or size differs); reopen it`, { archive: name, stage: 'read' });
}
