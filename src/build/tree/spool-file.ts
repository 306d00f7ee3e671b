import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, wrapIoError } from '../../errors.js';
import { DATA_BLOCK, DataRangeList } from './data-ranges.js';
import { readAt } from './read-at.js';
import type { FileContent } from './types.js';

/** Bytes gathered before one write to the spool. */
const WRITE_BATCH = 1 << 20;
/** Writes in flight at once (so at most this many batches held in memory). */
const MAX_WRITES = 8;
const ZEROS = Buffer.alloc(DATA_BLOCK);
/** Zeros written for holes shorter than this inside a write batch. */
const GAP_FILL = new Uint8Array(64 << 10);

/**
 * One temporary file holding the contents of the files of a tar that cannot be read in place
 * (compressed, or from a pipe). It is unlinked as soon as it is open, so nothing is left
 * behind whatever happens to the process. Each file gets a region starting on a 4096-byte
 * boundary; its all-zero 4096-byte blocks are never written, so the spool stays sparse and
 * they become the file's holes.
 */
export class SpoolFile {
  private end = 0;
  private sealed = 0;
  private readonly writes = new Set<Promise<void>>();
  private failure: unknown;

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
    const base = Math.ceil(this.end / DATA_BLOCK) * DATA_BLOCK;
    this.end = base + size;
    return new SpoolWriter(this, base, size);
  }

  /**
   * @internal Writes `pieces` back to back at byte `position` of the spool. The write is
   * started, not awaited (a tar of small files would otherwise wait for one write per file):
   * this waits only while {@link MAX_WRITES} are in flight. The pieces must not change until
   * {@link seal}.
   * @throws StoreError when an earlier write failed.
   */
  async writeAt(position: number, pieces: Uint8Array[]): Promise<void> {
    this.throwIfFailed();
    const length = pieces.reduce((n, p) => n + p.length, 0);
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
   * Waits for the writes in flight and extends the spool over trailing holes, so that reads up
   * to its end find bytes. Call before reading.
   * @throws StoreError when a write failed.
   */
  async seal(): Promise<void> {
    await Promise.all(this.writes);
    this.throwIfFailed();
    if (this.end === this.sealed) return;
    try {
      await this.fh.truncate(this.end);
    } catch (err) {
      throw wrapIoError(err, this.name, 'write spool file');
    }
    this.sealed = this.end;
  }

  /**
   * Reads `length` bytes at `position` of the spool.
   * @throws StoreError when the read fails.
   */
  read(position: number, length: number): Promise<Uint8Array> {
    return readAt(this.fh, position, length, this.name);
  }

  /** Closes (and so deletes) the spool, once the writes in flight are done. */
  async close(): Promise<void> {
    await Promise.all(this.writes);
    await this.fh.close();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * Writes one file into the spool: its bytes come in ascending order of offset, with gaps left
 * for what is zero (the holes of a sparse tar entry). Writes are batched; all-zero blocks are
 * dropped.
 */
export class SpoolWriter {
  private readonly ranges: DataRangeList;
  /** The block being assembled from pieces that do not cover it whole. */
  private readonly stage = Buffer.alloc(DATA_BLOCK);
  private stageBlock = -1;
  private batch: Uint8Array[] = [];
  private batchStart = 0;
  private batchLength = 0;
  private written = 0;

  constructor(private readonly spool: SpoolFile, private readonly base: number, readonly size: number) {
    this.ranges = new DataRangeList(size);
  }

  /**
   * Writes `bytes` at byte `offset` of the file: at or after the end of the previous write,
   * and inside the file's size.
   * @throws RangeError for a write out of order or past the size; StoreError when writing fails.
   */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset < this.written || offset + bytes.length > this.size) throw new RangeError(`spool write [${offset}, +${bytes.length}) out of order or past ${this.size}`);
    this.written = offset + bytes.length;
    for (let i = 0; i < bytes.length; ) {
      const pos = offset + i;
      const block = Math.floor(pos / DATA_BLOCK);
      const inBlock = pos - block * DATA_BLOCK;
      const take = Math.min(bytes.length - i, DATA_BLOCK - inBlock);
      if (take === DATA_BLOCK) {
        await this.flushStage();
        await this.put(pos, bytes.subarray(i, i + take));
      } else {
        if (this.stageBlock !== block) {
          await this.flushStage();
          this.stageBlock = block;
        }
        this.stage.set(bytes.subarray(i, i + take), inBlock);
        if (inBlock + take === DATA_BLOCK) await this.flushStage();
      }
      i += take;
    }
  }

  /**
   * Writes what is still buffered and returns the file's content: its data ranges are the
   * non-zero 4096-byte blocks (undefined when that is all of the file).
   */
  async finish(): Promise<FileContent> {
    await this.flushStage();
    await this.flushBatch();
    const { spool, base } = this;
    const dataRanges = this.ranges.result();
    const read = (offset: number, length: number) => spool.read(base + offset, length);
    return dataRanges ? { dataRanges, read } : { read };
  }

  private async flushStage(): Promise<void> {
    if (this.stageBlock < 0) return;
    const at = this.stageBlock * DATA_BLOCK;
    const bytes = Buffer.from(this.stage.subarray(0, Math.min(DATA_BLOCK, this.size - at)));
    this.stage.fill(0);
    this.stageBlock = -1;
    await this.put(at, bytes);
  }

  /** Takes one block (whole, or the file's last), dropping it when all zero. */
  private async put(at: number, bytes: Uint8Array): Promise<void> {
    if (Buffer.compare(bytes, ZEROS.subarray(0, bytes.length)) === 0) return;
    this.ranges.add(at, at + bytes.length);
    const gap = at - (this.batchStart + this.batchLength);
    // A short hole inside a batch is written as zeros (the spool is scratch; the data ranges
    // still leave it out): a sparse entry of many small parts is then a few writes, not one each.
    if (this.batchLength > 0 && gap > 0 && gap <= GAP_FILL.length) {
      this.batch.push(GAP_FILL.subarray(0, gap));
      this.batchLength += gap;
    }
    if (this.batchLength > 0 && this.batchStart + this.batchLength !== at) await this.flushBatch();
    if (this.batchLength === 0) this.batchStart = at;
    this.batch.push(bytes);
    this.batchLength += bytes.length;
    if (this.batchLength >= WRITE_BATCH) await this.flushBatch();
  }

  private async flushBatch(): Promise<void> {
    if (this.batchLength === 0) return;
    const pieces = this.batch;
    this.batch = [];
    this.batchLength = 0;
    await this.spool.writeAt(this.base + this.batchStart, pieces);
  }
}
