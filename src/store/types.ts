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
  /**
   * Where the bytes live (a path or URL), when they live somewhere a thin archive's parents can
   * be looked up relative to; undefined for memory and wrapped sources.
   */
  readonly location?: string;
  /**
   * True when a small read costs about a copy from memory or the page cache (a local file), not
   * a round trip: readers then fetch index nodes as reads need them instead of preloading the
   * index at open. Undefined (the default, and what wrappers report) means reads are worth saving.
   */
  readonly local?: boolean;
  /** Total size in bytes. */
  size(): Promise<number>;
  /**
   * Reads exactly `length` bytes at `offset`, or fewer only at the end of the source.
   * @throws StoreError when the backend fails.
   */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /**
   * Reads `target.length` bytes at `offset` into `target`, with no copy of its own beyond
   * landing the bytes there (a local file's pread, an HTTP body as it arrives; a wrapper offers
   * it over such a source only), so a reader can reuse its buffers (shared memory a worker reads
   * in place) instead of getting a new one per read. Once the promise settles nothing writes
   * `target` any more. Optional.
   * @returns the bytes read: fewer only at the end of the source.
   * @throws StoreError when the backend fails.
   */
  readInto?(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number>;
  /**
   * {@link readInto}, synchronously. Offered only where a small read is a page-cache copy (a
   * local file), so that a reader whose index and block cache are warm answers a small read
   * without waiting a turn of the event loop; a reader calls it for small reads only (index
   * nodes, single blocks). Optional.
   * @returns the bytes read: fewer only at the end of the source.
   * @throws StoreError when the backend fails.
   */
  readIntoSync?(offset: number, target: Uint8Array): number;
  /** Releases the backend's resources. Optional. */
  close?(): Promise<void>;
}

/**
 * Where a writer puts a file written front to back, except for bytes it patches at the start
 * last (an archive's header): nothing is visible at `path` until {@link commit}; {@link abort}
 * leaves nothing. A local file ({@link AtomicFile}) and an S3 multipart upload implement it.
 */
export interface ByteSink {
  /** The destination (a path or URL), for messages. */
  readonly path: string;
  /** A local path beside which the writer may keep side files (a spool), removed by the writer. */
  readonly scratchPath: string;
  /** Writes `bytes` at `position`. Sinks other than files may require sequential positions. */
  writeAt(bytes: Uint8Array, position: number): Promise<void>;
  /** Makes the file visible at `path`, complete. */
  commit(): Promise<void>;
  /** Removes everything written; never throws. */
  abort(): Promise<void>;
}
