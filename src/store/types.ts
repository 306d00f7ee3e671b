/**
 * The storage interfaces every reader and writer goes through. Backends (file, memory, and
 * later HTTP and S3) implement them; caching, coalescing and retry are wrappers with the same
 * interface.
 */

/** Options for one range read. */
export interface ReadOptions {
  signal?: AbortSignal;
}

/** Random-access read-only bytes. */
export interface ByteSource {
  /** Human-readable name used in error messages (a path or URL). */
  readonly name: string;
  /** Total size in bytes. */
  size(): Promise<number>;
  /**
   * Reads exactly `length` bytes at `offset`, or fewer only at the end of the source.
   * @throws StoreError when the backend fails.
   */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /** Releases the backend's resources. Optional. */
  close?(): Promise<void>;
}
