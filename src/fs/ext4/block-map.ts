/**
 * Maps a file's logical blocks through the classic ext2/ext3 block map (ext4 on-disk format,
 * "Direct/Indirect Block Addressing"): i_block[0..11] point at data, i_block[12..14] at single,
 * double and triple indirect blocks of 32-bit pointers. A zero pointer is a hole of the whole
 * subtree's span, skipped in one step, so a sparse 5 GiB file costs a few reads.
 */
import { overOwned, ownedBlocks, type BlockRun } from './block-run.js';
import type { Inode } from './inode.js';
import type { Ext4Volume } from './volume.js';

/** Direct pointers in i_block before the indirect ones. */
const DIRECT_BLOCKS = 12;

/**
 * The mapped runs of logical blocks [from, to) of a block-mapped inode, in order, consecutive
 * pointers merged; holes are left out.
 * @throws CorruptImageError naming the inode when a pointer lies outside the filesystem; as the
 *   device throws.
 */
export async function* blockMapRuns(
  vol: Ext4Volume, inode: Inode, from: number, to: number, signal?: AbortSignal,
): AsyncGenerator<BlockRun> {
  const ptrs = new DataView(inode.iBlock.buffer, inode.iBlock.byteOffset, inode.iBlock.byteLength);
  const perBlock = vol.sb.blockSize / 4;
  const what = `inode ${inode.ino} block map`;
  const pending = new RunBuilder();
  // Indirect blocks count against what the inode owns too: a map whose indirect blocks point at
  // each other would otherwise walk millions of pointers (all holes, or all one block).
  const owned = ownedBlocks(vol, inode);
  const budget = { left: owned, spend: () => { if (--budget.left < 0) throw overOwned(inode, owned); } };

  for (let i = Math.max(0, from); i < Math.min(DIRECT_BLOCKS, to); i++) {
    const ptr = ptrs.getUint32(i * 4, true);
    if (ptr === 0) continue;
    vol.cache.checkRange(ptr, 1, `${what} (logical block ${i})`);
    const done = pending.add(i, ptr);
    if (done) yield done;
  }
  let base = DIRECT_BLOCKS;
  for (let level = 1; level <= 3 && base < to; level++) {
    const span = perBlock ** level;
    const ptr = ptrs.getUint32((DIRECT_BLOCKS - 1 + level) * 4, true);
    if (ptr !== 0 && base + span > from) {
      for await (const run of indirect(vol, ptr, level, base, from, to, what, perBlock, budget, signal)) {
        const done = pending.addRun(run);
        if (done) yield done;
      }
    }
    base += span;
  }
  const last = pending.flush();
  if (last) yield last;
}

async function* indirect(
  vol: Ext4Volume, block: number, level: number, base: number, from: number, to: number,
  what: string, perBlock: number, budget: { spend(): void }, signal: AbortSignal | undefined,
): AsyncGenerator<BlockRun> {
  budget.spend();
  const bytes = await vol.cache.readBlock(block, `${what} indirect block`, { signal });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const childSpan = perBlock ** (level - 1);
  const first = Math.max(0, Math.floor((from - base) / childSpan));
  const last = Math.min(perBlock - 1, Math.floor((to - 1 - base) / childSpan));
  const pending = new RunBuilder();
  for (let i = first; i <= last; i++) {
    const ptr = dv.getUint32(i * 4, true);
    if (ptr === 0) continue;
    const lblk = base + i * childSpan;
    vol.cache.checkRange(ptr, 1, `${what} (logical block ${lblk})`);
    if (level === 1) {
      const done = pending.add(lblk, ptr);
      if (done) yield done;
    } else {
      for await (const run of indirect(vol, ptr, level - 1, lblk, from, to, what, perBlock, budget, signal)) {
        const done = pending.addRun(run);
        if (done) yield done;
      }
    }
  }
  const rest = pending.flush();
  if (rest) yield rest;
}

/** Accumulates physically and logically contiguous blocks into one run. */
class RunBuilder {
  private run: BlockRun | undefined;

  /** Adds one block; returns the previous run when this one does not continue it. */
  add(lblk: number, pblk: number): BlockRun | undefined {
    return this.addRun({ lblk, count: 1, pblk });
  }

  addRun(next: BlockRun): BlockRun | undefined {
    const cur = this.run;
    if (cur && cur.pblk !== null && next.pblk !== null && cur.lblk + cur.count === next.lblk && cur.pblk + cur.count === next.pblk) {
      cur.count += next.count;
      return undefined;
    }
    this.run = { ...next };
    return cur;
  }

  flush(): BlockRun | undefined {
    const cur = this.run;
    this.run = undefined;
    return cur;
  }
}
