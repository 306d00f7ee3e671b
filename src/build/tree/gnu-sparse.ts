/**
 * GNU tar's sparse files (GNU tar manual, "Storing Sparse Files"): only the data parts of the
 * file are stored, back to back, with a map of where they go. Four encodings exist: the old GNU
 * header (type `S`, map in the header and extension blocks, see tar-header.ts) and three pax
 * ones, 0.0 and 0.1 (map in pax records) and 1.0 (GNU tar's default for --format=pax: map in
 * decimal text at the start of the data, padded to a block). Pure, but for the reading of a
 * 1.0 map through a callback.
 */
import type { PaxAttributes } from './pax-records.js';
import { TAR_BLOCK, TarSyntaxError } from './tar-header.js';
import type { ByteRange } from './types.js';

/** What the pax records say about a sparse file. */
export interface PaxSparse {
  /** The file's real name (the entry's path is a made-up `GNUSparseFile.<pid>/` one). */
  name?: Uint8Array;
  /** The file's size in bytes. */
  realSize: number;
  /** The map; undefined for format 1.0, whose map starts the data. */
  segments?: ByteRange[];
}

/**
 * Reads the GNU.sparse.* records of an entry.
 * @returns undefined when the entry is not a pax sparse file.
 * @throws TarSyntaxError for a malformed or unknown sparse encoding.
 */
export function paxSparse(pax: PaxAttributes): PaxSparse | undefined {
  if (!pax.hasPrefix('GNU.sparse.')) return undefined;
  const name = pax.bytes('GNU.sparse.name');
  const major = pax.text('GNU.sparse.major');
  if (major !== undefined) {
    const minor = pax.text('GNU.sparse.minor');
    if (major !== '1' || minor !== '0') throw new TarSyntaxError(`GNU sparse format ${major}.${minor} is not supported`);
    return { name, realSize: required(pax.integer('GNU.sparse.realsize'), 'GNU.sparse.realsize') };
  }
  const realSize = required(pax.integer('GNU.sparse.size'), 'GNU.sparse.size');
  const map = pax.text('GNU.sparse.map');
  if (map !== undefined) return { name, realSize, segments: pairs(map === '' ? [] : map.split(','), 'GNU.sparse.map') };
  // Format 0.0: GNU.sparse.offset and GNU.sparse.numbytes repeated, in order.
  const numbers: string[] = [];
  for (const [k, v] of pax.records) {
    if (k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes') numbers.push(Buffer.from(v).toString('latin1'));
  }
  return { name, realSize, segments: pairs(numbers, 'GNU.sparse.offset/numbytes') };
}

/**
 * Reads a format 1.0 map: decimal numbers, one a line: the count of parts, then each part's
 * offset and length; padded with NULs to a whole block.
 * @param nextBlock returns the next 512 bytes of the entry's data.
 * @param maxBlocks blocks the entry's data holds (a map never runs past it).
 * @returns the map and the bytes it took (a multiple of 512).
 * @throws TarSyntaxError when the text is not such a map.
 */
export async function readSparseMap(nextBlock: () => Promise<Uint8Array>, maxBlocks: number): Promise<{ segments: ByteRange[]; bytes: number }> {
  // Numbers are accumulated digit by digit, never as strings: a map of 10^6 parts made of
  // strings built a character at a time held about 256 bytes per number until flattened.
  const segments: ByteRange[] = [];
  let count = -1; // parts in the map, once its first line is read
  let offset = -1; // the part being read: its offset, once read
  let value = 0;
  let digits = 0;
  let blocks = 0;
  const done = () => count >= 0 && segments.length === count;
  while (!done()) {
    if (blocks >= maxBlocks) throw new TarSyntaxError('GNU sparse map runs past the entry');
    const block = await nextBlock();
    blocks++;
    for (let i = 0; i < block.length && !done(); i++) {
      const b = block[i]!;
      if (b !== 0x0a) {
        if (b < 0x30 || b > 0x39 || digits >= 20) throw new TarSyntaxError('GNU sparse map is not decimal numbers');
        value = value * 10 + (b - 0x30);
        digits++;
        continue;
      }
      if (digits === 0 || !Number.isSafeInteger(value)) throw new TarSyntaxError(`GNU sparse map: '${digits === 0 ? '' : value}' is not a number`);
      if (count < 0) {
        count = value;
        if (1 + 2 * count > maxBlocks * TAR_BLOCK) throw new TarSyntaxError('GNU sparse map count too large for the entry');
      } else if (offset < 0) offset = value;
      else {
        segments.push({ offset, length: value });
        offset = -1;
      }
      value = 0;
      digits = 0;
    }
  }
  return { segments, bytes: blocks * TAR_BLOCK };
}

/**
 * Checks a map against the file: parts in ascending order, not overlapping, inside the file,
 * and together as long as the data stored. Zero-length parts (GNU tar ends a map with one at
 * the file's end) are dropped.
 * @returns the parts of non-zero length.
 * @throws TarSyntaxError when the map does not fit.
 */
export function checkSparseMap(segments: readonly ByteRange[], realSize: number, storedBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  let end = 0;
  let total = 0;
  for (const s of segments) {
    if (s.offset < end || s.offset + s.length > realSize) throw new TarSyntaxError(`GNU sparse map part [${s.offset}, +${s.length}) out of order or past the file's ${realSize} bytes`);
    end = s.offset + s.length;
    total += s.length;
    if (s.length > 0) out.push(s);
  }
  if (total !== storedBytes) throw new TarSyntaxError(`GNU sparse map describes ${total} bytes, the entry stores ${storedBytes}`);
  return out;
}

function pairs(numbers: readonly string[], what: string): ByteRange[] {
  if (numbers.length % 2 !== 0) throw new TarSyntaxError(`${what}: odd count of numbers`);
  const out: ByteRange[] = [];
  for (let i = 0; i < numbers.length; i += 2) {
    const offset = decimal(numbers[i]!, what);
    const length = decimal(numbers[i + 1]!, what);
    out.push({ offset, length });
  }
  return out;
}

function decimal(text: string, what: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new TarSyntaxError(`${what}: '${text}' is not a number`);
  return n;
}

function required(n: number | undefined, key: string): number {
  if (n === undefined) throw new TarSyntaxError(`GNU sparse file without ${key}`);
  return n;
}
