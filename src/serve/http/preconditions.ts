/**
 * Pure evaluation of the conditional request fields that decide between a normal answer, 304
 * and 412 (RFC 9110 §13.2.2): `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
 * `If-Modified-Since`. (`If-Range` only decides whether `Range` applies: see byte-range.ts.)
 */
import { parseEntityTag, parseEntityTagList, parseHttpDate, strongMatch, toHttpSeconds, weakMatch, type Validators } from './http-validators.js';

/** The conditional fields of a request, lower-case names as Node's `req.headers` has them. */
export interface ConditionalFields {
  'if-match'?: string;
  'if-none-match'?: string;
  'if-modified-since'?: string;
  'if-unmodified-since'?: string;
}

/**
 * The outcome: `proceed` (answer normally), `not-modified` (304 for GET/HEAD) or
 * `precondition-failed` (412).
 */
export type PreconditionResult = 'proceed' | 'not-modified' | 'precondition-failed';

/**
 * Evaluates the preconditions of a request for an existing, read-only representation in the
 * order RFC 9110 §13.2.2 prescribes:
 * 1. `If-Match` (strong comparison; `*` matches) — false → 412;
 * 2. else `If-Unmodified-Since` (ignored when not a valid HTTP-date) — modified since → 412;
 * 3. `If-None-Match` (weak comparison; `*` matches) — a match → 304 for GET/HEAD, else 412;
 * 4. else `If-Modified-Since` for GET/HEAD (ignored when not a valid date) — not modified → 304.
 * A malformed entity-tag list matches nothing: `If-Match` then fails, `If-None-Match` passes.
 *
 * @param method - the request method (upper case).
 */
export function evaluatePreconditions(method: string, fields: ConditionalFields, validators: Validators): PreconditionResult {
  const current = parseEntityTag(validators.etag);
  const lastModified = toHttpSeconds(validators.lastModified);
  const getOrHead = method === 'GET' || method === 'HEAD';

  const ifMatch = fields['if-match'];
  if (ifMatch !== undefined) {
    const tags = parseEntityTagList(ifMatch);
    const ok = tags === '*' || (tags !== undefined && current !== undefined && tags.some((t) => strongMatch(t, current)));
    if (!ok) return 'precondition-failed';
  } else if (fields['if-unmodified-since'] !== undefined) {
    const date = parseHttpDate(fields['if-unmodified-since']);
    if (date !== undefined && lastModified > date) return 'precondition-failed';
  }

  const ifNoneMatch = fields['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTagList(ifNoneMatch);
    const matched = tags === '*' || (tags !== undefined && current !== undefined && tags.some((t) => weakMatch(t, current)));
    if (matched) return getOrHead ? 'not-modified' : 'precondition-failed';
  } else if (getOrHead && fields['if-modified-since'] !== undefined) {
    const date = parseHttpDate(fields['if-modified-since']);
    if (date !== undefined && lastModified <= date) return 'not-modified';
  }
  return 'proceed';
}
