import { copyBytes } from '../util/copy-bytes.js';
import type { ByteSource, ReadOptions } from './types.js';

/**
 * A {@link ByteSource} that passes everything to the source it wraps; wrappers (counting,
 * pinning, caching, coalescing, retry, limits) extend it and override only what they change.
 */
export class SourceWrapper implements ByteSource {
  constructor(protected readonly inner: ByteSource) {
    // Offered only over a source that reads into a caller's buffer itself: a reader takes its
    // presence to mean that reading into its own (reused, shared) memory adds no copy, which a
    // read and a copy (S3, memory) would.
    if (!inner.readInto) Object.defineProperty(this, 'readInto', { value: undefined });
  }

  get name(): string {
    return this.inner.name;
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.inner.read(offset, length, options);
  }

  /**
   * Reads into `target` through this wrapper's own {@link read} and copies (right for every
   * wrapper, whatever its read does). Wrappers that change nothing about the bytes override it to
   * pass the caller's buffer down ({@link readIntoInner}), so a transport that reads into a
   * caller's buffer fills it directly (see ByteSource.readInto). Undefined on a wrapper whose
   * source has no readInto (see the constructor).
   */
  async readInto(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    return copyInto(await this.read(offset, target.length, options), target);
  }

  /** `inner.readInto`: a wrapper offers readInto only when its source has one (see the constructor). */
  protected readIntoInner(offset: number, target: Uint8Array, options?: ReadOptions): Promise<number> {
    return this.inner.readInto!(offset, target, options);
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

/** Copies `bytes` to the start of `target` (at most its length) and returns the count copied. */
export function copyInto(bytes: Uint8Array, target: Uint8Array): number {
  const n = Math.min(bytes.length, target.length);
  copyBytes(n === bytes.length ? bytes : bytes.subarray(0, n), target);
  return n;
}
