import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { StoreError, wrapIoError } from '../../errors.js';

/** The file a cached handle must still be: the device and inode numbers seen when scanning. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

interface Slot {
  handle: Promise<FileHandle>;
  /** Calls of {@link FileHandleCache.use} running on this handle; it is never closed under them. */
  users: number;
  /** Dropped from the map while in use: close when the last user is done. */
  evicted: boolean;
}

/**
 * Open flags: never follow a symlink swapped in since the scan, never block on a FIFO swapped
 * in (O_NONBLOCK does not change reads of regular files).
 */
/** Flags every source file is opened with: never through a symlink, never waiting on a FIFO. */
export const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * A bounded, least-recently-used set of open read-only FileHandles, keyed by path. A build reads
 * a file in many requests (64 KiB at a time, perhaps twice), and a tree holds tens of thousands
 * of files: opening per request would cost an open and a close each, keeping every file open
 * would exhaust file descriptors. A handle in use is never closed; the cache may briefly hold
 * more than `limit` handles when all of them are.
 */
export class FileHandleCache {
  private readonly slots = new Map<string, Slot>();
  private readonly closing = new Set<Promise<void>>();
  private closed = false;

  /** @param limit most handles kept open while idle. */
  constructor(readonly limit = 64) {}

  /**
   * Runs `fn` with an open handle of `path` (bytes, so any file name works), opening it if it
   * is not cached. When `expect` is given, a newly opened file must be that inode.
   * @throws StoreError when the file cannot be opened (named by `name`), is not the file that
   *   was scanned, or the cache is closed; whatever `fn` throws.
   */
  async use<T>(path: Buffer, name: string, expect: FileIdentity | undefined, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError(`${name}: source tree already closed`, { archive: name, stage: 'read source file' });
    const key = path.toString('latin1');
    let slot = this.slots.get(key);
    if (slot) {
      this.slots.delete(key); // re-insert: Map order is the recency order
    } else {
      slot = { handle: openChecked(path, name, expect), users: 0, evicted: false };
    }
    this.slots.set(key, slot);
    slot.users++;
    this.evictIdle();
    try {
      return await fn(await slot.handle);
    } catch (err) {
      if (this.slots.get(key) === slot) {
        // A failed open (or a failed read) is not kept: the next use tries afresh.
        this.slots.delete(key);
        slot.evicted = true;
      }
      throw err;
    } finally {
      slot.users--;
      if (slot.evicted && slot.users === 0) this.release(slot);
    }
  }

  /** Closes every handle (waiting for reads in progress); later {@link use} calls throw. */
  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots.values()) {
      slot.evicted = true;
      if (slot.users === 0) this.release(slot);
    }
    this.slots.clear();
    while (this.closing.size > 0) await Promise.all(this.closing);
  }

  private evictIdle(): void {
    if (this.slots.size <= this.limit) return;
    for (const [key, slot] of this.slots) {
      if (this.slots.size <= this.limit) break;
      if (slot.users > 0) continue;
      this.slots.delete(key);
      slot.evicted = true;
      this.release(slot);
    }
  }

  private release(slot: Slot): void {
    const p = slot.handle.then((fh) => fh.close(), () => {}).catch(() => {});
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }
}

async function openChecked(path: Buffer, name: string, expect: FileIdentity | undefined): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw wrapIoError(err, name, 'open source file');
  }
  if (!expect) return fh;
  try {
    const st = await fh.stat({ bigint: true });
    if (st.ino === expect.ino && st.dev === expect.dev) return fh;
  } catch (err) {
    await fh.close();
    throw wrapIoError(err, name, 'open source file');
  }
  await fh.close();
  throw new StoreError(`${name}: changed while building: replaced by another file since it was scanned`, { archive: name, stage: 'open source file' });
}
