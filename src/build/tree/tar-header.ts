/**
 * Decoding of one 512-byte tar header block (POSIX.1-1988 ustar, GNU and old v7 headers). Pure:
 * no I/O, errors are {@link TarSyntaxError}s that the reader turns into messages naming the
 * source and offset.
 */
import type { ByteRange } from './types.js';

/** Size of a tar block: headers and data are padded to it (POSIX.1 ustar). */
export const TAR_BLOCK = 512;

/** A malformed tar header or extended header; the reader adds the source and offset. */
export class TarSyntaxError extends Error {
  /** @param badChecksum the block fails its checksum: at the start of an input, not a tar at all. */
  constructor(message: string, readonly badChecksum = false) {
    super(message);
  }
}

/** The fields of a header block, as stored (extended headers not yet applied). */
export interface TarHeader {
  /** Path bytes: the ustar prefix, a slash and the name when there is a prefix. */
  name: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data after the header (for an old GNU sparse file: the stored parts only). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The type flag as a character; `'\0'` is reported as `'0'`. */
  typeflag: string;
  linkname: Uint8Array;
  devmajor: number;
  devminor: number;
  /** Old GNU sparse files (type `S`): the map in the header and whether extension blocks follow. */
  gnuSparse?: { segments: ByteRange[]; extended: boolean; realSize: number };
}

const USTAR_MAGIC = 'ustar\u000000';
const GNU_MAGIC = 'ustar  \u0000';

/**
 * Decodes a header block.
 * @returns null for an all-zero block (the end-of-archive marker).
 * @throws TarSyntaxError when the checksum does not match or a numeric field is not a number.
 */
export function decodeTarHeader(block: Uint8Array): TarHeader | null {
  if (block.length !== TAR_BLOCK) throw new TarSyntaxError(`header block of ${block.length} bytes`);
  if (isZeroBlock(block)) return null;
  // Plain Uint8Array views from here: cheaper than Buffer ones (no subclass construction).
  block = new Uint8Array(block.buffer, block.byteOffset, TAR_BLOCK);
  checkChecksum(block);
  const magic = String.fromCharCode(block[257]!, block[258]!, block[259]!, block[260]!, block[261]!, block[262]!, block[263]!, block[264]!);
  let name = cString(block, 0, 100);
  const prefix = magic === USTAR_MAGIC ? cString(block, 345, 155) : new Uint8Array(0);
  if (prefix.length > 0) {
    const joined = new Uint8Array(prefix.length + 1 + name.length);
    joined.set(prefix);
    joined[prefix.length] = 0x2f;
    joined.set(name, prefix.length + 1);
    name = joined;
  }
  const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  const header: TarHeader = {
    name,
    mode: tarNumber(block, 100, 8, 'mode'),
    uid: tarNumber(block, 108, 8, 'uid'),
    gid: tarNumber(block, 116, 8, 'gid'),
    size: tarNumber(block, 124, 12, 'size'),
    mtime: tarNumber(block, 136, 12, 'mtime'),
    typeflag,
    linkname: cString(block, 157, 100),
    devmajor: magic === USTAR_MAGIC || magic === GNU_MAGIC ? tarNumber(block, 329, 8, 'devmajor') : 0,
    devminor: magic === USTAR_MAGIC || magic === GNU_MAGIC ? tarNumber(block, 337, 8, 'devminor') : 0,
  };
  if (header.size < 0) throw new TarSyntaxError(`negative size ${header.size}`);
  if (typeflag === 'S' && magic === GNU_MAGIC) {
    // Old GNU sparse header: 4 (offset, numbytes) pairs at 386, isextended at 482, realsize at 483.
    header.gnuSparse = {
      segments: sparsePairs(block, 386, 4),
      extended: block[482] !== 0,
      realSize: tarNumber(block, 483, 12, 'realsize'),
    };
  }
  return header;
}

/**
 * Decodes an old GNU sparse extension block: 21 (offset, numbytes) pairs and, at 504, whether
 * another extension block follows.
 */
export function decodeSparseExtension(block: Uint8Array): { segments: ByteRange[]; extended: boolean } {
  return { segments: sparsePairs(block, 0, 21), extended: block[504] !== 0 };
}

function sparsePairs(block: Uint8Array, at: number, count: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (let i = 0; i < count; i++) {
    const p = at + i * 24;
    if (block[p] === 0) break; // an empty offset field ends the list
    out.push({ offset: tarNumber(block, p, 12, 'sparse offset'), length: tarNumber(block, p + 12, 12, 'sparse length') });
  }
  return out;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < TAR_BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The bytes of a NUL-terminated (or field-filling) string field. */
function cString(block: Uint8Array, at: number, length: number): Uint8Array {
  const field = block.subarray(at, at + length);
  const end = field.indexOf(0);
  return field.slice(0, end < 0 ? length : end);
}

/**
 * Decodes a numeric field: octal digits, optionally led by spaces and ended by a space or NUL; or,
 * when the first byte has its top bit set, GNU's base-256 big-endian two's complement (0x80
 * positive, 0xff negative), which carries sizes past 8 GiB and negative times.
 * @throws TarSyntaxError for a character that is not an octal digit, or a value past 2^53.
 */
export function tarNumber(block: Uint8Array, at: number, length: number, what: string): number {
  const end = at + length;
  if (block[at]! & 0x80) {
    let v = BigInt(block[at]! & 0x7f) - (block[at] === 0xff ? 0x80n : 0n);
    for (let i = at + 1; i < end; i++) v = (v << 8n) | BigInt(block[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new TarSyntaxError(`${what} out of range`);
    return Number(v);
  }
  let i = at;
  while (i < end && block[i] === 0x20) i++;
  let v = 0;
  for (; i < end && block[i] !== 0x20 && block[i] !== 0; i++) {
    const d = block[i]! - 0x30;
    if (d < 0 || d > 7) throw new TarSyntaxError(`${what} field is not an octal number`);
    v = v * 8 + d;
  }
  return v; // whatever follows the terminator is padding
}

/** Checks the header checksum; like GNU tar, accepts the historic signed-char sum too. */
function checkChecksum(block: Uint8Array): void {
  let stored: number;
  try {
    stored = tarNumber(block, 148, 8, 'checksum');
  } catch (err) {
    throw new TarSyntaxError((err as Error).message, true);
  }
  // The checksum field counts as eight spaces; high bytes differ between the two sums.
  let unsigned = 8 * 0x20;
  let high = 0;
  for (let i = 0; i < 148; i++) {
    const b = block[i]!;
    unsigned += b;
    high += b >>> 7;
  }
  for (let i = 156; i < TAR_BLOCK; i++) {
    const b = block[i]!;
    unsigned += b;
    high += b >>> 7;
  }
  if (stored !== unsigned && stored !== unsigned - 0x100 * high) throw new TarSyntaxError('header checksum mismatch', true);
}
