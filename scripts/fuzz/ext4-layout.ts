/**
 * Where the metadata of a healthy ext2/3/4 image lies: superblock, group descriptors, every
 * in-use inode, extent tree blocks, indirect blocks and directory blocks (with their owner, so
 * their checksums can be recomputed after a mutation). The fuzzer's own decoder, written from
 * the on-disk format document and independent of src/fs/ext4: it only ever reads seed images
 * that mke2fs made and e2fsck passed, so it trusts them (no hostile-input checks).
 */

/** One in-use inode. */
export interface LayoutInode {
  ino: number;
  /** Byte offset of the on-disk inode in the image. */
  offset: number;
  type: 'file' | 'dir' | 'symlink' | 'other';
  flags: number;
  size: number;
  /** How i_block is used. */
  map: 'extents' | 'blocks' | 'inline' | 'fast-symlink' | 'none';
}

/** A metadata block owned by an inode: its checksum (if any) is seeded by that inode. */
export interface OwnedBlock {
  block: number;
  ino: number;
  kind: 'extent' | 'indirect' | 'dir';
  /** Directory blocks: logical block index in the directory (0 is an htree root when indexed). */
  index?: number;
}

export interface Ext4Layout {
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  inodesPerGroup: number;
  inodeSize: number;
  groupCount: number;
  firstDataBlock: number;
  descSize: number;
  /** First block of the group descriptor table (no meta_bg in the seeds: it is contiguous). */
  gdtBlock: number;
  /** Inode table block of each group, and how many of its inodes are initialised (the rest is never read). */
  groups: { inodeTable: number; initialisedInodes: number }[];
  inodes: LayoutInode[];
  blocks: OwnedBlock[];
}

const INCOMPAT_64BIT = 0x80;
const INCOMPAT_META_BG = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;
const RO_COMPAT_GDT_CSUM = 0x10;
const BG_INODE_UNINIT = 0x1;
const FL_EXTENTS = 0x80000;
const FL_INLINE_DATA = 0x10000000;

export function ext4Layout(img: Uint8Array): Ext4Layout {
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const u16 = (at: number) => dv.getUint16(at, true);
  const u32 = (at: number) => dv.getUint32(at, true);
  const sb = 1024;
  if (u16(sb + 0x38) !== 0xef53) throw new Error('seed image has no ext superblock');
  const blockSize = 1024 << u32(sb + 0x18);
  const incompat = u32(sb + 0x60);
  const roCompat = u32(sb + 0x64);
  if (incompat & INCOMPAT_META_BG) throw new Error('seed image uses meta_bg (the layout decoder does not)');
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = u32(sb + 0x4) + (is64 ? u32(sb + 0x150) * 2 ** 32 : 0);
  const firstDataBlock = u32(sb + 0x14);
  const blocksPerGroup = u32(sb + 0x20);
  const inodesPerGroup = u32(sb + 0x28);
  const inodesCount = u32(sb + 0x0);
  const inodeSize = u32(sb + 0x4c) > 0 ? u16(sb + 0x58) : 128;
  const descSize = is64 ? u16(sb + 0xfe) : 32;
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const gdtBlock = firstDataBlock + 1;
  const tracksUnused = (roCompat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM)) !== 0;

  const groups: Ext4Layout['groups'] = [];
  for (let g = 0; g < groupCount; g++) {
    const d = gdtBlock * blockSize + g * descSize;
    const inodeTable = u32(d + 0x8) + (descSize >= 64 ? u32(d + 0x28) * 2 ** 32 : 0);
    const flags = tracksUnused ? u16(d + 0x12) : 0;
    const unused = tracksUnused ? u16(d + 0x1c) + (descSize >= 64 ? u16(d + 0x32) * 0x10000 : 0) : 0;
    groups.push({ inodeTable, initialisedInodes: flags & BG_INODE_UNINIT ? 0 : inodesPerGroup - unused });
  }

  const inodes: LayoutInode[] = [];
  const blocks: OwnedBlock[] = [];
  const blockAt = (b: number) => img.subarray(b * blockSize, (b + 1) * blockSize);
  for (let g = 0; g < groupCount; g++) {
    for (let i = 0; i < groups[g].initialisedInodes; i++) {
      const ino = g * inodesPerGroup + i + 1;
      const offset = groups[g].inodeTable * blockSize + i * inodeSize;
      const mode = u16(offset);
      const links = u16(offset + 0x1a);
      const dtime = u32(offset + 0x14);
      if (links === 0 && (mode === 0 || dtime !== 0)) continue;
      const fmt = mode & 0xf000;
      const type = fmt === 0x8000 ? 'file' : fmt === 0x4000 ? 'dir' : fmt === 0xa000 ? 'symlink' : 'other';
      const flags = u32(offset + 0x20);
      const size = u32(offset + 0x4) + (type === 'file' ? u32(offset + 0x6c) * 2 ** 32 : 0);
      const iBlocks = u32(offset + 0x1c);
      const fileAcl = u32(offset + 0x68);
      const map: LayoutInode['map'] = type === 'other' && ino >= 11 ? 'none'
        : flags & FL_INLINE_DATA ? 'inline'
        : type === 'symlink' && iBlocks - (fileAcl ? blockSize / 512 : 0) === 0 ? 'fast-symlink'
        : flags & FL_EXTENTS ? 'extents' : 'blocks';
      inodes.push({ ino, offset, type, flags, size, map });
      const iBlock = img.subarray(offset + 0x28, offset + 0x28 + 60);
      const data: [number, number][] = []; // [logical, physical] of mapped blocks
      const nBlocks = Math.ceil(size / blockSize);
      if (map === 'extents') extentTree(iBlock, ino, blockAt, blocks, data);
      else if (map === 'blocks') blockMap(iBlock, ino, blockAt, blockSize, nBlocks, blocks, data);
      if (type === 'dir') for (const [index, block] of data) if (index < nBlocks) blocks.push({ block, ino, kind: 'dir', index });
    }
  }
  return { blockSize, blocksCount, inodesCount, inodesPerGroup, inodeSize, groupCount, firstDataBlock, descSize, gdtBlock, groups, inodes, blocks };
}

function extentTree(node: Uint8Array, ino: number, blockAt: (b: number) => Uint8Array, blocks: OwnedBlock[], data: [number, number][]): void {
  const dv = new DataView(node.buffer, node.byteOffset, node.byteLength);
  if (dv.getUint16(0, true) !== 0xf30a) return;
  const entries = dv.getUint16(2, true);
  const depth = dv.getUint16(6, true);
  for (let i = 0; i < entries; i++) {
    const at = 12 + i * 12;
    if (depth === 0) {
      const lblk = dv.getUint32(at, true);
      const raw = dv.getUint16(at + 4, true);
      const len = raw > 32768 ? raw - 32768 : raw;
      const pblk = dv.getUint16(at + 6, true) * 2 ** 32 + dv.getUint32(at + 8, true);
      for (let k = 0; k < len && data.length < 1 << 16; k++) data.push([lblk + k, pblk + k]);
    } else {
      const child = dv.getUint16(at + 8, true) * 2 ** 32 + dv.getUint32(at + 4, true);
      blocks.push({ block: child, ino, kind: 'extent' });
      extentTree(blockAt(child), ino, blockAt, blocks, data);
    }
  }
}

function blockMap(iBlock: Uint8Array, ino: number, blockAt: (b: number) => Uint8Array, blockSize: number, nBlocks: number, blocks: OwnedBlock[], data: [number, number][]): void {
  const ptrs = new DataView(iBlock.buffer, iBlock.byteOffset, 60);
  const perBlock = blockSize / 4;
  for (let i = 0; i < 12; i++) { const p = ptrs.getUint32(i * 4, true); if (p) data.push([i, p]); }
  const indirect = (block: number, level: number, base: number) => {
    blocks.push({ block, ino, kind: 'indirect' });
    const b = blockAt(block);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const span = perBlock ** (level - 1);
    for (let i = 0; i < perBlock && base + i * span < nBlocks; i++) {
      const p = dv.getUint32(i * 4, true);
      if (!p) continue;
      if (level === 1) data.push([base + i, p]);
      else indirect(p, level - 1, base + i * span);
    }
  };
  let base = 12;
  for (let level = 1; level <= 3; level++) {
    const p = ptrs.getUint32((11 + level) * 4, true);
    if (p) indirect(p, level, base);
    base += perBlock ** level;
  }
}
