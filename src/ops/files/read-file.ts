/**
 * One file's content from a filesystem inside an archive, as `cat` would give it: symlinks
 * followed, holes as zeros, read in bounded pieces with the next one in flight.
 */
import { throwIfAborted, UsageError } from '../../errors.js';
import type { Ext4Filesystem, FsNode } from '../../fs/ext4/index.js';
import type { Archive } from '../../archive/archive.js';
import { lookupPath } from './file-entry.js';
import { volumeOf, type Volume } from './open-volume.js';
import type { VolumeOptions } from './types.js';

/** Largest piece read (and yielded) at once, in bytes. */
export const FILE_PIECE_BYTES = 8 << 20;
/** Shared zeros for holes; yielded chunks of holes are views of it, so they must not be written to. */
const ZEROS = new Uint8Array(1 << 20);

/** Options of {@link readFile}. */
export interface ReadFileOptions extends VolumeOptions {
  /** First byte of the file to read (default 0). */
  offset?: number;
  /** Bytes to read (default: to the end of the file). */
  length?: number;
}

/** What {@link readFile} returns. */
export interface FileContent {
  /** The file read (the symlink's target when the path was a symlink). */
  node: FsNode;
  /** The file's size in bytes. */
  size: number;
  /** The range read: from byte `offset`, `length` bytes (the chunks add up to this). */
  offset: number;
  length: number;
  /**
   * The content in order, in chunks of at most {@link FILE_PIECE_BYTES}. A chunk of a hole is a
   * view of a shared buffer of zeros: read it, do not modify it.
   * @throws (while iterating) CorruptArchiveError / CorruptImageError when a block or the file's
   *   map is damaged; AbortedError.
   */
  chunks: AsyncGenerator<Uint8Array>;
}

/**
 * Reads the file at `path` (symlinks followed, like `cat`) from a filesystem of an archive's disk.
 * Memory is bounded by two pieces whatever the file's size.
 * @param source an archive, or a {@link Volume} already opened (then `stream` and `partition` are its own).
 * @throws UsageError when the path does not exist or is a directory (or a device, fifo or
 *   socket: nothing to read), or the range is not inside the file; as {@link openVolume}.
 * @example
 * const { chunks } = await readFile(archive, '/etc/os-release');
 * for await (const c of chunks) process.stdout.write(c);
 */
export async function readFile(source: Archive | Volume, path: string, options: ReadFileOptions = {}): Promise<FileContent> {
  const vol = await volumeOf(source, options);
  const node = await lookupPath(vol, path, { followFinal: true, signal: options.signal });
  if (node.type !== 'file') {
    const what = node.type === 'dir' ? 'is a directory' : `is a ${node.type}, not a regular file`;
    throw new UsageError(`${path}: ${what} (partition ${vol.partition.number})`, { archive: vol.archiveName, stage: 'read' });
  }
  const offset = options.offset ?? 0;
  const length = options.length ?? Math.max(0, node.size - offset);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > node.size) {
    throw new UsageError(`range [${offset}, ${offset + length}) is past the end of ${path} (${node.size} bytes)`, { archive: vol.archiveName, stage: 'read' });
  }
  return { node, size: node.size, offset, length, chunks: fileChunks(vol.fs, node, options.signal, { start: offset, end: offset + length }) };
}

/**
 * The content of regular file `node`, holes as zeros, in pieces of at most
 * {@link FILE_PIECE_BYTES}; the next data piece is read while the caller handles this one.
 * @param range the bytes wanted, `[start, end)` (default: the whole file).
 * @throws as {@link FileContent.chunks}.
 */
export async function* fileChunks(fs: Ext4Filesystem, node: FsNode, signal?: AbortSignal, range?: { start: number; end: number }): AsyncGenerator<Uint8Array> {
  let ahead: Promise<Uint8Array> | undefined;
  try {
    for await (const piece of filePieces(fs, node, signal, range)) {
      throwIfAborted(signal, 'read');
      if (piece.deviceOffset === null) {
        if (ahead) yield await ahead;
        ahead = undefined;
        for (let left = piece.length; left > 0; left -= ZEROS.length) yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
        continue;
      }
      const next = fs.read(node.ino, piece.offset, piece.length, { signal });
      next.catch(() => {}); // awaited in turn; an early failure must not be reported as unhandled
      if (ahead) yield await ahead;
      ahead = next;
    }
    if (ahead) yield await ahead;
  } finally {
    await ahead?.catch(() => {});
  }
}

/** A piece of a file: a hole or data, at most {@link FILE_PIECE_BYTES} when data. */
export interface FilePiece {
  /** Byte offset in the file. */
  offset: number;
  length: number;
  /** Where the piece lies on the filesystem's device, in bytes; null for a hole. */
  deviceOffset: number | null;
}

/**
 * The file's map cut into pieces: data extents cut at {@link FILE_PIECE_BYTES}, holes whole,
 * tiling [0, size) (a map that ends early is completed with a hole, as the size says), or only
 * `range` of it, pieces clipped to it.
 */
export async function* filePieces(fs: Ext4Filesystem, node: FsNode, signal?: AbortSignal, range?: { start: number; end: number }): AsyncGenerator<FilePiece> {
  const start = range?.start ?? 0;
  const end = range?.end ?? node.size;
  if (end <= start) return;
  for await (const p of mapPieces(fs, node, signal)) {
    const from = Math.max(start, p.offset);
    const to = Math.min(end, p.offset + p.length);
    if (to > from) yield { offset: from, length: to - from, deviceOffset: p.deviceOffset === null ? null : p.deviceOffset + (from - p.offset) };
    if (p.offset + p.length >= end) return; // the rest of the map is not wanted
  }
}

async function* mapPieces(fs: Ext4Filesystem, node: FsNode, signal?: AbortSignal): AsyncGenerator<FilePiece> {
  let at = 0;
  for await (const x of fs.extents(node.ino, { signal })) {
    // Clipped to what is not yet covered and to the size, so even a crafted map tiles exactly.
    const start = Math.max(at, x.offset);
    const end = Math.min(node.size, x.offset + x.length);
    if (end <= start) continue;
    if (start > at) yield { offset: at, length: start - at, deviceOffset: null };
    const dev = x.deviceOffset;
    if (dev === null) yield { offset: start, length: end - start, deviceOffset: null };
    else for (let p = start; p < end; p += FILE_PIECE_BYTES) yield { offset: p, length: Math.min(FILE_PIECE_BYTES, end - p), deviceOffset: dev + (p - x.offset) };
    at = end;
  }
  if (at < node.size) yield { offset: at, length: node.size - at, deviceOffset: null };
}
