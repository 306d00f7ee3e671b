/**
 * The plan of a commit (docs/FORMAT.md §15, "Overlay files"): which parts of a base stream stay
 * as they are and which are re-cut from the merged bytes. Pure: index entries and written ranges
 * in, plan items out; no block is read.
 */
import { EntryKind } from '../format/constants.js';
import { sliceable, sliceOf, type IndexEntry } from '../format/entry.js';
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
 * Bytes a fixed-block commit that slices ({@link WindowSlicer}) re-packs for the disjoint,
 * ordered ranges `dirty`, about: per `grid`-aligned block touched, the written bytes when they
 * are under {@link SLICE_BELOW} of it, else the whole block. Sizes the commit's worker pool.
 */
export function recutBytes(dirty: readonly DirtyRange[], grid: number): number {
  let total = 0;
  let block = -1;
  let written = 0;
  const close = () => {
    if (block >= 0) total += written < SLICE_BELOW * grid ? written : grid;
  };
  for (const r of dirty) {
    for (let at = r.offset; at < r.offset + r.length;) {
      const b = Math.floor(at / grid);
      const to = Math.min(r.offset + r.length, (b + 1) * grid);
      if (b !== block) {
        close();
        block = b;
        written = 0;
      }
      written += to - at;
      at = to;
    }
  }
  close();
  return total;
}

/**
 * Walks the base stream's entries once, in order, beside the merged written ranges, and yields
 * items that tile [0, size) in order: clean entries (refs, zeros) and windows around the written
 * ranges. A window is widened to the base blocks it touches, so that each of them can be re-cut
 * whole (a fixed-block commit then refers to the clean parts of the blocks written only a little
 * instead: {@link WindowSlicer}). Inside a ZERO entry (which may
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

/**
 * Share of a base block that writes may cover and still have its clean parts referred to as
 * SLICE entries (§5) rather than the block re-cut whole: below it a commit stores only the
 * written bytes; at or above it, the block is re-cut (decoded, merged, compressed: at most
 * twice the written bytes), which keeps a block from splitting into many small entries.
 */
export const SLICE_BELOW = 0.5;

/** The clean part [from, to) of base entry `e`: zeros, or a reference to that part of its block. */
function clean(e: IndexEntry, from: number, to: number): PlanItem {
  return e.kind === EntryKind.ZERO ? { kind: 'zero', offset: from, length: to - from } : { kind: 'ref', entry: sliceOf(e, from, to) };
}

/**
 * Refines the windows of a fixed-block commit plan ({@link planCommit}), one at a time: in a
 * window, a base block whose stored block can be sliced (sliceable) and whose written bytes are
 * less than {@link SLICE_BELOW} of it is not re-cut whole: its clean parts become references to
 * parts of it (SLICE entries, as {@link RefItem}s of the base's numbering) and its written
 * ranges windows of their own, with no base entries (their bytes all come from the overlay). So
 * does the part of a base ZERO entry in a window (its clean parts stay zero runs). The other
 * blocks of the window stay windows as before.
 */
export class WindowSlicer {
  /** The first written range that may still lie in a later window. */
  private j = 0;

  /** @param dirty the merged written ranges the plan was made from (mergeDirty), in order. */
  constructor(private readonly dirty: readonly DirtyRange[]) {}

  /**
   * The items that stand for window `item` (which must come in plan order): itself when no block
   * of it is sliced. Synchronous: a commit of scattered writes has thousands of windows.
   */
  split(item: WindowItem): PlanItem[] {
    const dirty = this.dirty;
    let j = this.j;
    while (j < dirty.length && dirty[j].offset + dirty[j].length <= item.offset) j++;
    const out: PlanItem[] = [];
    /** Base entries of the window not sliced, gathered into a window of their own. */
    let pending: IndexEntry[] = [];
    let pendingFrom = item.offset;
    let pos = item.offset;
    for (const e of item.entries) {
      const from = Math.max(item.offset, e.offset);
      const to = Math.min(item.end, e.offset + e.length);
      while (j < dirty.length && dirty[j].offset + dirty[j].length <= from) j++;
      let written = 0;
      for (let k = j; k < dirty.length && dirty[k].offset < to; k++) {
        written += Math.max(0, Math.min(to, dirty[k].offset + dirty[k].length) - Math.max(from, dirty[k].offset));
      }
      const zero = e.kind === EntryKind.ZERO;
      if (written >= SLICE_BELOW * (to - from) || (!zero && (!sliceable(e) || from !== e.offset || to !== e.offset + e.length))) {
        if (!pending.length) pendingFrom = from;
        pending.push(e);
        pos = to;
        continue;
      }
      if (pending.length) {
        out.push({ kind: 'window', offset: pendingFrom, end: from, dirtyEnd: Math.min(item.dirtyEnd, from), entries: pending });
        pending = [];
      }
      let at = from;
      while (j < dirty.length && dirty[j].offset < to) {
        const d = dirty[j];
        const a = Math.max(at, d.offset);
        const b = Math.min(to, d.offset + d.length);
        if (b <= a) break;
        if (a > at) out.push(clean(e, at, a));
        out.push({ kind: 'window', offset: a, end: b, dirtyEnd: b, entries: [] });
        at = b;
        if (d.offset + d.length > to) break; // the range goes on into the next block
        j++;
      }
      if (at < to) out.push(clean(e, at, to));
      pos = to;
    }
    if (pos !== item.end) throw new Error(`internal: commit window ${item.offset}..${item.end} ends its entries at ${pos}`);
    this.j = j;
    if (pending.length) {
      // Nothing sliced: the window as it was.
      if (pendingFrom === item.offset && out.length === 0) return [item];
      out.push({ kind: 'window', offset: pendingFrom, end: pos, dirtyEnd: Math.min(item.dirtyEnd, pos), entries: pending });
    }
    return out;
  }
}
