/**
 * Pure encoding of an ext2/ext3 block map (ext4 on-disk format, "Direct/Indirect Block
 * Addressing"): 12 direct pointers, then single, double and triple indirect blocks, a zero
 * pointer for a hole. The inverse of block-map.ts, for the filesystem writer's ext2 output.
 */
import { I_BLOCK_SIZE } from './inode.js';

/** A run of `len` logical blocks from `lblk` stored from physical `pblk`. */
export interface MappedRun {
  lblk: number;
  len: number;
  pblk: number;
}

const DIRECT = 12;

/** The indirect blocks a map needs, by their position in the tree (keys like "1", "2:5", "3:0:7"). */
function neededNodes(runs: readonly MappedRun[], blockSize: number): string[] {
  const p = blockSize / 4;
  const keys = new Set<string>();
  for (const r of runs) {
    // Walk pointer-block by pointer-block, not block by block: a run of a million blocks needs ~1000 steps.
    let l = r.lblk;
    const end = r.lblk + r.len;
    while (l < end) {
      if (l < DIRECT) { l = Math.min(end, DIRECT); continue; }
      let x = l - DIRECT;
      if (x < p) { keys.add('1'); l = Math.min(end, DIRECT + p); continue; }
      x -= p;
      if (x < p * p) {
        keys.add('2');
        const i = Math.floor(x / p);
        keys.add(`2:${i}`);
        l = Math.min(end, DIRECT + p + (i + 1) * p);
        continue;
      }
      x -= p * p;
      if (x >= p * p * p) throw new RangeError(`logical block ${l} is beyond what a block map can address`);
      const i = Math.floor(x / (p * p));
      const j = Math.floor((x % (p * p)) / p);
      keys.add('3');
      keys.add(`3:${i}`);
      keys.add(`3:${i}:${j}`);
      l = Math.min(end, DIRECT + p + p * p + i * p * p + (j + 1) * p);
    }
  }
  // A fixed order (tree order, parents before children) so the allocation is reproducible.
  return [...keys].sort((a, b) => {
    const pa = a.split(':').map(Number);
    const pb = b.split(':').map(Number);
    for (let k = 0; k < Math.max(pa.length, pb.length); k++) {
      if (pa[k] === undefined) return -1;
      if (pb[k] === undefined) return 1;
      if (pa[k] !== pb[k]) return pa[k] - pb[k];
    }
    return 0;
  });
}

/** Indirect blocks the map of `runs` needs. */
export function blockMapBlocks(runs: readonly MappedRun[], blockSize: number): number {
  return neededNodes(runs, blockSize).length;
}

/**
 * Encodes the map of `runs` (sorted, disjoint).
 * @param indirect physical blocks for the indirect blocks, as many as {@link blockMapBlocks}.
 * @returns i_block (60 bytes) and the indirect blocks' bytes, in the order of `indirect`.
 * @throws RangeError for a count mismatch or a block past the triple-indirect range.
 */
export function encodeBlockMap(runs: readonly MappedRun[], indirect: readonly number[], blockSize: number): { iBlock: Uint8Array; blocks: Uint8Array[] } {
  const keys = neededNodes(runs, blockSize);
  if (keys.length !== indirect.length) throw new RangeError(`block map needs ${keys.length} indirect blocks, got ${indirect.length}`);
  const p = blockSize / 4;
  const at = new Map<string, { pblk: number; bytes: Uint8Array; dv: DataView }>();
  keys.forEach((k, i) => {
    const bytes = new Uint8Array(blockSize);
    at.set(k, { pblk: indirect[i], bytes, dv: new DataView(bytes.buffer) });
  });
  const iBlock = new Uint8Array(I_BLOCK_SIZE);
  const root = new DataView(iBlock.buffer);
  const set = (key: string, slot: number, value: number) => at.get(key)!.dv.setUint32(slot * 4, value, true);
  for (const [k, node] of at) {
    const parts = k.split(':').map(Number);
    if (parts.length === 1) root.setUint32((DIRECT + parts[0] - 1) * 4, node.pblk, true);
    else set(parts.slice(0, -1).join(':'), parts[parts.length - 1], node.pblk);
  }
  for (const r of runs) {
    for (let n = 0; n < r.len; n++) {
      const l = r.lblk + n;
      const pb = r.pblk + n;
      if (l < DIRECT) { root.setUint32(l * 4, pb, true); continue; }
      let x = l - DIRECT;
      if (x < p) { set('1', x, pb); continue; }
      x -= p;
      if (x < p * p) { set(`2:${Math.floor(x / p)}`, x % p, pb); continue; }
      x -= p * p;
      set(`3:${Math.floor(x / (p * p))}:${Math.floor((x % (p * p)) / p)}`, x % p, pb);
    }
  }
  return { iBlock, blocks: keys.map((k) => at.get(k)!.bytes) };
}
