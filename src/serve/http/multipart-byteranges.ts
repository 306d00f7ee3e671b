/**
 * Pure layout of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1): the part heads,
 * the closing delimiter and the exact Content-Length, computed before any byte is read so the
 * answer can carry a Content-Length and be streamed.
 */
import type { ByteRange } from '../../util/byte-ranges.js';
import { contentRange } from './byte-range.js';

/** One part: its head (delimiter and part fields, ASCII) followed by the bytes of `range`. */
export interface MultipartPart {
  head: string;
  range: ByteRange;
}

/** A `multipart/byteranges` body: `parts[0].head`, its bytes, `parts[1].head`, …, `tail`. */
export interface MultipartLayout {
  /** The response `Content-Type`, with the boundary parameter. */
  contentType: string;
  /** Exact length of the whole body in bytes. */
  contentLength: number;
  parts: MultipartPart[];
  /** The close delimiter that ends the body. */
  tail: string;
}

/**
 * Lays out a `multipart/byteranges` body for `ranges` of a representation of `size` bytes.
 * The body is, per part, `--BOUNDARY CRLF Content-Type CRLF Content-Range CRLF CRLF <bytes>`,
 * the CRLF before each next delimiter, and ends with `CRLF --BOUNDARY-- CRLF` (no preamble, no
 * epilogue). Heads are ASCII, so their string lengths are their byte lengths.
 *
 * @param boundary - 1–70 characters from RFC 2046's bchars without space; callers pick a random
 *   one so it cannot occur in the data.
 * @param partType - the Content-Type of each part (the representation's type).
 * @throws RangeError when `boundary` is not a valid boundary or `ranges` is empty.
 */
export function multipartByteranges(ranges: ByteRange[], size: number, boundary: string, partType: string): MultipartLayout {
  if (!/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/.test(boundary)) throw new RangeError(`invalid multipart boundary ${JSON.stringify(boundary)}`);
  if (ranges.length === 0) throw new RangeError('a multipart/byteranges body needs at least one range');
  let contentLength = 0;
  const parts = ranges.map((range, i) => {
    const head = `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${partType}\r\nContent-Range: ${contentRange(range, size)}\r\n\r\n`;
    contentLength += head.length + (range.end - range.start);
    return { head, range };
  });
  const tail = `\r\n--${boundary}--\r\n`;
  contentLength += tail.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, contentLength, parts, tail };
}
