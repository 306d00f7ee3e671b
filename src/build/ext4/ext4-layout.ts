/**
 * Lays a source tree out as an ext2 or ext4 filesystem, without writing anything: numbers the
 * inodes, allocates every block, encodes the inodes, directories, extent trees / block maps,
 * bitmaps, group descriptors and superblocks, and records where each file's bytes go. The
 * result is read block by block by Ext4Image, which is what the packer consumes.
 *
 * Allocation order (all sequential, so the same tree gives the same blocks): directories and
 * long symlinks, then the journal, then file data, then extent-tree / indirect blocks. File
 * data is aligned to the archive block size so that a file that did not change lands in
 * archive blocks of the same content even when files before it grew or shrank: a big file
 * starts on a boundary; small files are packed together in runs that also start on a boundary,
 * a new run starting at a path-hash boundary (1 in 8 files) or once the run fills a boundary.
 */
import { UsageError } from '../../errors.js';
import { metadataChecksumSeed, inodeChecksumSeed, INODE_CHECKSUM_HI, INODE_CHECKSUM_LO, inodeChecksum } from '../../fs/ext4/checksums.js';
import { Compat, Incompat, RoCompat } from '../../fs/ext4/features.js';
import { encodeSuperblock } from '../../fs/ext4/encode-superblock.js';
import { blockMapBlocks, encodeBlockMap } from '../../fs/ext4/encode-block-map.js';
import { directoryBlocks, encodeDirectory } from '../../fs/ext4/encode-directory.js';
import { encodeExtentTree, extentTreeBlocks, type WriteExtent } from '../../fs/ext4/encode-extent-tree.js';
import { encodeInode, EXTRA_ISIZE } from '../../fs/ext4/encode-inode.js';
import { defaultJournalBlocks, encodeJournalSuperblock } from '../../fs/ext4/encode-journal.js';
import { I_BLOCK_SIZE } from '../../fs/ext4/inode.js';
import type { FileContent, SourceInode } from '../tree/types.js';
import { BlockAllocator, type BlockRun } from './block-allocator.js';
import { BLOCK_SIZE, BLOCKS_PER_GROUP, chooseGeometry, FIRST_INO, groupBitmapBlock, groupOverhead, hasSuperblock, INODE_SIZE, LOG_BLOCK_SIZE, type Ext4Geometry } from './ext4-geometry.js';
import { GroupTables } from './group-tables.js';
import { inodeFields, journalFields, type InodeBlocks } from './inode-fields.js';
import { JOURNAL_INO, pathOf, planInodes } from './plan-inodes.js';

/** What to make. */
export interface Ext4LayoutOptions {
  fs: 'ext4' | 'ext2';
  /** Bytes of the filesystem (whole 4 KiB blocks are used). */
  sizeBytes: number;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  /** Volume label, at most 16 bytes. */
  label: Uint8Array;
  /** Seconds since the epoch: the filesystem's creation time (and lost+found's, the journal's). */
  time: number;
  /** Times later than this (seconds) are clamped to it (SOURCE_DATE_EPOCH). */
  clamp?: number;
  /** Data alignment in blocks (the archive block size / 4 KiB; 1 for none). */
  alignBlocks: number;
}

/** What a layout takes, without its encoded metadata ({@link measureExt4}). Counts of blocks. */
export interface Ext4Measure {
  /** One past the last block allocated: the filesystem cannot be smaller than this. */
  highWater: number;
  /** Blocks in use, group metadata included. */
  usedBlocks: number;
}

/** A run of blocks whose bytes the image must produce. */
export type LayoutRegion =
  | { kind: 'bytes'; start: number; len: number; blocks: Uint8Array[] }
  /**
   * Blocks encoded when read (a directory: holding every directory's blocks would cost 4 KiB
   * per directory, 400 MB for a tree 100,000 directories deep). `render` gives all of the
   * object's blocks; this run is blocks [first, first + len) of them.
   */
  | { kind: 'lazy'; start: number; len: number; first: number; render: () => Uint8Array[] }
  | { kind: 'file'; start: number; len: number; content: FileContent; fileOffset: number; fileSize: number }
  | { kind: 'group'; start: number; len: number; group: number };

/** A laid-out filesystem. */
export interface Ext4Layout {
  fs: 'ext4' | 'ext2';
  geometry: Ext4Geometry;
  /** Every non-zero run of the filesystem except group metadata, sorted by start block. */
  regions: LayoutRegion[];
  /** Encoded inodes of each group's table, the used prefix only (the rest is zeros). */
  inodeTables: Uint8Array[];
  /** The group descriptor table, whole blocks. */
  gdt: Uint8Array;
  /** Each group's block and inode bitmaps (computed on demand: a large filesystem has many). */
  bitmaps(group: number): { block: Uint8Array; inode: Uint8Array };
  /** The superblock copy kept in `group` (0: the primary). */
  superblock(group: number): Uint8Array;
  /** Blocks in use (metadata included) and inodes in use. */
  usedBlocks: number;
  usedInodes: number;
  /** One past the last block allocated. */
  highWater: number;
}

/** Mapped logical-to-physical runs of one inode. */
interface Mapped {
  runs: { lblk: number; len: number; pblk: number }[];
}


/** Logical block ranges a file's data occupies. */
function fileBlockRanges(size: number, content: FileContent | undefined): { lblk: number; len: number }[] {
  if (size === 0 || !content) return [];
  const ranges = content.dataRanges ?? [{ offset: 0, length: size }];
  const out: { lblk: number; len: number }[] = [];
  for (const r of ranges) {
    const end = Math.min(size, r.offset + r.length);
    if (end <= r.offset) continue;
    const first = Math.floor(r.offset / BLOCK_SIZE);
    const last = Math.ceil(end / BLOCK_SIZE);
    const prev = out[out.length - 1];
    if (prev && prev.lblk + prev.len >= first) prev.len = Math.max(prev.len, last - prev.lblk);
    else out.push({ lblk: first, len: last - first });
  }
  return out;
}

function mapRuns(mapped: Mapped, lblk: number, runs: BlockRun[]): void {
  let l = lblk;
  for (const r of runs) {
    const prev = mapped.runs[mapped.runs.length - 1];
    if (prev && prev.lblk + prev.len === l && prev.pblk + prev.len === r.start) prev.len += r.len;
    else mapped.runs.push({ lblk: l, len: r.len, pblk: r.start });
    l += r.len;
  }
}

/** Extents of at most 32768 blocks each. */
function toExtents(m: Mapped): WriteExtent[] {
  const out: WriteExtent[] = [];
  for (const r of m.runs) {
    for (let done = 0; done < r.len; done += 32768) out.push({ lblk: r.lblk + done, len: Math.min(32768, r.len - done), pblk: r.pblk + done });
  }
  return out;
}

/** Inode numbering depends on the tree alone: done once per tree however often it is laid out. */
const plans = new WeakMap<SourceInode, ReturnType<typeof planInodes>>();

/**
 * Lays out the tree.
 * @throws UsageError when the tree does not fit in `sizeBytes` (blocks or inodes), a file is
 *   larger than the filesystem type allows, or a label is too long.
 */
export function layoutExt4(root: SourceInode, o: Ext4LayoutOptions): Ext4Layout {
  return layout(root, o, false) as Ext4Layout;
}

/**
 * Allocates the tree's blocks as {@link layoutExt4} would, without encoding any metadata: what
 * `--size auto` needs to try sizes cheaply.
 * @throws as {@link layoutExt4}.
 */
export function measureExt4(root: SourceInode, o: Ext4LayoutOptions): Ext4Measure {
  return layout(root, o, true) as Ext4Measure;
}

function layout(root: SourceInode, o: Ext4LayoutOptions, measure: boolean): Ext4Layout | Ext4Measure {
  const ext4 = o.fs === 'ext4';
  if (o.label.length > 16) throw new UsageError(`a filesystem label holds at most 16 bytes; "${new TextDecoder().decode(o.label)}" has ${o.label.length}`);
  let plan = plans.get(root);
  if (!plan) {
    plan = planInodes(root);
    plans.set(root, plan);
  }
  const { inodes, last } = plan;
  const g = chooseGeometry(o.sizeBytes, last - FIRST_INO + 1, ext4);
  const csumSeed = ext4 ? metadataChecksumSeed(o.uuid, undefined) : undefined;
  const seedOf = (ino: number) => (csumSeed === undefined ? undefined : inodeChecksumSeed(csumSeed, ino, 0));
  const alloc = new BlockAllocator(g);
  const regions: LayoutRegion[] = [];
  const mapped = new Map<number, Mapped>();
  // Measuring allocates the same counts without the bytes (`blocks` is then a count); `render`
  // makes the `count` blocks when they are read.
  const bytesOf = (ino: number, blocks: Uint8Array[] | number | { count: number; render: () => Uint8Array[] }, what: () => string) => {
    const m: Mapped = { runs: [] };
    let l = 0;
    const count = typeof blocks === 'number' ? blocks : Array.isArray(blocks) ? blocks.length : blocks.count;
    for (const run of alloc.allocate(count, what)) {
      if (Array.isArray(blocks)) regions.push({ kind: 'bytes', start: run.start, len: run.len, blocks: blocks.slice(l, l + run.len) });
      else if (typeof blocks !== 'number') regions.push({ kind: 'lazy', start: run.start, len: run.len, first: l, render: blocks.render });
      mapRuns(m, l, [run]);
      l += run.len;
    }
    mapped.set(ino, m);
  };

  // Directories, then long symlinks.
  for (let ino = 1; ino <= last; ino++) {
    const n = inodes[ino];
    if (n?.kind !== 'dir') continue;
    const ents = n.entries!.map((e) => ({ name: e.name, ino: e.ino, type: e.kind }));
    const minBlocks = n.source ? 1 : 4;
    const count = directoryBlocks(ents, BLOCK_SIZE, ext4, minBlocks);
    const render = () => encodeDirectory(ino, n.parent!, ents, BLOCK_SIZE, seedOf(ino), minBlocks);
    bytesOf(ino, measure ? count : { count, render }, () => `directory ${pathOf(n)}`);
  }
  for (let ino = 1; ino <= last; ino++) {
    const n = inodes[ino];
    if (n?.kind !== 'symlink') continue;
    const target = n.source!.target!;
    if (target.length >= I_BLOCK_SIZE) {
      if (target.length >= BLOCK_SIZE) throw new UsageError(`symlink ${pathOf(n)}: a target of ${target.length} bytes is longer than 4095`);
      if (measure) {
        bytesOf(ino, 1, () => `symlink ${pathOf(n)}`);
        continue;
      }
      const block = new Uint8Array(BLOCK_SIZE);
      block.set(target);
      bytesOf(ino, [block], () => `symlink ${pathOf(n)}`);
    }
  }

  // The journal: a superblock, then zeros (free space in the archive).
  const journalBlocks = ext4 ? defaultJournalBlocks(g.blocksCount) : 0;
  if (journalBlocks > 0) {
    alloc.align(o.alignBlocks);
    const m: Mapped = { runs: [] };
    mapRuns(m, 0, alloc.allocate(journalBlocks, 'the journal'));
    if (!measure) regions.push({ kind: 'bytes', start: m.runs[0].pblk, len: 1, blocks: [encodeJournalSuperblock(BLOCK_SIZE, journalBlocks, o.uuid)] });
    mapped.set(JOURNAL_INO, m);
  }

  // File data.
  const maxFileBlocks = ext4 ? 2 ** 32 : 12 + 1024 + 1024 ** 2 + 1024 ** 3;
  let prevBig = true;
  let fill = 0;
  for (let ino = 1; ino <= last; ino++) {
    const n = inodes[ino];
    if (n?.kind !== 'file') continue;
    const src = n.source!;
    const ranges = fileBlockRanges(src.size, src.content);
    const count = ranges.reduce((a, r) => a + r.len, 0);
    if (Math.ceil(src.size / BLOCK_SIZE) > maxFileBlocks) throw new UsageError(`${pathOf(n)}: ${src.size} bytes is more than ${o.fs} can hold in one file`);
    if (count === 0) continue;
    const big = count >= o.alignBlocks;
    if (big || prevBig || fill >= o.alignBlocks || n.pathHash % 8 === 0) {
      alloc.align(o.alignBlocks);
      fill = 0;
    }
    const m: Mapped = { runs: [] };
    for (const r of ranges) {
      const runs = alloc.allocate(r.len, () => pathOf(n));
      let l = r.lblk;
      if (!measure) {
        for (const run of runs) {
          regions.push({ kind: 'file', start: run.start, len: run.len, content: src.content!, fileOffset: l * BLOCK_SIZE, fileSize: src.size });
          l += run.len;
        }
      }
      mapRuns(m, r.lblk, runs);
    }
    mapped.set(ino, m);
    fill += count;
    prevBig = big;
  }

  // Each mapped inode's i_block, and the extent-tree or indirect blocks it needs.
  const iBlocks = new Map<number, InodeBlocks>();
  const order = [...mapped].sort((a, b) => a[0] - b[0]);
  if (measure) {
    for (const [, m] of order) {
      const need = ext4 ? extentTreeBlocks(m.runs.reduce((a, r) => a + Math.ceil(r.len / 32768), 0), BLOCK_SIZE) : blockMapBlocks(m.runs, BLOCK_SIZE);
      if (need > 0) alloc.allocate(need, ext4 ? 'extent trees' : 'indirect blocks');
    }
    let overhead = 0;
    for (let group = 0; group < g.groups; group++) overhead += groupOverhead(g, group);
    return { highWater: alloc.next, usedBlocks: overhead + alloc.allocated };
  }
  for (const [ino, m] of order) {
    if (ext4) {
      const extents = toExtents(m);
      const need = extentTreeBlocks(extents.length, BLOCK_SIZE);
      const tree = need > 0 ? alloc.allocate(need, 'extent trees').flatMap((r) => Array.from({ length: r.len }, (_, i) => r.start + i)) : [];
      const { iBlock, blocks } = encodeExtentTree(extents, tree, BLOCK_SIZE, seedOf(ino));
      tree.forEach((b, i) => regions.push({ kind: 'bytes', start: b, len: 1, blocks: [blocks[i]] }));
      iBlocks.set(ino, { iBlock, dataBlocks: m.runs.reduce((a, r) => a + r.len, 0), treeBlocks: need });
    } else {
      const need = blockMapBlocks(m.runs, BLOCK_SIZE);
      const ind = need > 0 ? alloc.allocate(need, 'indirect blocks').flatMap((r) => Array.from({ length: r.len }, (_, i) => r.start + i)) : [];
      const { iBlock, blocks } = encodeBlockMap(m.runs, ind, BLOCK_SIZE);
      ind.forEach((b, i) => regions.push({ kind: 'bytes', start: b, len: 1, blocks: [blocks[i]] }));
      iBlocks.set(ino, { iBlock, dataBlocks: m.runs.reduce((a, r) => a + r.len, 0), treeBlocks: need });
    }
  }

  // Inode tables: the used prefix of each group's table.
  const tables: Uint8Array[] = [];
  const dirInos: number[] = [];
  for (let group = 0; group < g.groups; group++) {
    const first = group * g.inodesPerGroup + 1;
    const count = Math.max(0, Math.min(g.inodesPerGroup, last - first + 1));
    const table = new Uint8Array(count * INODE_SIZE);
    for (let k = 0; k < count; k++) {
      const ino = first + k;
      const n = inodes[ino];
      const into = table.subarray(k * INODE_SIZE, (k + 1) * INODE_SIZE);
      if (n) {
        if (n.kind === 'dir') dirInos.push(ino);
        encodeInode(inodeFields(n, iBlocks.get(ino), ext4, o.time, o.clamp), ino, INODE_SIZE, csumSeed, into);
      } else if (ino === JOURNAL_INO && journalBlocks > 0) {
        encodeInode(journalFields(iBlocks.get(ino)!, journalBlocks, o.time), ino, INODE_SIZE, csumSeed, into);
      } else {
        table.set(reservedInode(ino, csumSeed), k * INODE_SIZE);
      }
    }
    tables.push(table);
  }
  const groups = new GroupTables({ geometry: g, runs: alloc.runs, lastIno: last, dirInos, csumSeed });

  // Group metadata runs: superblock + GDT copies, bitmaps, the used part of the inode table.
  for (let group = 0; group < g.groups; group++) {
    const start = group * BLOCKS_PER_GROUP;
    const tableBlocks = Math.ceil(tables[group].length / BLOCK_SIZE);
    regions.push({ kind: 'group', start, len: groupBitmapBlock(g, group) - start + 2 + tableBlocks, group });
  }
  regions.sort((a, b) => a.start - b.start);

  const journal = iBlocks.get(JOURNAL_INO);
  let journalBackup: Uint8Array | undefined;
  if (journal && journalBlocks > 0) {
    journalBackup = new Uint8Array(68);
    journalBackup.set(journal.iBlock);
    const size = journalBlocks * BLOCK_SIZE;
    new DataView(journalBackup.buffer).setUint32(60, Math.floor(size / 2 ** 32), true);
    new DataView(journalBackup.buffer).setUint32(64, size % 2 ** 32, true);
  }
  const usedBlocks = groups.usedBlocks;
  const sbFields = {
    inodesCount: g.inodesCount, blocksCount: g.blocksCount, freeBlocks: g.blocksCount - usedBlocks, freeInodes: g.inodesCount - last,
    logBlockSize: LOG_BLOCK_SIZE, blocksPerGroup: BLOCKS_PER_GROUP, inodesPerGroup: g.inodesPerGroup, inodeSize: INODE_SIZE, firstIno: FIRST_INO,
    compat: Compat.DIR_INDEX | (journalBlocks > 0 ? Compat.HAS_JOURNAL : 0),
    incompat: Incompat.FILETYPE | (ext4 ? Incompat.EXTENTS | Incompat.BIT64 : 0),
    roCompat: RoCompat.SPARSE_SUPER | RoCompat.LARGE_FILE | (ext4 ? RoCompat.HUGE_FILE | RoCompat.DIR_NLINK | RoCompat.EXTRA_ISIZE | RoCompat.METADATA_CSUM : 0),
    uuid: o.uuid, label: o.label, time: o.time, hashSeed: o.hashSeed, descSize: ext4 ? g.descSize : 0, logGroupsPerFlex: 0,
    journalInode: journalBlocks > 0 ? JOURNAL_INO : 0, journalBackup, extraIsize: EXTRA_ISIZE, checksum: ext4,
  };
  return {
    fs: o.fs,
    geometry: g,
    regions,
    inodeTables: tables,
    gdt: groups.gdt,
    bitmaps: (group) => groups.bitmaps(group),
    superblock: (group) => {
      if (group !== 0 && !hasSuperblock(group)) throw new RangeError(`group ${group} holds no superblock`);
      return encodeSuperblock({ ...sbFields, blockGroupNr: group });
    },
    usedBlocks,
    usedInodes: last,
    highWater: alloc.next,
  };
}

/** A reserved inode nobody uses, as mke2fs writes it: zeros, i_extra_isize set, checksummed. */
function reservedInode(ino: number, csumSeed: number | undefined): Uint8Array {
  const raw = new Uint8Array(INODE_SIZE);
  if (csumSeed === undefined) return raw;
  const dv = new DataView(raw.buffer);
  dv.setUint16(0x80, EXTRA_ISIZE, true);
  const c = inodeChecksum(inodeChecksumSeed(csumSeed, ino, 0), raw, true);
  dv.setUint16(INODE_CHECKSUM_LO, c & 0xffff, true);
  dv.setUint16(INODE_CHECKSUM_HI, c >>> 16, true);
  return raw;
}
