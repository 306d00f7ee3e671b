/**
 * What the partition-table and filesystem readers read from: a block device seen as random
 * reads. `Archive.stream('disk')` (a StreamView) is one; a partition of another device
 * ({@link BlockDevice} made by `subDevice`) is another; tests use an in-memory one. The readers
 * are pure code over this interface: no Node built-ins, no `Buffer`.
 */

/** Random-access, read-only bytes of a disk or a partition. */
export interface BlockDevice {
  /** Size in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at byte `offset` (the range must lie inside the device).
   * @throws UsageError when the range is outside the device; whatever the storage below throws.
   */
  read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A warning a reader met and went on from (a filesystem not cleanly unmounted, a damaged primary GPT). */
export type FsWarning = (message: string) => void;
