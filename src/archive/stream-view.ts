import type { StreamName } from '../format/constants.js';
import { EntryKind } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { UsageError } from '../errors.js';
import type { Archive } from './archive.js';

/** A run of a stream that is either all zero (stored as ZERO entries, §5) or data. */
export interface StreamExtent {
  /** Logical byte offset within the stream. */
  offset: number;
  /** Length in bytes (> 0). */
  length: number;
  /** True when every byte of the run is zero and nothing is stored for it (a hole). */
  zero: boolean;
}

/** Options of {@link StreamView.extents}. */
export interface ExtentOptions {
  /**
   * Stop after this many extents (the last one is complete): block-status answers may cover
   * less than asked, and a whole multi-TiB stream would otherwise be walked in one call.
   */
  maxExtents?: number;
  signal?: AbortSignal;
}

/**
 * One stream of an archive seen as a block device: its size, reads at any offset, and which
 * ranges are holes. Each view keeps its own sequential-read detection, so two clients reading
 * the same stream (two NBD connections, a FUSE reader and a scrubber) do not defeat each
 * other's read-ahead. Made by `Archive.stream(name)`; valid until the archive is closed.
 */
export class StreamView {
  private readonly cursor = { lastEnd: -1 };

  /** @internal Use `archive.stream(name)`. */
  constructor(private readonly archive: Archive, readonly name: StreamName) {}

  /** Logical size of the stream in bytes. */
  get size(): number {
    return this.archive.size(this.name);
  }

  /**
   * Reads `length` bytes at logical `offset` (verified like every read).
   * @throws UsageError when the range is not inside the stream.
   * @throws CorruptArchiveError when an index node or block fails its checks.
   */
  read(offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return this.archive.readWithCursor(this.name, offset, length, this.cursor, options.signal);
  }

  /**
   * {@link read} that also gives the range's zero and data runs (as {@link extents} would),
   * taken from the index entries the read walked: one index lookup instead of two (an NBD
   * structured reply of a small read needs both).
   * @throws as {@link read}.
   */
  async readWithExtents(offset: number, length: number, options: { signal?: AbortSignal } = {}): Promise<{ data: Uint8Array; extents: StreamExtent[] }> {
    const extents: StreamExtent[] = [];
    const data = await this.archive.readWithCursor(this.name, offset, length, this.cursor, options.signal, extents);
    return { data, extents };
  }

  /**
   * The zero and data runs covering [offset, offset + length), clipped to that range, adjacent
   * runs of the same kind merged. Reads index leaves only, never blocks. A thin archive's
   * parent-referenced blocks are data; its own ZERO entries are holes.
   * @throws UsageError when the range is not inside the stream.
   * @throws CorruptArchiveError when the index is damaged.
   */
  async extents(offset: number, length: number, options: ExtentOptions = {}): Promise<StreamExtent[]> {
    const size = this.size;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new UsageError(`extents of ${length} bytes at offset ${offset} are outside stream ${this.name} (${size} bytes)`, { archive: this.archive.name, stream: this.name, offset });
    }
    const end = offset + length;
    const max = options.maxExtents ?? Infinity;
    const out: StreamExtent[] = [];
    if (length === 0) return out;
    for await (const leaf of this.archive.entryLeaves(this.name, offset, end, options.signal)) {
      if (!appendExtents(leaf, offset, end, out, max)) return out;
    }
    return out;
  }
}

/**
 * Appends the zero and data runs of `entries` (in order, tiling), clipped to [from, to), to
 * `out`, merging with its last run when adjacent and of the same kind.
 * @returns false when a new run was due but `out` already held `max`.
 */
export function appendExtents(entries: readonly IndexEntry[], from: number, to: number, out: StreamExtent[], max = Infinity): boolean {
  for (const e of entries) {
    const start = Math.max(from, e.offset);
    const end = Math.min(to, e.offset + e.length);
    if (end <= start) continue;
    const zero = e.kind === EntryKind.ZERO;
    const last = out[out.length - 1];
    if (last && last.zero === zero && last.offset + last.length === start) last.length += end - start;
    else {
      if (out.length >= max) return false;
      out.push({ offset: start, length: end - start, zero });
    }
  }
  return true;
}
