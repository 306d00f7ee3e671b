/**
 * A laid-out filesystem as a read-only virtual disk: block runs the layout recorded are
 * produced on demand (metadata encoded at layout time, group tables computed, file bytes read
 * from the source), everything else reads as zeros and is reported as a zero extent so the
 * packer never reads or stores it.
 */
import type { DiskImage, ImageExtent } from '../../image/types.js';
import { UsageError } from '../../errors.js';
import { SUPERBLOCK_OFFSET } from '../../fs/ext4/superblock.js';
import { BLOCK_SIZE, BLOCKS_PER_GROUP, groupBitmapBlock, hasSuperblock } from './ext4-geometry.js';
import type { Ext4Layout, LayoutRegion } from './ext4-layout.js';

/** The filesystem image of a layout. Offsets in bytes from the filesystem's start. */
export class Ext4Image implements DiskImage {
  readonly format = 'raw' as const;
  readonly size: number;
  private readonly starts: number[];
  /** The bitmaps of the group read last. */
  private bitmapsOf: { group: number; block: Uint8Array; inode: Uint8Array } | undefined;
  /** The blocks of the lazy region rendered last. */
  private rendered: { render: () => Uint8Array[]; blocks: Uint8Array[] } | undefined;

  constructor(readonly layout: Ext4Layout, readonly name: string) {
    this.size = layout.geometry.blocksCount * BLOCK_SIZE;
    this.starts = layout.regions.map((r) => r.start);
  }

  /** Index of the last region starting at or before `block` (-1 when none). */
  private find(block: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] <= block) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /** The regions overlapping blocks [first, end), in order. */
  private overlapping(first: number, end: number): LayoutRegion[] {
    const out: LayoutRegion[] = [];
    let i = Math.max(0, this.find(first));
    for (; i < this.starts.length && this.starts[i] < end; i++) {
      const r = this.layout.regions[i];
      if (r.start + r.len > first) out.push(r);
    }
    return out;
  }

  async extents(offset: number, length: number): Promise<ImageExtent[]> {
    const end = Math.min(this.size, offset + length);
    const out: ImageExtent[] = [];
    const push = (from: number, to: number, kind: 'zero' | 'data') => {
      if (to <= from) return;
      const last = out[out.length - 1];
      if (last && last.kind === kind && last.offset + last.length === from) last.length += to - from;
      else out.push({ offset: from, length: to - from, kind });
    };
    let at = offset;
    for (const r of this.overlapping(Math.floor(offset / BLOCK_SIZE), Math.ceil(end / BLOCK_SIZE))) {
      const from = Math.max(at, r.start * BLOCK_SIZE);
      const to = Math.min(end, (r.start + r.len) * BLOCK_SIZE);
      push(at, from, 'zero');
      push(from, to, 'data');
      at = Math.max(at, to);
    }
    push(at, end, 'zero');
    return out;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new UsageError(`read of ${length} bytes at ${offset} is outside the ${this.size}-byte filesystem`);
    const out = new Uint8Array(length);
    const end = offset + length;
    const pending: Promise<void>[] = [];
    for (const r of this.overlapping(Math.floor(offset / BLOCK_SIZE), Math.ceil(end / BLOCK_SIZE))) {
      const from = Math.max(offset, r.start * BLOCK_SIZE);
      const to = Math.min(end, (r.start + r.len) * BLOCK_SIZE);
      if (to <= from) continue;
      if (r.kind === 'file') {
        // File bytes past the file's end (the tail of its last block) stay zero.
        const fileAt = r.fileOffset + (from - r.start * BLOCK_SIZE);
        const n = Math.min(to - from, r.fileSize - fileAt);
        if (n <= 0) continue;
        if (r.content.readInto) r.content.readInto(out.subarray(from - offset, from - offset + n), fileAt);
        else pending.push(r.content.read(fileAt, n).then((bytes) => out.set(bytes.subarray(0, n), from - offset)));
        continue;
      }
      for (let b = Math.floor(from / BLOCK_SIZE); b * BLOCK_SIZE < to; b++) {
        const bytes = this.block(r, b);
        if (!bytes) continue;
        const bStart = b * BLOCK_SIZE;
        const s = Math.max(from, bStart);
        const e = Math.min(to, bStart + BLOCK_SIZE);
        out.set(bytes.subarray(s - bStart, e - bStart), s - offset);
      }
    }
    await Promise.all(pending);
    return out;
  }

  /** Block `b` of a metadata region (undefined: zeros). */
  private block(r: Exclude<LayoutRegion, { kind: 'file' }>, b: number): Uint8Array | undefined {
    if (r.kind === 'bytes') return r.blocks[b - r.start];
    if (r.kind === 'lazy') {
      // Reads come in order: the object rendered last is usually the one asked for again.
      if (this.rendered?.render !== r.render) this.rendered = { render: r.render, blocks: r.render() };
      return this.rendered.blocks[r.first + b - r.start];
    }
    const L = this.layout;
    const g = L.geometry;
    const group = r.group;
    const rel = b - group * BLOCKS_PER_GROUP;
    if (hasSuperblock(group)) {
      if (rel === 0) {
        const block = new Uint8Array(BLOCK_SIZE);
        // The primary sits 1024 bytes into block 0 (after the boot sector area); backups start their block.
        block.set(L.superblock(group), group === 0 ? SUPERBLOCK_OFFSET : 0);
        return block;
      }
      if (rel <= g.gdtBlocks) return L.gdt.subarray((rel - 1) * BLOCK_SIZE, rel * BLOCK_SIZE);
    }
    const bitmap = groupBitmapBlock(g, group) - group * BLOCKS_PER_GROUP;
    if (rel === bitmap || rel === bitmap + 1) {
      // Both bitmaps come from one computation; the two blocks are read one after the other.
      if (this.bitmapsOf?.group !== group) this.bitmapsOf = { group, ...L.bitmaps(group) };
      return rel === bitmap ? this.bitmapsOf.block : this.bitmapsOf.inode;
    }
    const t = rel - bitmap - 2;
    const table = L.inodeTables[group];
    if (t * BLOCK_SIZE >= table.length) return undefined;
    const block = new Uint8Array(BLOCK_SIZE);
    block.set(table.subarray(t * BLOCK_SIZE, Math.min(table.length, (t + 1) * BLOCK_SIZE)));
    return block;
  }

  async close(): Promise<void> {}
}
