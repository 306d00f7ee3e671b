import { constants } from 'node:fs';
import { access, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UsageError, wrapIoError } from '../errors.js';
import { advanceBuffers } from '../util/advance-buffers.js';
import { liveTempFiles } from './live-temp-files.js';
import { removeStaleTemps } from './stale-temps.js';
import { syncDir } from './sync-dir.js';
import { tempPathFor } from './temp-path.js';
import type { ByteSink } from './types.js';

/** Unsynced bytes after which a background fdatasync starts. */
const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;

/**
 * An output file written under a temporary name beside its destination and renamed into place
 * only by {@link commit}, after an fsync. Until then nothing exists at the destination; on
 * {@link abort} (or any error) the temporary file is removed. A process killed outright
 * (`kill -9`) cannot remove it; the next {@link create} for the same destination does
 * ({@link removeStaleTemps}).
 */
export class AtomicFile implements ByteSink {
  private closed = false;
  private unsynced = 0;
  private syncing: Promise<void> | null = null;

  private constructor(readonly path: string, readonly tempPath: string, readonly fh: FileHandle) {}

  /** Side files go beside the temporary file (same directory, same stale-file cleanup). */
  get scratchPath(): string {
    return this.tempPath;
  }

  /**
   * Creates the temporary file for `path`, first removing temporary files of `path` that dead
   * writers left behind.
   * @throws UsageError when `path` exists and `force` is not set.
   * @throws StoreError when the directory is not writable.
   */
  static async create(path: string, options: { force?: boolean } = {}): Promise<AtomicFile> {
    if (!options.force && (await exists(path))) {
      throw new UsageError(`${path}: output exists (use --force to overwrite)`, { archive: path });
    }
    await removeStaleTemps(path);
    const tempPath = tempPathFor(path);
    try {
      const fh = await open(tempPath, 'wx', 0o644);
      // Registered so a forced exit (the CLI's signal grace period) can still remove it.
      liveTempFiles.add(tempPath);
      return new AtomicFile(path, tempPath, fh);
    } catch (err) {
      throw wrapIoError(err, path, 'create');
    }
  }

  /**
   * Writes all of `bytes` at absolute `position`.
   * @throws StoreError on I/O failure (disk full, ...).
   */
  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw wrapIoError(err, this.path, 'write');
    }
    this.wrote(bytes.length);
  }

  /**
   * Writes `buffers` back to back starting at `position` with as few syscalls as possible.
   * @throws StoreError on I/O failure.
   */
  async writevAt(buffers: Uint8Array[], position: number): Promise<void> {
    try {
      let pos = position;
      let rest = buffers;
      while (rest.length) {
        const { bytesWritten } = await this.fh.writev(rest, pos);
        pos += bytesWritten;
        rest = advanceBuffers(rest, bytesWritten); // a short write continues with the remainder
      }
      this.wrote(pos - position);
    } catch (err) {
      throw wrapIoError(err, this.path, 'write');
    }
  }

  /** Sets the file's length (used to leave trailing holes in sparse output). */
  async truncate(length: number): Promise<void> {
    try {
      await this.fh.truncate(length);
    } catch (err) {
      throw wrapIoError(err, this.path, 'truncate');
    }
  }

  /**
   * Syncs, closes and renames the temporary file to the destination.
   * @throws StoreError when syncing or renaming fails (the temp file is then removed).
   */
  async commit(): Promise<void> {
    try {
      await this.syncing;
      await this.fh.sync();
      await this.fh.close();
      this.closed = true;
      await rename(this.tempPath, this.path);
      liveTempFiles.delete(this.tempPath);
      await syncDir(dirname(this.path));
    } catch (err) {
      await this.abort();
      throw wrapIoError(err, this.path, 'commit');
    }
  }

  /**
   * Starts a background fdatasync once enough unsynced bytes have accumulated, so writeback
   * overlaps the work that produces the data and the final fsync in {@link commit} is short.
   * A failure here is not lost: the final fsync reports it.
   */
  private wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.unsynced < BACKGROUND_SYNC_BYTES || this.syncing) return;
    this.unsynced = 0;
    this.syncing = this.fh.datasync().catch(() => {}).finally(() => (this.syncing = null));
  }

  /** Closes and removes the temporary file; never throws. */
  async abort(): Promise<void> {
    await this.syncing;
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => {});
    }
    await unlink(this.tempPath).catch(() => {});
    liveTempFiles.delete(this.tempPath);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}
