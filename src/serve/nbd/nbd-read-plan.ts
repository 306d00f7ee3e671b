/**
 * Pure planning of a structured read reply: which parts of the requested range are sent as
 * data and which as holes (NBD_REPLY_TYPE_OFFSET_HOLE), and the one range that has to be read
 * so zeros are neither read nor sent.
 */
import type { StreamExtent } from '../../archive/stream-view.js';

/** A part of a read reply: `length` bytes at `offset`, sent as a hole or as data. */
export interface ReadPiece {
  offset: number;
  length: number;
  hole: boolean;
}

/** How to answer a read of [offset, offset + length). */
export interface ReadPlan {
  /** The parts, in order, covering the request exactly; empty for a 0-byte read. */
  pieces: ReadPiece[];
  /** The range to read: from the first data piece to the end of the last; null when all are holes. */
  read: { offset: number; length: number } | null;
}

/**
 * Plans a read of [offset, offset + length) from the export's extents of that range. Zero
 * extents become holes; anything the extents do not describe (they may stop early, after
 * `maxExtents`) is data, so a short extent list is never wrong, only less sparse.
 */
export function planRead(offset: number, length: number, extents: readonly StreamExtent[]): ReadPlan {
  const end = offset + length;
  const pieces: ReadPiece[] = [];
  const push = (from: number, to: number, hole: boolean) => {
    if (to <= from) return;
    const last = pieces[pieces.length - 1];
    if (last && last.hole === hole && last.offset + last.length === from) last.length += to - from;
    else pieces.push({ offset: from, length: to - from, hole });
  };
  let at = offset;
  for (const e of extents) {
    const from = Math.max(at, e.offset);
    const to = Math.min(end, e.offset + e.length);
    if (to <= from) continue;
    push(at, from, false); // a gap the extents skipped: data, to be safe
    push(from, to, e.zero);
    at = to;
  }
  push(at, end, false);
  const data = pieces.filter((p) => !p.hole);
  const read = data.length === 0 ? null : {
    offset: data[0].offset,
    length: data[data.length - 1].offset + data[data.length - 1].length - data[0].offset,
  };
  return { pieces, read };
}
