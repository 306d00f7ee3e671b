/**
 * The block-device view of an input disk image (raw or qcow2): a virtual size, a map telling
 * which ranges are known to read as zeros without being read, and range reads.
 */
import type { ReadOptions } from '../store/types.js';

/** Image formats hexz reads. */
export type ImageFormat = 'raw' | 'qcow2';

/** A run of the virtual disk: `zero` reads as zeros without touching data; `data` must be read. */
export interface ImageExtent {
  offset: number;
  length: number;
  kind: 'zero' | 'data';
}

/** A read-only virtual disk. Offsets and lengths are in bytes of the virtual disk. */
export interface DiskImage {
  /** Path of the image file (for messages). */
  readonly name: string;
  readonly format: ImageFormat;
  /** Virtual size in bytes. */
  readonly size: number;
  /**
   * The extents covering `[offset, offset + length)` in order, adjacent extents of the same kind
   * merged. A `data` extent may still hold zeros; a `zero` extent never holds anything else.
   */
  extents(offset: number, length: number): Promise<ImageExtent[]>;
  /**
   * Reads `length` bytes at `offset` into a new buffer that owns its ArrayBuffer.
   * @throws UsageError when the range lies outside the image.
   * @throws CorruptImageError when the image's metadata or data is damaged.
   * @throws StoreError when the file cannot be read.
   */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array>;
  /** Closes the image and its backing chain. */
  close(): Promise<void>;
}

/** Options of {@link openImage}. */
export interface OpenImageOptions {
  /** Format of the image; detected from its first bytes when omitted. */
  format?: ImageFormat;
}
