import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, wrapIoError } from '../../errors.js';
import { DATA_BLOCK } from './data-ranges.js';
import { TarFileContent } from './tar-file-content.js';
import type { ByteRange, FileContent } from './types.js';

/** Bytes gathered before one write to the spool. */
const WRITE_BATCH = 1 << 20;
/** Writes in flight at once (so at most this many batches held in memory). */
const MAX_WRITES = 8;
const ZEROS = Buffer.alloc(DATA_BLOCK);
/** Pieces shorter than this are copied into a shared buffer of {@link SMALL_BUFFER} bytes. */
const SMALL_PIECE = 4096;
const SMALL_BUFFER = 64 << 10;

/**
 * One temporary file holding the contents of the files of a tar that cannot be read in place
 * (compressed, or from a pipe). It is unlinked as soon as it is open, so nothing is left
 * behind whatever happens to the process. Each file's stored bytes (its data, or a sparse
 * file's data parts) are copied back to back, exactly as the tar stores them, from a 4096-byte
 * boundary; the file is then read from there as a plain tar's file is read in place
 * ({@link TarFileContent}). The spool is therefore as large as the tar's data: a 16 MB tar of
 * 10^6 one-byte sparse parts spools 1 MB (block-sized pieces would have been 4 GB), and two
 * 10-TiB sparse files of one byte each spool two bytes.
 */
export class SpoolFile {
  private end = 0;
  private readonly writes = new Set<Promise<void>>();
  private failure: unknown;
  /** Pieces of consecutive writes not started yet, for bytes [gatherStart, gatherEnd) of the spool. */
  private gathered: Uint8Array[] = [];
  private gatherStart = 0;
  private gatherEnd = 0;

  private constructor(private readonly fh: FileHandle, readonly name: string) {}

  /**
   * Creates the spool in `dir` (default: the system's temporary directory).
   * @param source names the tar, for messages about the spool.
   * @throws StoreError when the file cannot be created.
   */
  static async create(dir: string | undefined, source: string): Promise<SpoolFile> {
    const path = join(dir ?? tmpdir(), `hexz-build-spool-${process.pid}-${randomBytes(6).toString('hex')}`);
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    } catch (err) {
      throw wrapIoError(err, path, 'create spool file');
    }
    try {
      await unlink(path);
    } catch (err) {
      await fh.close();
      throw wrapIoError(err, path, 'create spool file');
    }
    return new SpoolFile(fh, `${source} (spooled to ${path})`);
  }

  /**
   * Starts the next file, of `size` bytes. Write it completely (and {@link SpoolWriter.finish}
   * it) before starting another.
   */
  writer(size: number): SpoolWriter {
    return new SpoolWriter(this, Math.ceil(this.end / DATA_BLOCK) * DATA_BLOCK, size);
  }

  /** @internal The spool now holds bytes up to `end` (a finished file's region). */
  claim(end: number): void {
    this.end = Math.max(this.end, end);
  }

  /** @internal A file of `size` bytes whose stored `parts` lie back to back from `base` (read after {@link seal}). */
  content(base: number, size: number, parts: readonly ByteRange[]): FileContent {
    return new TarFileContent(this.fh, this.name, base, size, parts);
  }

  /**
   * @internal Writes `pieces` back to back at byte `position` of the spool. Consecutive writes
   * (the next file's region starts at most one block after the previous write ended) are
   * gathered, the gap written as zeros, into one write of up to {@link WRITE_BATCH}: a tar of
   * 50,000 tiny files is then a few dozen writes, not 50,000. A write is started, not awaited:
   * this waits only while {@link MAX_WRITES} are in flight. The pieces must not change until
   * {@link seal}.
   * @throws StoreError when an earlier write failed.
   */
  async writeAt(position: number, pieces: Uint8Array[]): Promise<void> {
    this.throwIfFailed();
    const gap = position - this.gatherEnd;
    if (this.gathered.length > 0 && (gap < 0 || gap >= DATA_BLOCK)) await this.issueGathered();
    if (this.gathered.length === 0) {
      this.gatherStart = position;
      this.gatherEnd = position;
    } else if (gap > 0) {
      this.gathered.push(ZEROS.subarray(0, gap));
      this.gatherEnd += gap;
    }
    for (const p of pieces) {
      this.gathered.push(p);
      this.gatherEnd += p.length;
    }
    if (this.gatherEnd - this.gatherStart >= WRITE_BATCH) await this.issueGathered();
  }

  /** Starts the write of what {@link writeAt} gathered; waits while {@link MAX_WRITES} are in flight. */
  private async issueGathered(): Promise<void> {
    if (this.gathered.length === 0) return;
    const pieces = this.gathered;
    const position = this.gatherStart;
    const length = this.gatherEnd - this.gatherStart;
    this.gathered = [];
    const write: Promise<void> = this.fh.writev(pieces, position).then(
      ({ bytesWritten }) => {
        if (bytesWritten !== length) throw new StoreError(`${this.name}: short write (${bytesWritten} of ${length} bytes)`, { archive: this.name, stage: 'write spool file' });
      },
    ).catch((err) => {
      this.failure ??= wrapIoError(err, this.name, 'write spool file');
    }).finally(() => this.writes.delete(write));
    this.writes.add(write);
    if (this.writes.size >= MAX_WRITES) await Promise.race(this.writes);
    this.throwIfFailed();
  }

  /**
   * Starts what is gathered and waits for every write in flight: the files' contents are read
   * only after this (the spool holds exactly their stored bytes, so nothing needs extending).
   * @throws StoreError when a write failed.
   */
  async seal(): Promise<void> {
    await this.issueGathered();
    await Promise.all(this.writes);
    this.throwIfFailed();
  }

  /** Closes (and so deletes) the spool, once the writes in flight are done. */
  async close(): Promise<void> {
    await this.issueGathered().catch(() => {});
    await Promise.all(this.writes);
    await this.fh.close();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * Writes one file into the spool: its stored bytes come in ascending order of offset, with
 * gaps for what the tar does not store (the holes of a sparse entry), and are appended to the
 * spool as they come, in batches, as parts (contiguous bytes make one part). An aligned
 * 4096-byte block that is all zeros is not stored: it becomes a hole of the file, as its
 * blocks would in the directory the tar was made from. A block that comes in pieces is held
 * until it is complete (then judged whole) or interrupted by a gap (then its bytes are stored
 * as they came: a one-byte sparse part costs one byte, never a block).
 */
export class SpoolWriter {
  /** The stored parts so far: file offset and length, in order (they lie back to back from `base`). */
  private readonly parts: ByteRange[] = [];
  private batch: Uint8Array[] = [];
  private batchLength = 0;
  /** Where small pieces are copied together (see {@link store}). */
  private small: Uint8Array | undefined;
  private smallFill = 0;
  /**
   * The block being assembled from pieces: its number, and the file bytes [stageStart, stageEnd)
   * it holds. Made on first use: most files (whole blocks, or one piece) never need it, and a
   * tar of 50,000 tiny files spent a fifth of its scan collecting 200 MB of unused stages.
   */
  private stage: Uint8Array | undefined;
  private stageBlock = -1;
  private stageStart = 0;
  private stageEnd = 0;
  /** Bytes taken so far: where the next ones go, from `base`. */
  private stored = 0;
  /** Bytes from `base` already handed to the spool's writes. */
  private flushed = 0;
  private written = 0;

  constructor(private readonly spool: SpoolFile, private readonly base: number, readonly size: number) {}

  /**
   * Writes `bytes` at byte `offset` of the file: at or after the end of the previous write,
   * and inside the file's size. `bytes` is held until written: it must not change.
   * @throws RangeError for a write out of order or past the size; StoreError when writing fails.
   */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset < this.written || offset + bytes.length > this.size) throw new RangeError(`spool write [${offset}, +${bytes.length}) out of order or past ${this.size}`);
    this.written = offset + bytes.length;
    for (let i = 0; i < bytes.length; ) {
      const pos = offset + i;
      const block = Math.floor(pos / DATA_BLOCK);
      const blockStart = block * DATA_BLOCK;
      const blockEnd = Math.min(this.size, blockStart + DATA_BLOCK);
      const take = Math.min(bytes.length - i, blockEnd - pos);
      const piece = bytes.subarray(i, i + take);
      i += take;
      if (pos === blockStart && pos + take === blockEnd) {
        // A whole block in one piece.
        await this.flushStage();
        if (!isZero(piece)) await this.store(pos, piece);
        continue;
      }
      if (this.stageBlock !== block || this.stageEnd !== pos) await this.flushStage();
      if (this.stageBlock < 0) {
        this.stageBlock = block;
        this.stageStart = pos;
      }
      (this.stage ??= new Uint8Array(DATA_BLOCK)).set(piece, pos - blockStart);
      this.stageEnd = pos + take;
      if (this.stageEnd === blockEnd) await this.flushStage();
    }
  }

  /** Writes what is still buffered and returns the file's content (read once the spool is sealed). */
  async finish(): Promise<FileContent> {
    await this.flushStage();
    await this.flushBatch();
    this.spool.claim(this.base + this.stored);
    return this.spool.content(this.base, this.size, this.parts);
  }

  /** Stores what the stage holds (unless all zero) and empties it. */
  private async flushStage(): Promise<void> {
    if (this.stageBlock < 0 || !this.stage) return;
    const from = this.stageStart - this.stageBlock * DATA_BLOCK;
    const held = this.stage.subarray(from, from + this.stageEnd - this.stageStart);
    const start = this.stageStart;
    this.stageBlock = -1;
    if (!isZero(held)) await this.store(start, Uint8Array.prototype.slice.call(held));
    held.fill(0);
  }

  /** Appends `bytes` (file bytes at `offset`) to the spool, extending the last part when contiguous. */
  private async store(offset: number, bytes: Uint8Array): Promise<void> {
    const last = this.parts[this.parts.length - 1];
    if (last && last.offset + last.length === offset) last.length += bytes.length;
    else this.parts.push({ offset, length: bytes.length });
    if (bytes.length < SMALL_PIECE) {
      // Small pieces (a sparse map of one-byte parts) are copied together: a write of 10^6
      // one-byte buffers would be 10^6 I/O vectors.
      if (!this.small || this.smallFill + bytes.length > this.small.length) {
        this.endSmall();
        // No larger than what the file can still hold: a tar of 50,000 one-byte files allocates 50,000 bytes here.
        this.small = new Uint8Array(Math.min(SMALL_BUFFER, this.size - offset));
      }
      this.small.set(bytes, this.smallFill);
      this.smallFill += bytes.length;
    } else {
      this.endSmall();
      this.batch.push(bytes);
    }
    this.batchLength += bytes.length;
    this.stored += bytes.length;
    if (this.batchLength >= WRITE_BATCH) await this.flushBatch();
  }

  /** Moves the small pieces gathered so far into the batch, in their place. */
  private endSmall(): void {
    if (this.small && this.smallFill > 0) this.batch.push(this.small.subarray(0, this.smallFill));
    this.small = undefined;
    this.smallFill = 0;
  }

  private async flushBatch(): Promise<void> {
    this.endSmall();
    if (this.batchLength === 0) return;
    const pieces = this.batch;
    const position = this.base + this.flushed;
    this.flushed += this.batchLength;
    this.batch = [];
    this.batchLength = 0;
    await this.spool.writeAt(position, pieces);
  }
}

/** True when every byte of `bytes` (at most one block) is zero. */
function isZero(bytes: Uint8Array): boolean {
  return Buffer.compare(bytes, ZEROS.subarray(0, bytes.length)) === 0;
}
