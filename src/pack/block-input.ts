import { constants, open as openFd } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { StoreError, wrapIoError } from '../errors.js';
import { openInputFile } from '../store/open-input-file.js';
import type { DiskImage } from '../image/types.js';
import { createHoleFinder, type HoleFinder } from '../store/holes.js';

/**
 * One unit of input: a run of zeros known without reading, or one block of bytes. A block's
 * `bytes` may be a view of a buffer shared with the blocks next to it (one read); once a block
 * of another buffer or a zero run comes, the input no longer uses the earlier buffers, so the
 * packer may transfer them to a worker (see CompressBatcher).
 */
export type InputBlock =
  | { kind: 'zero'; length: number }
  | { kind: 'data'; bytes: Uint8Array };

/** A packing input: its size when known, and its blocks in order. */
export interface BlockInput {
  /** Total bytes, or undefined for a pipe. */
  size: number | undefined;
  /** Human-readable name for errors and progress. */
  name: string;
  blocks(): AsyncGenerator<InputBlock>;
  close(): Promise<void>;
}

/**
 * Opens a file input. Blocks that lie entirely in a hole are yielded as zero runs without
 * being read; everything else is read and later checked for all-zero content.
 * @throws StoreError when the file cannot be opened.
 */
export async function openFileInput(path: string, blockSize: number): Promise<BlockInput> {
  const { fh, size } = await openInputFile(path);
  const holes = await createHoleFinder(fh.fd, size);
  return {
    size,
    name: path,
    close: () => fh.close(),
    blocks: () => fileBlocks(fh, path, size, blockSize, holes),
  };
}

/** Bytes read per input request. */
const READ_CHUNK = 1 << 20;

async function* fileBlocks(fh: FileHandle, path: string, size: number, blockSize: number, holes: HoleFinder | null): AsyncGenerator<InputBlock> {
  const chunkSize = Math.max(blockSize, READ_CHUNK - (READ_CHUNK % blockSize));
  let dataEnd = holes ? 0 : size; // bytes before dataEnd are known to need reading
  // The next chunk is read while the blocks of the current one are consumed.
  type Pending = { pos: number; blocks: Promise<Uint8Array[]> };
  let ahead: Pending | null = null;
  const readChunk = (pos: number, n: number): Pending => {
    const p = readBlocks(fh, path, size, pos, n, blockSize);
    p.catch(() => {});
    return { pos, blocks: p };
  };
  let pos = 0;
  while (pos < size) {
    if (!ahead && holes && pos >= dataEnd) {
      const d = holes.nextData(pos);
      // Whole blocks inside the hole become zero runs without being read.
      const skip = Math.floor((d - pos) / blockSize) * blockSize;
      const zeroTo = d >= size ? size : pos + skip;
      if (zeroTo > pos) {
        yield { kind: 'zero', length: zeroTo - pos };
        pos = zeroTo;
        continue;
      }
      dataEnd = holes.nextHole(d);
    }
    // Read up to a chunk at once (fewer syscalls), but not past the known data extent.
    const extentEnd = () => Math.min(size, Math.ceil(dataEnd / blockSize) * blockSize);
    const cur: Pending = ahead ?? readChunk(pos, Math.min(chunkSize, extentEnd() - pos));
    const blocks: Uint8Array[] = await cur.blocks;
    const next: number = pos + blocks.reduce((n, b) => n + b.length, 0);
    ahead = next < extentEnd() ? readChunk(next, Math.min(chunkSize, extentEnd() - next)) : null;
    for (const bytes of blocks) yield { kind: 'data', bytes };
    pos = next;
  }
}

/**
 * Reads `n` bytes at `pos` into one buffer and returns its blocks as views of it: one allocation
 * (and later one transfer to a worker) per read rather than per block, which spared the main
 * thread most of its garbage collection.
 */
async function readBlocks(fh: FileHandle, path: string, size: number, pos: number, n: number, blockSize: number): Promise<Uint8Array[]> {
  const buf = new Uint8Array(n);
  let done = 0;
  try {
    while (done < n) {
      const { bytesRead } = await fh.read(buf, done, n - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw wrapIoError(err, path, 'read input');
  }
  if (done !== n) throw new StoreError(`${path}: input shrank while packing (expected ${size} bytes)`, { archive: path, stage: 'read input' });
  const blocks: Uint8Array[] = [];
  for (let at = 0; at < n; at += blockSize) blocks.push(buf.subarray(at, Math.min(n, at + blockSize)));
  return blocks;
}

/** Virtual bytes planned per image request batch (one batch is read while the previous is consumed). */
const IMAGE_CHUNK = 4 << 20;

/**
 * Wraps an opened {@link DiskImage} (qcow2, or raw through the image API) as an input. Blocks
 * the image maps entirely as zero (unallocated or zero clusters, holes) are yielded as zero runs
 * without reading; the other blocks of a batch are read concurrently, each into its own buffer.
 * The input owns the image and closes it.
 */
export function imageInput(image: DiskImage, blockSize: number): BlockInput {
  return {
    size: image.size,
    name: image.name,
    close: () => image.close(),
    blocks: () => imageBlocks(image, blockSize),
  };
}

type PlannedBlock = { kind: 'zero'; length: number } | { kind: 'data'; bytes: Promise<Uint8Array> };

async function planImageChunk(image: DiskImage, pos: number, chunkSize: number, blockSize: number): Promise<PlannedBlock[]> {
  const end = Math.min(image.size, pos + chunkSize);
  const data = (await image.extents(pos, end - pos)).filter((e) => e.kind === 'data');
  const out: PlannedBlock[] = [];
  let d = 0;
  for (let b = pos; b < end; b += blockSize) {
    const n = Math.min(blockSize, end - b);
    while (d < data.length && data[d].offset + data[d].length <= b) d++;
    if (d < data.length && data[d].offset < b + n) {
      const bytes = image.read(b, n);
      bytes.catch(() => {}); // surfaced when consumed, in order
      out.push({ kind: 'data', bytes });
    } else {
      const last = out[out.length - 1];
      if (last?.kind === 'zero') last.length += n;
      else out.push({ kind: 'zero', length: n });
    }
  }
  return out;
}

/**
 * Most virtual bytes one hole probe asks the image about: long enough that a 16 TiB image with
 * a few data extents takes about a thousand probes, short enough that a probe that lands in
 * allocated space loads few tables.
 */
const HOLE_PROBE = 16 * 2 ** 30;

/**
 * Where the zero run starting at `pos` ends (on the block grid, or at the image's end) when it
 * is at least `minLength` long; undefined when `pos` starts data or a shorter run. One extents
 * query over up to {@link HOLE_PROBE} bytes.
 */
async function holeRunEnd(image: DiskImage, pos: number, blockSize: number, minLength: number): Promise<number | undefined> {
  const [first] = await image.extents(pos, Math.min(image.size - pos, HOLE_PROBE));
  if (!first || first.kind === 'data') return undefined;
  const holeEnd = first.offset + first.length;
  const to = holeEnd >= image.size ? image.size : pos + Math.floor((holeEnd - pos) / blockSize) * blockSize;
  return to - pos >= minLength ? to : undefined;
}

async function* imageBlocks(image: DiskImage, blockSize: number): AsyncGenerator<InputBlock> {
  const chunkSize = Math.max(blockSize, IMAGE_CHUNK - (IMAGE_CHUNK % blockSize));
  const plan = (pos: number) => {
    const p = planImageChunk(image, pos, chunkSize, blockSize);
    p.catch(() => {});
    return p;
  };
  let ahead: Promise<PlannedBlock[]> | null = null;
  for (let pos = 0; pos < image.size; ) {
    if (!ahead) {
      // A long hole is one zero run, found without planning it a chunk at a time.
      const to = await holeRunEnd(image, pos, blockSize, chunkSize);
      if (to !== undefined) {
        yield { kind: 'zero', length: to - pos };
        pos = to;
        continue;
      }
      ahead = plan(pos);
    }
    const items: PlannedBlock[] = await ahead;
    const next = Math.min(image.size, pos + chunkSize);
    // After a chunk that was all hole, probe again rather than plan the next chunk blind.
    const allHole: boolean = items.length === 1 && items[0].kind === 'zero';
    ahead = next < image.size && !allHole ? plan(next) : null;
    for (const item of items) {
      if (item.kind === 'zero') yield item;
      else yield { kind: 'data', bytes: await item.bytes };
    }
    pos = next;
  }
}

/** Virtual bytes one read of a generated image covers (one buffer, later transferred whole to a worker). */
const VIRTUAL_CHUNK = 1 << 20;

/**
 * Wraps a generated {@link DiskImage} (one whose bytes are computed, such as `hexz build`'s
 * filesystem) as an input. Unlike {@link imageInput} it reads a megabyte at a time into one
 * buffer and yields its blocks as views of it: the image gathers many small pieces per read
 * (the files of a directory tree), and one buffer per read is what the packer transfers to a
 * worker without copying. A megabyte the image maps as zero is a zero run, never read.
 */
export function virtualImageInput(image: DiskImage, blockSize: number): BlockInput {
  return {
    size: image.size,
    name: image.name,
    close: () => image.close(),
    blocks: () => virtualImageBlocks(image, blockSize),
  };
}

type PlannedChunk = { n: number; bytes: Promise<Uint8Array> | null };

async function planVirtualChunk(image: DiskImage, pos: number, n: number): Promise<PlannedChunk> {
  const extents = await image.extents(pos, n);
  const bytes = extents.some((e) => e.kind === 'data') ? image.read(pos, n) : null;
  bytes?.catch(() => {}); // surfaced when consumed, in order
  return { n, bytes };
}

async function* virtualImageBlocks(image: DiskImage, blockSize: number): AsyncGenerator<InputBlock> {
  const chunkSize = Math.max(blockSize, VIRTUAL_CHUNK - (VIRTUAL_CHUNK % blockSize));
  const plan = (pos: number) => {
    const p = planVirtualChunk(image, pos, Math.min(chunkSize, image.size - pos));
    p.catch(() => {});
    return p;
  };
  let ahead: Promise<PlannedChunk> | null = null;
  for (let pos = 0; pos < image.size; ) {
    if (!ahead) {
      // A long stretch of free space is one zero run, found without planning it a chunk at a time.
      const to = await holeRunEnd(image, pos, blockSize, chunkSize);
      if (to !== undefined) {
        yield { kind: 'zero', length: to - pos };
        pos = to;
        continue;
      }
      ahead = plan(pos);
    }
    const chunk: PlannedChunk = await ahead;
    const next: number = pos + chunk.n;
    ahead = next < image.size && chunk.bytes ? plan(next) : null;
    if (!chunk.bytes) {
      yield { kind: 'zero', length: chunk.n };
      pos = next;
      continue;
    }
    const buf = await chunk.bytes;
    // Every block of a chunk read is yielded as data, zero ones too (the packer finds those by
    // their content): a zero run between views of one buffer would tell the packer the buffer
    // is done with, and it would be transferred away under the views still to come.
    for (let at = 0; at < chunk.n; at += blockSize) yield { kind: 'data', bytes: buf.subarray(at, Math.min(chunk.n, at + blockSize)) };
    pos = next;
  }
}

/**
 * Opens a named pipe (a FIFO, or /dev/stdin on a pipe) as a stream input. The open is
 * non-blocking and the pipe is read through the event loop (a net.Socket on the descriptor), so
 * waiting for a writer never ties up a thread-pool thread and destroying the input (on abort)
 * ends the wait at once.
 * @throws StoreError when the pipe cannot be opened.
 */
export async function openPipeInput(path: string, blockSize: number): Promise<BlockInput> {
  const fd = await new Promise<number>((res, rej) => openFd(path, constants.O_RDONLY | constants.O_NONBLOCK, (err, fd) => (err ? rej(wrapIoError(err, path, 'open input')) : res(fd))));
  return streamInput(new Socket({ fd, readable: true, writable: false }), path, blockSize);
}

/** Wraps a Node Readable (a pipe, stdin, a network stream) as an input of unknown size. */
export function streamInput(stream: Readable, name: string, blockSize: number): BlockInput {
  return {
    size: undefined,
    name,
    close: async () => void stream.destroy(),
    blocks: () => streamBlocks(stream, name, blockSize),
  };
}

async function* streamBlocks(stream: Readable, name: string, blockSize: number): AsyncGenerator<InputBlock> {
  let block = new Uint8Array(blockSize);
  let fill = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      while (buf.length > 0) {
        const n = Math.min(buf.length, blockSize - fill);
        block.set(buf.subarray(0, n), fill);
        fill += n;
        buf = buf.subarray(n);
        if (fill === blockSize) {
          yield { kind: 'data', bytes: block };
          block = new Uint8Array(blockSize);
          fill = 0;
        }
      }
    }
  } catch (err) {
    throw wrapIoError(err, name, 'read input');
  }
  if (fill > 0) yield { kind: 'data', bytes: block.slice(0, fill) };
}
