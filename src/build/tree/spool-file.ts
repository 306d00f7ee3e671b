import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError, wrapIoError } from '../../errors.js';
import { DATA_BLOCK, DataRangeList } from './data-ranges.js';
import { readAt } from './read-at.js';
import type { ByteRange, FileContent } from './types.js';

/** Bytes gathered before one write to the spool. */
const WRITE_BATCH = 1 << 20;
/** Writes in flight at once (so at most this many batches held in memory). */
const MAX_WRITES = 8;
const ZEROS = Buffer.alloc(DATA_BLOCK);

/**
 * One temporary file holding the contents of the files of a tar that cannot be read in place
 * (compressed, or from a pipe). It is unlinked as soon as it is open, so nothing is left
 * behind whatever happens to the process. Each file gets a region starting on a 4096-byte
 * boundary holding only its data blocks, back to back: its all-zero 4096-byte blocks are never
 * written and become the file's holes. The spool is therefore as large as the data, whatever
 * the files' sizes (two 10-TiB sparse files of one byte each take two blocks, where a region
 * per file size would pass the temporary filesystem's largest file).
 */
export class SpoolFile {
  private end = 0;
  private sealed = 0;
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
   * Waits for the writes in flight and extends the spool over trailing holes, so that reads up
   * to its end find bytes. Call before reading.
   * @throws StoreError when a write failed.
   */
  async seal(): Promise<void> {
    await this.issueGathered();
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
    await this.issueGathered().catch(() => {});
    await Promise.all(this.writes);
    await this.fh.close();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

/**
 * Writes one file into the spool: its bytes come in ascending order of offset, with gaps left
 * for what is zero (the holes of a sparse tar entry). Its non-zero blocks are stored back to
 * back from `base` in the order of their offsets, so the file's data ranges map onto the spool
 * in order; writes are batched.
 */
export class SpoolWriter {
  private readonly ranges: DataRangeList;
  /** The block being assembled from pieces that do not cover it whole. */
  private readonly stage = Buffer.alloc(DATA_BLOCK);
  private stageBlock = -1;
  private batch: Uint8Array[] = [];
  private batchLength = 0;
  /** Data bytes taken so far: where the next block goes, from `base`. */
  private stored = 0;
  /** Spool bytes from `base` already handed to the spool's writes. */
  private flushed = 0;
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
    spool.claim(base + this.stored);
    const dataRanges = this.ranges.result();
    if (!dataRanges) return { read: (offset, length) => spool.read(base + offset, length) };
    // Where each data range starts in the spool: after the ranges before it.
    const starts: number[] = [];
    let at = base;
    for (const r of dataRanges) {
      starts.push(at);
      at += r.length;
    }
    return { dataRanges, read: (offset, length) => readMapped(spool, dataRanges, starts, offset, length) };
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
    this.batch.push(bytes);
    this.batchLength += bytes.length;
    this.stored += bytes.length;
    if (this.batchLength >= WRITE_BATCH) await this.flushBatch();
  }

  private async flushBatch(): Promise<void> {
    if (this.batchLength === 0) return;
    const pieces = this.batch;
    const position = this.base + this.flushed;
    this.flushed += this.batchLength;
    this.batch = [];
    this.batchLength = 0;
    await this.spool.writeAt(position, pieces);
  }
}

/**
 * Bytes [offset, offset + length) of a file whose data ranges are stored back to back in the
 * spool from `starts[i]`: the parts inside ranges read from the spool, the rest zeros.
 */
async function readMapped(spool: SpoolFile, ranges: readonly ByteRange[], starts: number[], offset: number, length: number): Promise<Uint8Array> {
  const end = offset + length;
  // The first range ending after `offset` (ranges are sorted and disjoint).
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid].offset + ranges[mid].length <= offset) lo = mid + 1;
    else hi = mid;
  }
  const first = ranges[lo];
  // The common case: the read lies inside one range (the layout reads data ranges).
  if (first && first.offset <= offset && end <= first.offset + first.length) return spool.read(starts[lo] + offset - first.offset, length);
  const out = new Uint8Array(length);
  for (let i = lo; i < ranges.length && ranges[i].offset < end; i++) {
    const r = ranges[i];
    const from = Math.max(offset, r.offset);
    const to = Math.min(end, r.offset + r.length);
    if (to > from) out.set(await spool.read(starts[i] + from - r.offset, to - from), from - offset);
  }
  return out;
}
