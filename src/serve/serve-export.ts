import type { StreamExtent } from '../archive/stream-view.js';

/**
 * One thing a server exports: a stream of an archive seen as a block device. The NBD and HTTP
 * servers read only through this, so an overlay (writes on top of an archive) can stand in.
 */
export interface ServeExport {
  /** Export name: `disk`/`memory` with one archive, `NAME/disk` with several (NBD name, HTTP path). */
  readonly name: string;
  /** Human-readable description (NBD_INFO_DESCRIPTION): the archive and stream. */
  readonly description: string;
  /** Size in bytes. */
  readonly size: number;
  /** The archive's block size in bytes: the preferred I/O size a server advertises. */
  readonly blockSize: number;
  /** The archive id, hex. */
  readonly archiveId: string;
  /** Strong validator of the exported bytes: hex of the archive identity (§15.2) and the stream. */
  readonly etag: string;
  /** When the archive was created (HTTP Last-Modified). */
  readonly modified: Date;
  /**
   * Reads `length` bytes at `offset` (verified). The result belongs to the export: callers send
   * it and never write into it (all-zero reads may share one buffer).
   * @throws UsageError when the range is outside the export; CorruptArchiveError, StoreError as reads do.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * {@link read} and the range's zero and data runs together, from one index lookup. Optional:
   * servers fall back to `read` and `extents`.
   * @throws as {@link read}.
   */
  readWithExtents?(offset: number, length: number, signal?: AbortSignal): Promise<{ data: Uint8Array; extents: StreamExtent[] }>;
  /**
   * Gives back the memory of a buffer {@link read} or {@link readWithExtents} returned (or of a
   * view of it), once it is sent and nothing uses it any more: a later read overwrites it.
   * Optional, and optional to call (what is never given back is garbage collected); memory the
   * export did not lend is ignored. Give a result back once: views of it may be given back
   * together (the first frees it, the rest are ignored), but a later give-back could free the
   * same memory lent to another read since.
   */
  recycle?(data: Uint8Array): void;
  /**
   * Zero and data runs covering the start of [offset, offset + length), at most `maxExtents`.
   * @throws UsageError when the range is outside the export.
   */
  extents(offset: number, length: number, maxExtents: number, signal?: AbortSignal): Promise<StreamExtent[]>;
  /** Present only when the export is writable (served with an overlay); the archive itself never is. */
  readonly writer?: ExportWriter;
}

/** Writes to an export (into its overlay, never the archive). Offsets and lengths in bytes. */
export interface ExportWriter {
  /** Writes `data` at `offset`; not durable until {@link flush}. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes [offset, offset + length) read as zeros. */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Discards [offset, offset + length): it may then read as zeros. */
  trim(offset: number, length: number): Promise<void>;
  /** Returns once every completed write is durable. */
  flush(): Promise<void>;
}
