/**
 * Re-cutting one window of a commit (commit-plan.ts): the merged bytes around written ranges are
 * cut into blocks the way a pack would cut them, from a point where the base starts a block,
 * until a cut falls where the base has one again; everything after that stays the base's.
 */
import type { StreamExtent } from '../archive/stream-view.js';
import { throwIfAborted } from '../errors.js';
import type { BlockCutter } from '../pack/block-cutter.js';
import type { CommitOutput } from './commit-output.js';
import type { PlanItem, WindowItem } from './commit-plan.js';

/** Bytes read from the merged stream per request: bounds the memory a long window takes. */
export const PIECE_BYTES = 4 << 20;

/** The merged stream of an overlay: what a commit reads (only inside windows). */
export interface MergedStream {
  /** Logical size in bytes. */
  size: number;
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Zero and data runs tiling [offset, offset + length). */
  extents(offset: number, length: number, signal?: AbortSignal): Promise<StreamExtent[]>;
}

/** Merged bytes [offset, offset + bytes.length) and their zero and data runs. */
export interface Piece {
  offset: number;
  bytes: Uint8Array;
  extents: StreamExtent[];
}

/** A window of the plan, with its first piece possibly being read already. */
export type PlannedWindow = WindowItem & { first?: Promise<Piece> };

/**
 * Reads merged bytes [offset, end) and, when `runs` (content-defined chunks, whose cut points
 * depend on where known zero runs are), their zero and data runs, concurrently. Fixed blocks
 * need no runs: an all-zero block becomes a ZERO entry by its content just the same.
 */
export async function readPiece(src: MergedStream, offset: number, end: number, runs: boolean, signal?: AbortSignal): Promise<Piece> {
  const [extents, bytes] = await Promise.all([
    runs ? src.extents(offset, end - offset, signal) : [{ offset, length: end - offset, zero: false }],
    src.read(offset, end - offset, signal),
  ]);
  return { offset, bytes, extents };
}

/** What {@link runWindow} works with. */
export interface WindowContext {
  src: MergedStream;
  cutter: BlockCutter;
  out: CommitOutput;
  /** The block size (the grid on which known zero runs are skipped, as pack skips holes). */
  grid: number;
  /** The plan's next item: taken when a content-defined re-cut runs past the window. */
  next: () => Promise<PlanItem | undefined>;
  signal?: AbortSignal;
}

/**
 * Re-cuts `w`: pushes its merged bytes through the cutter and hands each block to the output.
 * Whole grid blocks of zeros (the base's ZERO entries, the overlay's zero pages) are a known zero
 * run, which ends the current block and restarts the cutter after it, like a hole does for pack
 * (docs/FORMAT.md §3.2). Stops at the first block end, at or after the last written byte, where
 * the base also ends a block (or inside a clean base ZERO entry, the rest being zeros). Fixed
 * blocks always stop at the window's end; content-defined chunks may go on into the next items
 * of the plan, which are then re-cut too.
 * @throws as the merged stream's reads; AbortedError when `signal` aborts.
 */
export async function runWindow(w: PlannedWindow, ctx: WindowContext): Promise<void> {
  const { src, cutter, out, grid, signal } = ctx;
  let end = w.end;
  let dirtyEnd = w.dirtyEnd;
  let tailZeroFrom = w.tailZeroFrom;
  cutter.restart(w.offset);
  /** Bytes of the unfinished block, oldest first (views into pieces). */
  let pending: Uint8Array[] = [];
  let blockStart = w.offset;
  let pos = w.offset;
  let piece = w.first ? await w.first : undefined;

  const isSync = (p: number) => p >= dirtyEnd && (p === end || (tailZeroFrom !== undefined && p >= tailZeroFrom));
  /** The next `length` bytes of the unfinished block: a view when one piece holds them, else a copy. */
  const take = (length: number): Uint8Array => {
    const head = pending[0];
    if (head && head.length >= length) {
      if (head.length === length) pending.shift();
      else pending[0] = head.subarray(length);
      return head.subarray(0, length);
    }
    const block = new Uint8Array(length);
    let at = 0;
    while (at < length) {
      const p = pending[0];
      const k = Math.min(p.length, length - at);
      block.set(k === p.length ? p : p.subarray(0, k), at);
      at += k;
      if (k === p.length) pending.shift();
      else pending[0] = p.subarray(k);
    }
    return block;
  };
  const emit = async (length: number) => {
    await out.block(take(length));
    blockStart += length;
  };
  /** At a block end or restart `p`: when it is a sync point, ends the window (the rest being clean zeros). */
  const stopsAt = async (p: number): Promise<boolean> => {
    if (!isSync(p)) return false;
    if (p < end) await out.zero(end - p, true);
    pending = [];
    return true;
  };
  /** Pushes merged bytes [from, to) of the current piece. @returns true when the window ended. */
  const feed = async (from: number, to: number): Promise<boolean> => {
    const bytes = piece!.bytes.subarray(from - piece!.offset, to - piece!.offset);
    pending.push(bytes);
    for (const length of cutter.push(bytes)) {
      await emit(length);
      if (await stopsAt(blockStart)) return true;
    }
    pos = to;
    return false;
  };

  for (;;) {
    throwIfAborted(signal, 'commit');
    if (pos === end) {
      if (!cutter.contentDefined || end === src.size) {
        const last = cutter.finish();
        if (last > 0) await emit(last);
        return;
      }
      // The last chunk does not end where the base's block does: re-cut the next item too.
      const item = await ctx.next();
      if (!item) throw new Error(`internal: commit plan ended at ${end}, before the stream (${src.size} bytes)`);
      if (item.kind === 'ref') {
        end = item.entry.offset + item.entry.length;
        tailZeroFrom = undefined;
      } else if (item.kind === 'zero') {
        end = item.offset + item.length;
        tailZeroFrom = item.offset;
      } else if (item.kind === 'refs') {
        throw new Error('internal: a content-defined commit plan groups no references');
      } else {
        (item as PlannedWindow).first?.catch(() => {});
        end = item.end;
        dirtyEnd = Math.max(dirtyEnd, item.dirtyEnd);
        tailZeroFrom = item.tailZeroFrom;
      }
      continue;
    }
    if (!piece || pos >= piece.offset + piece.bytes.length || pos < piece.offset) piece = await readPiece(src, pos, Math.min(end, pos + PIECE_BYTES), cutter.contentDefined, signal);
    const pieceEnd = Math.min(piece.offset + piece.bytes.length, end);
    const run = piece.extents.find((x) => x.offset <= pos && pos < x.offset + x.length);
    if (!run) throw new Error(`internal: no extent covers offset ${pos}`);
    const runEnd = Math.min(run.offset + run.length, pieceEnd);
    if (run.zero) {
      const g0 = Math.ceil(pos / grid) * grid;
      const g1 = runEnd === src.size ? runEnd : Math.floor(runEnd / grid) * grid;
      if (g1 > g0) {
        if (g0 > pos && (await feed(pos, g0))) return;
        const last = cutter.finish();
        if (last > 0) {
          await emit(last);
          if (await stopsAt(g0)) return;
        }
        await out.zero(g1 - g0, false);
        blockStart = pos = g1;
        cutter.restart(g1);
        if (await stopsAt(g1)) return;
        continue;
      }
    }
    if (await feed(pos, runEnd)) return;
  }
}
