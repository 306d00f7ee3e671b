/**
 * Reads the entries of a tar stream: header blocks with their extended headers applied (pax
 * `x`/`g`, GNU long names `L`/`K`), sparse maps decoded, file data offered once and the rest
 * skipped. Covers what GNU tar, bsdtar and tar-stream write: ustar, pax, GNU and v7 headers.
 * Written here rather than on tar-stream, which decodes pax values as UTF-8 (losing non-UTF-8
 * file names, which GNU tar stores as raw bytes), ignores pax uid/gid/atime/ctime, hides the
 * GNU sparse map and does not say where an entry's data lies in the file.
 */
import { CorruptImageError, UnsupportedError, UsageError } from '../../errors.js';
import type { ByteReader } from './byte-reader.js';
import { MAX_FILE_BYTES } from './data-ranges.js';
import { checkSparseMap, paxSparse, readSparseMap } from './gnu-sparse.js';
import { applyGlobalRecords, PaxAttributes, parsePaxRecords, type PaxRecord } from './pax-records.js';
import { TAR_BLOCK, TarSyntaxError, decodeSparseExtension, decodeTarHeader, type TarHeader } from './tar-header.js';
import type { ByteRange, SourceKind, Timestamp } from './types.js';

/** What an entry makes: a source-tree kind, or a hard link to an earlier entry. */
export type TarEntryType = Exclude<SourceKind, 'socket'> | 'link';

/** One tar entry, extended headers applied. */
export interface TarEntry {
  /** Offset of the entry's first header (extended ones included) in the tar stream. */
  headerOffset: number;
  /** The path as stored (bytes; not yet normalised). */
  path: Uint8Array;
  type: TarEntryType;
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtime: Timestamp;
  /** From pax `atime`, when present. */
  atime?: Timestamp;
  /** From pax `ctime`, when present. */
  ctime?: Timestamp;
  /** Regular files: the file's size in bytes (the real size of a sparse file). Otherwise 0. */
  size: number;
  /** Symlinks: the target. Hard links: the path of the entry linked to. */
  linkPath?: Uint8Array;
  /** Devices: the device number. */
  rdev?: { major: number; minor: number };
  /** Regular files: the parts of the file stored, back to back from {@link dataOffset}; the rest is zeros. */
  segments: ByteRange[];
  /** Offset in the tar stream of the first stored byte. */
  dataOffset: number;
  /**
   * Yields the stored bytes (Σ segment lengths) in pieces. Call at most once, before asking
   * for the next entry; data not read is skipped.
   * @throws CorruptImageError when the tar ends inside them.
   */
  data(): AsyncGenerator<Uint8Array>;
}

/** Largest extended header (pax records, GNU long name) accepted: a guard against garbage sizes. */
const MAX_META = 4 << 20;

/**
 * Yields the entries of the tar read by `reader`, up to its end-of-archive block (a zero block;
 * what follows it is not read).
 * @param source names the tar in messages.
 * @throws UsageError when the input does not start with a tar header (not a tar at all).
 * @throws CorruptImageError for a bad header, a truncated input or an inconsistent sparse map,
 *   naming the source, the byte offset and the entry.
 * @throws UnsupportedError for entry types hexz cannot represent (multi-volume continuations,
 *   unknown type flags) and unknown GNU sparse formats.
 */
export async function* readTarEntries(reader: ByteReader, source: string): AsyncGenerator<TarEntry> {
  const global = new Map<string, Uint8Array>();
  let local: PaxRecord[] = [];
  let longName: Uint8Array | undefined;
  let longLink: Uint8Array | undefined;
  let start = reader.position; // first header of the entry being assembled
  const fail = (msg: string, at: number, path?: Uint8Array) =>
    new CorruptImageError(`${source}: corrupt tar at byte ${at}${path ? ` (entry '${text(path)}')` : ''}: ${msg}`, { archive: source, offset: at, stage: 'read tar' });
  const readExactly = async (n: number, path?: Uint8Array) => {
    const at = reader.position;
    const bytes = await reader.read(n);
    if (bytes.length < n) throw fail(`truncated: ${n} bytes expected, ${bytes.length} left`, at, path);
    return bytes;
  };
  const skipExactly = async (n: number, path?: Uint8Array) => {
    const at = reader.position;
    const skipped = await reader.skip(n);
    if (skipped < n) throw fail(`truncated: ${n} bytes expected, ${skipped} left`, at, path);
  };
  const readMeta = async (h: TarHeader) => {
    if (h.size > MAX_META) throw fail(`extended header of ${h.size} bytes`, reader.position);
    return (await readExactly(padded(h.size))).subarray(0, h.size);
  };

  for (;;) {
    const at = reader.position;
    const block = await reader.read(TAR_BLOCK);
    if (block.length === 0 && at === 0) throw new UsageError(`${source}: empty, not a tar archive`, { archive: source, stage: 'read tar' });
    // A tar ends with zero blocks: an input that stops without one was cut short, even at a
    // block boundary (a partial download must not become a partial file system).
    if (block.length === 0) throw fail('truncated: the input ends without an end-of-archive block', at);
    if (block.length < TAR_BLOCK) throw fail(`truncated: header of ${block.length} bytes`, at);
    let header: TarHeader | null;
    try {
      header = decodeTarHeader(block);
    } catch (err) {
      if (!(err instanceof TarSyntaxError)) throw err;
      // A first block that is not a header at all is another kind of file; one whose checksum
      // holds but whose fields do not is a damaged tar.
      if (at === 0 && err.badChecksum) throw new UsageError(`${source}: not a tar archive (hexz build reads tar, tar.gz and tar.zst)`, { archive: source, stage: 'read tar' });
      throw fail(err.message, at);
    }
    if (header === null) {
      if (at !== start) throw fail('end-of-archive block after an extended header', at);
      return;
    }
    try {
      switch (header.typeflag) {
        case 'x': local = parsePaxRecords(await readMeta(header)); continue;
        case 'g': applyGlobalRecords(global, parsePaxRecords(await readMeta(header))); continue;
        case 'L': longName = cString(await readMeta(header)); continue;
        case 'K': longLink = cString(await readMeta(header)); continue;
        case 'V': // a GNU volume label: no file
          await skipExactly(padded(header.size));
          local = [];
          longName = longLink = undefined;
          start = reader.position;
          continue;
      }
      const pax = new PaxAttributes(global, local);
      const { entry, end } = await assemble(header, pax, longName, longLink, start);
      local = [];
      longName = longLink = undefined;
      yield entry;
      await skipExactly(end - reader.position, entry.path);
      start = reader.position;
    } catch (err) {
      if (err instanceof TarSyntaxError) throw fail(err.message, start, longName ?? header.name);
      throw err;
    }
  }

  async function assemble(h: TarHeader, pax: PaxAttributes, name: Uint8Array | undefined, link: Uint8Array | undefined, headerOffset: number) {
    let path = pax.bytes('path') ?? name ?? h.name;
    const type = entryType(h.typeflag, path, source);
    if (h.typeflag === 'S' && !h.gnuSparse) throw new TarSyntaxError("type 'S' (GNU sparse) in a header that is not a GNU one");
    let stored = pax.integer('size') ?? h.size;
    let size = type === 'file' ? stored : 0;
    let segments: ByteRange[] = size > 0 ? [{ offset: 0, length: size }] : [];
    if (h.gnuSparse) {
      // Old GNU sparse: extension blocks with more of the map follow the header.
      const map = [...h.gnuSparse.segments];
      for (let more = h.gnuSparse.extended; more; ) {
        const ext = decodeSparseExtension(await readExactly(TAR_BLOCK, path));
        map.push(...ext.segments);
        more = ext.extended;
      }
      size = h.gnuSparse.realSize;
      segments = checkSparseMap(map, size, stored);
    }
    const end = reader.position + padded(stored); // where the next header starts
    let dataOffset = reader.position;
    const sparse = type === 'file' ? paxSparse(pax) : undefined;
    if (sparse) {
      path = sparse.name ?? path;
      size = sparse.realSize;
      let map = sparse.segments;
      if (!map) {
        const read = await readSparseMap(() => readExactly(TAR_BLOCK, path), padded(stored) / TAR_BLOCK);
        map = read.segments;
        dataOffset += read.bytes;
        stored -= read.bytes;
      }
      segments = checkSparseMap(map, size, stored);
    }
    if (size > MAX_FILE_BYTES) {
      throw new UnsupportedError(`${source}: entry '${text(path)}' is a file of ${size} bytes; the filesystems hexz builds hold files of at most ${MAX_FILE_BYTES} bytes (16 TiB)`, { archive: source, offset: headerOffset, stage: 'read tar' });
    }
    const storedSize = stored;
    const mtime = pax.time('mtime') ?? { sec: h.mtime, nsec: 0 };
    const uid = pax.integer('uid') ?? h.uid;
    const gid = pax.integer('gid') ?? h.gid;
    // Owners are 32-bit on Linux and in ext4; a base-256 field can say anything.
    for (const [what, id] of [['uid', uid], ['gid', gid]] as const) {
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw fail(`${what} ${id} is not an owner (0..4294967295)`, headerOffset, path);
    }
    const entry: TarEntry = {
      headerOffset, path, type,
      mode: h.mode & 0o7777,
      uid,
      gid,
      mtime,
      atime: pax.time('atime'),
      ctime: pax.time('ctime'),
      size,
      segments: type === 'file' ? segments : [],
      dataOffset,
      data: async function* () {
        let got = 0;
        for await (const piece of reader.pieces(storedSize)) {
          got += piece.length;
          yield piece;
        }
        if (got < storedSize) throw fail(`truncated: file data ends after ${got} of ${storedSize} bytes`, reader.position, path);
      },
    };
    if (type === 'symlink' || type === 'link') entry.linkPath = pax.bytes('linkpath') ?? link ?? h.linkname;
    if (type === 'chardev' || type === 'blockdev') {
      entry.rdev = { major: pax.integer('SCHILY.devmajor') ?? h.devmajor, minor: pax.integer('SCHILY.devminor') ?? h.devminor };
    }
    return { entry, end };
  }
}

function entryType(flag: string, path: Uint8Array, source: string): TarEntryType {
  switch (flag) {
    // v7 tars mark directories only by the trailing slash.
    case '0': return path[path.length - 1] === 0x2f ? 'dir' : 'file';
    case '7': case 'S': return 'file';
    case '1': return 'link';
    case '2': return 'symlink';
    case '3': return 'chardev';
    case '4': return 'blockdev';
    case '5': case 'D': return 'dir'; // D: a GNU incremental dump directory; its listing is skipped
    case '6': return 'fifo';
  }
  const what = flag === 'M' ? 'a GNU multi-volume continuation' : `of unknown type '${flag}'`;
  throw new UnsupportedError(`${source}: entry '${text(path)}' is ${what}, which hexz build does not support`, { archive: source, stage: 'read tar' });
}

/** Rounds up to whole tar blocks. */
function padded(n: number): number {
  return Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
}

function cString(bytes: Uint8Array): Uint8Array {
  const end = bytes.indexOf(0);
  return end < 0 ? bytes : bytes.subarray(0, end);
}

function text(path: Uint8Array): string {
  return Buffer.from(path).toString('utf8');
}
