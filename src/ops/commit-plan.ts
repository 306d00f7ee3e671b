/**
 * The plan of a commit (docs/FORMAT.md §15, "Overlay files"): which parts of a base stream stay
 * as they are and which are re-cut from the merged bytes. Pure: index entries and written ranges
 * in, plan items out; no block is read.
 */
import { EntryKind } from '../format/constants.js';
import type { IndexEntry } from '../format/entry.js';
import { CorruptArchiveError } from '../errors.js';

/** A clean non-zero entry of the base: referenced as it is (its stored bytes, its hash). */
export interface RefItem {
  kind: 'ref';
  entry: IndexEntry;
}

/** Clean zero bytes of the base (a ZERO entry, or the part of one outside every window). */
export interface ZeroItem {
  kind: 'zero';
  offset: number;
  length: number;
}

/**
 * A window to re-cut from the merged bytes: [offset, end) holds every written byte of the
 * ranges it covers, starts where a base block starts (or on the block-size grid inside a base
 * ZERO entry) and ends where one ends (or on the grid inside a ZERO entry). Bytes at and after
 * `dirtyEnd` are clean. With content-defined chunks the re-cut may run past `end`, until a cut
 * falls where the base has one (see commit-window.ts).
 */
export interface WindowItem {
  kind: 'window';
  offset: number;
  end: number;
  /** End of the last written range the window covers, in bytes. */
  dirtyEnd: number;
  /**
   * When the window ends inside (or at the end of) a base ZERO entry: where that entry starts.
   * A re-cut may stop anywhere in it past `dirtyEnd`, the rest being clean zeros.
   */
  tailZeroFrom?: number;
  /** The base entries overlapping [offset, end), in order. */
  entries: IndexEntry[];
}

/**
 * Consecutive clean non-zero entries of the base, in order (only with `groupRefs`): what a
 * {@link RefItem} is for each, in one item.
 */
export interface RefsItem {
  kind: 'refs';
  entries: IndexEntry[];
}

export type PlanItem = RefItem | ZeroItem | WindowItem | RefsItem;

/** Most entries in one {@link RefsItem}. */
const MAX_GROUP = 1024;

/** A written range of the stream, in bytes. */
export interface DirtyRange {
  offset: number;
  length: number;
}

/**
 * Merges written ranges (sorted by offset, as `Overlay.writtenExtents` gives them, data and zero
 * kinds alike) into disjoint ranges, touching ones joined.
 */
export function mergeDirty(ranges: Iterable<DirtyRange>): DirtyRange[] {
  const out: DirtyRange[] = [];
  for (const r of ranges) {
    if (r.length <= 0) continue;
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}

/**
 * Bytes of the `grid`-aligned blocks that the disjoint, ordered ranges `dirty` touch: what a
 * fixed-block commit re-cuts (about what a content-defined one does).
 */
export function touchedBytes(dirty: readonly DirtyRange[], grid: number): number {
  let total = 0;
  let covered = 0;
  for (const r of dirty) {
    const from = Math.max(covered, Math.floor(r.offset / grid) * grid);
    const to = Math.ceil((r.offset + r.length) / grid) * grid;
    if (to > from) total += to - from;
    covered = Math.max(covered, to);
  }
  return total;
}

/**
 * Walks the base stream's entries once, in order, beside the merged written ranges, and yields
 * items that tile [0, size) in order: clean entries (refs, zeros) and windows around the written
 * ranges. A window is widened to the base blocks it touches, so that each of them is re-cut
 * whole: a block's stored bytes cannot be referred to in part. Inside a ZERO entry (which may
 * be gigabytes long) a window is widened only to the block-size grid `grid`.
 * @param entries the base stream's entries in order, one at a time or a leaf at a time (Archive.entryLeaves).
 * @param name the archive's name, for errors.
 * @param options.groupRefs yield consecutive clean references as {@link RefsItem}s (up to 1024
 *   each) rather than one {@link RefItem} each: a large clean stream costs one item per group.
 * @throws CorruptArchiveError when the entries do not tile the stream.
 */
export async function* planCommit(
  entries: AsyncIterable<IndexEntry | readonly IndexEntry[]>, dirty: readonly DirtyRange[], size: number, grid: number, name = 'base', options: { groupRefs?: boolean } = {},
): AsyncGenerator<PlanItem> {
  const it = entries[Symbol.asyncIterator]();
  let head: IndexEntry | undefined;
  let expected = 0;
  /** Entries of the last leaf given (Archive.entryLeaves), taken one at a time without awaiting. */
  let leaf: readonly IndexEntry[] = [];
  let at = 0;
  const nextEntry = async (): Promise<IndexEntry | undefined> => {
    while (at >= leaf.length) {
      const r = await it.next();
      if (r.done) return undefined;
      if (!Array.isArray(r.value)) return r.value as IndexEntry;
      leaf = r.value;
      at = 0;
    }
    return leaf[at++];
  };
  const advance = async () => {
    head = at < leaf.length ? leaf[at++] : await nextEntry();
    if (head) {
      if (head.offset !== expected || head.length <= 0) throw new CorruptArchiveError(`index entries do not tile the stream at offset ${expected}`, { archive: name, offset: expected, stage: 'index' });
      expected = head.offset + head.length;
    } else if (expected !== size) {
      throw new CorruptArchiveError(`index entries end at ${expected}, the stream at ${size}`, { archive: name, offset: expected, stage: 'index' });
    }
  };
  const current = (): IndexEntry => {
    if (!head) throw new CorruptArchiveError(`index entries end before the stream does (${size} bytes)`, { archive: name, offset: expected, stage: 'index' });
    return head;
  };
  const end = (e: IndexEntry) => e.offset + e.length;
  let pos = 0;
  /**
   * Clean items for [pos, to): `to` is a block boundary of the base or inside a ZERO entry. With
   * `whole`, only the entries that end at or before `to` (`to` may then be anywhere).
   */
  async function* clean(to: number, whole = false): AsyncGenerator<PlanItem> {
    let group: IndexEntry[] = [];
    while (pos < to) {
      const h = current();
      if (whole && end(h) > to) break;
      if (h.kind === EntryKind.ZERO) {
        if (group.length) yield { kind: 'refs', entries: group };
        group = [];
        const stop = Math.min(end(h), to);
        yield { kind: 'zero', offset: pos, length: stop - pos };
        pos = stop;
        if (stop === end(h)) await advance();
      } else {
        if (end(h) > to || h.offset !== pos) throw new Error(`internal: commit plan splits a base block at ${to}`);
        if (!options.groupRefs) yield { kind: 'ref', entry: h };
        else if (group.push(h) === MAX_GROUP) {
          yield { kind: 'refs', entries: group };
          group = [];
        }
        pos = end(h);
        await advance();
      }
    }
    if (group.length) yield { kind: 'refs', entries: group };
  }

  await advance();
  let i = 0;
  while (i < dirty.length) {
    const a = Math.max(dirty[i].offset, pos);
    // Clean entries wholly before the first written byte.
    yield* clean(a, true);
    const first = current();
    const start = first.kind === EntryKind.ZERO ? Math.max(pos, first.offset, Math.floor(a / grid) * grid) : first.offset;
    yield* clean(start);
    let dirtyEnd = dirty[i].offset + dirty[i].length;
    i++;
    let stop: number;
    let tailZeroFrom: number | undefined;
    const inside: IndexEntry[] = [current()];
    for (;;) {
      // Entries that end before the last written byte are inside the window.
      while (end(current()) < dirtyEnd) {
        await advance();
        inside.push(current());
      }
      const last = current();
      if (last.kind === EntryKind.ZERO) {
        stop = Math.min(end(last), Math.ceil(dirtyEnd / grid) * grid);
        tailZeroFrom = last.offset;
      } else {
        stop = end(last);
        tailZeroFrom = undefined;
      }
      // A written range that starts inside the window joins it.
      if (i < dirty.length && dirty[i].offset < stop) {
        dirtyEnd = Math.max(dirtyEnd, dirty[i].offset + dirty[i].length);
        i++;
        continue;
      }
      break;
    }
    yield { kind: 'window', offset: start, end: stop, dirtyEnd, ...(tailZeroFrom === undefined ? {} : { tailZeroFrom }), entries: inside };
    pos = stop;
    if (end(current()) === stop) await advance();
  }
  yield* clean(size);
  if (head) throw new CorruptArchiveError(`index entries go past the end of the stream (${size} bytes)`, { archive: name, offset: size, stage: 'index' });
}
