/**
 * The front index area (docs/FORMAT.md §7, version 7): bytes reserved right after the header and
 * the dictionary, inside a remote reader's first request ({@link FIRST_CONTACT_BYTES}), where the
 * writer puts the top of the index. Pure arithmetic: how big the area is, what goes in it.
 */
import { ENTRY_SIZE, FIRST_CONTACT_BYTES, HEADER_SIZE, LEAF_RECORDS, NODE_HEADER_SIZE, NODE_MAX_RECORDS } from '../format/constants.js';
import { nodeSize } from '../format/index-node.js';

/** One level of an index tree: how many nodes, and their bytes as stored. */
export interface LevelShape {
  nodes: number;
  bytes: number;
}

/**
 * The levels above `count` nodes of one level, bottom-up (element 0 is level `from + 1`), up to
 * the single root; empty when `count` ≤ 1. The writer fills internal nodes left to right, 1024
 * records each (§6), so the shape follows from the count alone. `overhead` is added per node
 * (the seal of an encrypted archive, §12.3).
 */
export function levelsAbove(count: number, overhead: number): LevelShape[] {
  const levels: LevelShape[] = [];
  let n = count;
  while (n > 1) {
    const nodes = Math.ceil(n / NODE_MAX_RECORDS);
    const full = Math.floor(n / NODE_MAX_RECORDS);
    const rest = n - full * NODE_MAX_RECORDS;
    const bytes = full * (nodeSize(NODE_MAX_RECORDS) + overhead) + (rest > 0 ? nodeSize(rest) + overhead : 0);
    levels.push({ nodes, bytes });
    n = nodes;
  }
  return levels;
}

/** Bytes of a whole index tree (leaves and internal nodes) over `entries` entries; Infinity stays Infinity. */
export function treeBytes(entries: number, overhead: number): number {
  if (!Number.isFinite(entries)) return Infinity;
  if (entries <= 0) return 0;
  const leaves = Math.ceil(entries / LEAF_RECORDS);
  const leafBytes = entries * ENTRY_SIZE + leaves * (NODE_HEADER_SIZE + overhead);
  return leafBytes + levelsAbove(leaves, overhead).reduce((n, l) => n + l.bytes, 0);
}

/**
 * Most entries a stream of `size` logical bytes can have: one per block with fixed blocks (zero
 * runs merge, so usually fewer); with FastCDC one per `cdcMin` bytes plus one short chunk per
 * known zero run (each at least a block). Infinity when the size is unknown (a pipe).
 */
export function entryBound(size: number | undefined, blockSize: number, cdcMin?: number): number {
  if (size === undefined) return Infinity;
  if (size <= 0) return 0;
  const blocks = Math.ceil(size / blockSize);
  return cdcMin === undefined ? blocks : Math.ceil(size / cdcMin) + blocks;
}

/**
 * Size of the front index area (§7): the bound on the index's bytes, at most what is left of the
 * first {@link FIRST_CONTACT_BYTES} after the header and the `dictionaryBytes` stored after it.
 * 0 when the index will be empty.
 */
export function frontAreaSize(indexBound: number, dictionaryBytes: number): number {
  return Math.max(0, Math.min(indexBound, FIRST_CONTACT_BYTES - HEADER_SIZE - dictionaryBytes));
}

/** One stream's finished tree, as the planner sees it. */
export interface TreeShape {
  /** Bytes of its leaves (0 for an empty stream: no nodes). */
  leafBytes: number;
  /** Its internal levels bottom-up (element 0 = level 1); empty when the root is a leaf. */
  levels: LevelShape[];
}

/**
 * Decides what goes in a front area of `room` bytes (§7): whole levels, top down, counted across
 * both streams — the roots, then every node one level below a root, and so on — as many as fit.
 * For a small archive that is the whole index. Returns that number of levels, `depth`: level L
 * of a tree whose root is at level R is in front exactly when R − L < depth.
 */
export function planFront(trees: TreeShape[], room: number): number {
  const bytesAt = (t: TreeShape, level: number) => (level === 0 ? t.leafBytes : t.levels[level - 1].bytes);
  let used = 0;
  for (let depth = 0; ; depth++) {
    const at = trees.filter((t) => t.leafBytes > 0 && t.levels.length - depth >= 0);
    if (at.length === 0) return depth;
    const bytes = at.reduce((n, t) => n + bytesAt(t, t.levels.length - depth), 0);
    if (used + bytes > room) return depth;
    used += bytes;
  }
}
