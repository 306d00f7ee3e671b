/**
 * Structure-aware mutations of an ext2/3/4 image's metadata (ext4 on-disk format): superblock
 * fields and feature bits, group descriptors, inode fields and i_block (extent roots, block
 * pointers, inline data, fast symlink targets), extent tree blocks, indirect blocks, directory
 * records and htree nodes, splices of one structure over another, and truncation. Values are
 * aimed at the reader's checks: block numbers of other metadata, of the structure itself, of
 * the last block and just past it; inode numbers of ancestors, of reserved inodes, past the
 * count; lengths at and past each limit.
 *
 * The "crafted" flavour then recomputes every metadata checksum (ext4-reseal.ts), so the
 * structure lies but the checksums agree; "raw" leaves them stale, which a metadata_csum image
 * must refuse at the checksum.
 */
import type { MutationResult } from './mutate-archive.ts';
import type { Ext4Layout, LayoutInode, OwnedBlock } from './ext4-layout.ts';
import { resealExt4 } from './ext4-reseal.ts';
import type { Rng } from './rng.ts';

interface Field { name: string; at: number; size: 1 | 2 | 4 }
const F = (name: string, at: number, size: 1 | 2 | 4): Field => ({ name, at, size });

/** Superblock fields the reader reads (offsets from byte 1024). */
const SB_FIELDS = [
  F('s_inodes_count', 0x0, 4), F('s_blocks_count_lo', 0x4, 4), F('s_free_blocks_count_lo', 0xc, 4), F('s_first_data_block', 0x14, 4),
  F('s_log_block_size', 0x18, 4), F('s_log_cluster_size', 0x1c, 4), F('s_blocks_per_group', 0x20, 4), F('s_inodes_per_group', 0x28, 4),
  F('s_magic', 0x38, 2), F('s_state', 0x3a, 2), F('s_creator_os', 0x48, 4), F('s_rev_level', 0x4c, 4), F('s_first_ino', 0x54, 4),
  F('s_inode_size', 0x58, 2), F('s_feature_compat', 0x5c, 4), F('s_feature_incompat', 0x60, 4), F('s_feature_ro_compat', 0x64, 4),
  F('s_uuid[0]', 0x68, 1), F('s_volume_name', 0x78, 4), F('s_desc_size', 0xfe, 2), F('s_first_meta_bg', 0x104, 4), F('s_blocks_count_hi', 0x150, 4),
  F('s_min_extra_isize', 0x15c, 2), F('s_log_groups_per_flex', 0x174, 1), F('s_checksum_type', 0x175, 1),
  F('s_backup_bgs[0]', 0x24c, 4), F('s_checksum_seed', 0x270, 4),
];
/** Feature bits worth toggling: ones that change how everything else is read. */
const FEATURE_BITS: Record<string, number[]> = {
  s_feature_compat: [0x4, 0x10, 0x20, 0x200],
  s_feature_incompat: [0x1, 0x2, 0x4, 0x8, 0x10, 0x40, 0x80, 0x200, 0x1000, 0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x80000000],
  s_feature_ro_compat: [0x1, 0x2, 0x8, 0x10, 0x200, 0x400, 0x2000],
};
const GD_FIELDS = [
  F('bg_block_bitmap_lo', 0x0, 4), F('bg_inode_bitmap_lo', 0x4, 4), F('bg_inode_table_lo', 0x8, 4), F('bg_flags', 0x12, 2),
  F('bg_itable_unused_lo', 0x1c, 2), F('bg_checksum', 0x1e, 2), F('bg_inode_table_hi', 0x28, 4), F('bg_itable_unused_hi', 0x32, 2),
];
const INODE_FIELDS = [
  F('i_mode', 0x0, 2), F('i_size_lo', 0x4, 4), F('i_dtime', 0x14, 4), F('i_links_count', 0x1a, 2), F('i_blocks_lo', 0x1c, 4),
  F('i_flags', 0x20, 4), F('i_generation', 0x64, 4), F('i_file_acl_lo', 0x68, 4), F('i_size_high', 0x6c, 4), F('i_blocks_high', 0x74, 2),
  F('i_file_acl_high', 0x76, 2), F('i_checksum_lo', 0x7c, 2), F('i_extra_isize', 0x80, 2), F('i_ctime_extra', 0x84, 4), F('i_crtime', 0x90, 4),
];
const INODE_FLAG_BITS = [0x800, 0x1000, 0x40000, 0x80000, 0x200000, 0x10000000, 0x4000];
const FILE_TYPES = [0x1000, 0x2000, 0x4000, 0x6000, 0x8000, 0xa000, 0xc000, 0x0000, 0x3000, 0xf000];

export function mutateExt4(rng: Rng, healthy: Uint8Array, layout: Ext4Layout, flavour: 'raw' | 'crafted'): MutationResult {
  let b = healthy.slice();
  const m = new Mutator(rng, b, layout);
  const owned = (kind: OwnedBlock['kind']) => layout.blocks.filter((x) => x.kind === kind);
  const dirBlocks = owned('dir');
  const dxBlocks = dirBlocks.filter((x) => m.dirBlockKind(x) !== 'leaf');
  const mapped = layout.inodes.some((i) => i.map === 'blocks' && i.ino >= 11);
  // Mostly one change; now and then two or three, so a lie can get past a check that one alone trips.
  const count = rng.weighted([[7, 1], [2, 2], [1, 3]] as const);
  const done: { region: string; description: string; attack?: string }[] = [];
  for (let k = 0; k < count; k++) {
    const last = k === count - 1;
    const op = rng.weighted([
      [4, 'sb'], [3, 'gd'], [7, 'inode'], [6, 'iblock'], [owned('extent').length ? 3 : 0, 'extent-block'],
      [owned('indirect').length ? 2 : 0, 'indirect'], [dirBlocks.length ? 7 : 0, 'dirent'], [dxBlocks.length ? 3 : 0, 'dx'],
      [3, 'splice'], [mapped ? 1.5 : 0, 'amplify'], [4, 'raw'], [last ? 1 : 0, 'truncate'], [last ? 0.5 : 0, 'extend'],
    ] as const);
    switch (op) {
      case 'sb': done.push(m.superblock()); break;
      case 'gd': done.push(m.groupDescriptor()); break;
      case 'inode': done.push(m.inodeField()); break;
      case 'iblock': done.push(m.iBlock()); break;
      case 'extent-block': done.push(m.extentBlock(rng.pick(owned('extent')))); break;
      case 'indirect': done.push(m.indirect(rng.pick(owned('indirect')))); break;
      case 'dirent': done.push(m.dirent(rng.pick(dirBlocks))); break;
      case 'dx': done.push(m.dx(rng.pick(dxBlocks))); break;
      case 'splice': done.push(m.splice()); break;
      case 'amplify': done.push(m.amplify()); break;
      case 'raw': done.push(m.raw()); break;
      case 'truncate': {
        const bs = layout.blockSize;
        const n = Math.min(b.length - 1, rng.pick([0, 1023, 1024, 1500, 2047, 2048, (layout.gdtBlock + 1) * bs - 1, layout.groups[0].inodeTable * bs + 100,
          rng.int(b.length), b.length - bs, b.length - 1]));
        b = b.slice(0, n);
        done.push({ region: 'image', description: `truncate the image to ${n} bytes` });
        break;
      }
      case 'extend': {
        const n = rng.pick([1, 512, layout.blockSize, 1 << 20]);
        const bigger = new Uint8Array(b.length + n);
        bigger.set(b);
        if (rng.chance(0.5)) bigger.set(rng.bytes(n), b.length);
        b = bigger;
        done.push({ region: 'image', description: `append ${n} bytes` });
        break;
      }
    }
  }
  if (flavour === 'crafted') resealExt4(b, layout);
  return {
    bytes: b, region: done.map((d) => d.region).join(' + '), attack: done.map((d) => d.attack).filter(Boolean).join('+') || undefined, reseal: false,
    description: `${done.map((d) => d.description).join('; ')}${flavour === 'crafted' ? '; checksums recomputed' : ''}`,
  };
}

/** The mutations, over one copy of the image. */
class Mutator {
  private readonly dv: DataView;
  private readonly bs: number;

  constructor(private readonly rng: Rng, private readonly b: Uint8Array, private readonly L: Ext4Layout) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.bs = L.blockSize;
  }

  private get(at: number, size: number): number {
    return size === 1 ? this.b[at] : size === 2 ? this.dv.getUint16(at, true) : this.dv.getUint32(at, true);
  }

  private set(at: number, size: number, v: number): number {
    const x = size === 4 ? v >>> 0 : v & (size === 2 ? 0xffff : 0xff);
    if (size === 1) this.b[at] = x;
    else if (size === 2) this.dv.setUint16(at, x, true);
    else this.dv.setUint32(at, x, true);
    return x;
  }

  /** Values at the edges of any field of `size` bytes whose value is `cur`. */
  private anyValue(cur: number, size: number): number {
    const top = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    return this.rng.pick([0, 1, 2, 3, cur + 1, cur - 1, cur * 2, cur >>> 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, top - 1, top, this.rng.next()]);
  }

  /** Block numbers that point somewhere the reader must notice (or at other real metadata). */
  private blockValue(self?: number): number {
    const L = this.L;
    const it = L.groups[0].inodeTable;
    const meta = L.blocks.length ? this.rng.pick(L.blocks).block : it;
    return this.rng.pick([0, 1, 2, Math.floor(1024 / this.bs), L.gdtBlock, it, it + 1, meta, meta, self ?? meta, L.blocksCount - 1, L.blocksCount,
      L.blocksCount + 1, 0x7fffffff, 0xffffffff, this.rng.int(L.blocksCount)]);
  }

  /** Inode numbers: reserved ones, past the count, real files and directories. */
  private inoValue(self?: number): number {
    const L = this.L;
    const dirs = L.inodes.filter((i) => i.type === 'dir');
    return this.rng.pick([0, 1, 2, 3, 5, 7, 8, 11, L.inodesCount, L.inodesCount + 1, 0xffffffff, this.rng.pick(L.inodes).ino,
      this.rng.pick(dirs).ino, self ?? 2, this.rng.range(1, L.inodesCount)]);
  }

  private pickInode(filter?: (i: LayoutInode) => boolean): LayoutInode {
    const pool = this.L.inodes.filter((i) => i.ino === 2 || i.ino >= 11).filter(filter ?? (() => true));
    return this.rng.pick(pool.length ? pool : this.L.inodes);
  }

  superblock() {
    const f = this.rng.pick(SB_FIELDS);
    const at = 1024 + f.at;
    const cur = this.get(at, f.size);
    const bits = FEATURE_BITS[f.name];
    let v: number;
    if (bits && this.rng.chance(0.8)) v = cur ^ this.rng.pick(bits);
    else if (f.name === 's_log_block_size' || f.name === 's_log_cluster_size') v = this.rng.pick([0, 1, 2, 3, 6, 7, 16, 22, 0xffffffff]);
    else if (f.name === 's_inode_size') v = this.rng.pick([0, 64, 127, 128, 129, 256, 512, 1024, this.bs, this.bs * 2, 0xffff]);
    else if (f.name === 's_desc_size') v = this.rng.pick([0, 16, 32, 63, 64, 65, 128, 1024, 2048, 0xffff]);
    else v = this.anyValue(cur, f.size);
    const x = this.set(at, f.size, v);
    return { region: 'superblock', description: `superblock ${f.name} 0x${cur.toString(16)} → 0x${x.toString(16)}` };
  }

  groupDescriptor() {
    const L = this.L;
    const g = this.rng.int(L.groupCount);
    const fields = GD_FIELDS.filter((f) => f.at + f.size <= L.descSize);
    const f = this.rng.pick(fields);
    const at = L.gdtBlock * this.bs + g * L.descSize + f.at;
    const cur = this.get(at, f.size);
    const v = f.name.startsWith('bg_inode_table') ? (f.name.endsWith('hi') ? this.rng.pick([0, 1, 0xffff]) : this.blockValue(cur))
      : f.name === 'bg_flags' ? cur ^ this.rng.pick([1, 2, 4])
      : f.name.startsWith('bg_itable_unused') ? this.rng.pick([0, 1, L.inodesPerGroup - 1, L.inodesPerGroup, L.inodesPerGroup + 1, 0xffff])
      : this.anyValue(cur, f.size);
    const x = this.set(at, f.size, v);
    return { region: `group descriptor ${g}`, description: `group ${g} ${f.name} 0x${cur.toString(16)} → 0x${x.toString(16)}` };
  }

  inodeField() {
    const node = this.pickInode();
    const f = this.rng.pick(INODE_FIELDS.filter((x) => x.at + x.size <= this.L.inodeSize));
    const at = node.offset + f.at;
    const cur = this.get(at, f.size);
    const bs = this.bs;
    let v: number;
    switch (f.name) {
      case 'i_mode': v = this.rng.pick(FILE_TYPES) | (cur & 0o7777); break;
      case 'i_size_lo': v = this.rng.pick([0, 1, 11, 59, 60, 61, bs - 1, bs, bs + 1, cur + 1, cur - 1, cur + bs, 0x7fffffff, 0x80000000, 0xffffffff]); break;
      case 'i_size_high': v = this.rng.pick([0, 1, 2, 0x100, 0xffff, 0xffffffff]); break;
      case 'i_flags': v = cur ^ this.rng.pick(INODE_FLAG_BITS); break;
      case 'i_links_count': v = this.rng.pick([0, 1, 2, 0xffff]); break;
      case 'i_dtime': v = this.rng.pick([0, 1, 0xffffffff]); break;
      case 'i_blocks_lo': v = this.rng.pick([0, 1, 2, bs / 512, cur + 1, cur - 1, 0xffffffff]); break;
      case 'i_extra_isize': v = this.rng.pick([0, 2, 4, 28, 32, 0x7c, this.L.inodeSize - 128, this.L.inodeSize - 127, this.L.inodeSize - 124, 0xfffc]); break;
      case 'i_file_acl_lo': v = this.blockValue(); break;
      default: v = this.anyValue(cur, f.size);
    }
    const x = this.set(at, f.size, v);
    return { region: `inode ${node.ino}`, description: `inode ${node.ino} (${node.type}, ${node.map}) ${f.name} 0x${cur.toString(16)} → 0x${x.toString(16)}` };
  }

  /** i_block as what it holds: an extent root, block pointers, inline bytes or a symlink target. */
  iBlock() {
    const node = this.pickInode((i) => i.map !== 'none');
    const base = node.offset + 0x28;
    const where = `inode ${node.ino} (${node.type}) i_block`;
    if (node.map === 'extents') return { region: `inode ${node.ino}`, description: `${where}: ${this.extentNode(base, 4, node.ino)}` };
    if (node.map === 'blocks') {
      const i = this.rng.pick([0, 1, 11, 12, 13, 14, this.rng.int(15)]);
      const cur = this.get(base + i * 4, 4);
      const x = this.set(base + i * 4, 4, this.blockValue(cur));
      return { region: `inode ${node.ino}`, description: `${where}[${i}] ${cur} → ${x}` };
    }
    if (node.map === 'inline' && this.rng.chance(0.5)) return this.inlineXattr(node);
    if (node.map === 'inline' && node.type === 'dir' && this.rng.chance(0.5)) {
      const cur = this.get(base, 4);
      const x = this.set(base, 4, this.inoValue(node.ino));
      return { region: `inode ${node.ino}`, description: `${where}: inline directory parent ${cur} → ${x}` };
    }
    const at = this.rng.int(60);
    const v = this.rng.pick([0, 0x2f, 0x2e, 0xff, 0x0c, this.rng.next() & 0xff]);
    this.b[base + at] = v;
    return { region: `inode ${node.ino}`, description: `${where} byte ${at} := 0x${v.toString(16)}` };
  }

  /** A field of the system.data xattr that holds the rest of an inline file or directory. */
  private inlineXattr(node: LayoutInode) {
    const extra = 128 + this.get(node.offset + 0x80, 2);
    const space = node.offset + extra;
    const fields: [string, number, 1 | 2 | 4][] = [['h_magic', 0, 4], ['e_name_len', 4, 1], ['e_name_index', 5, 1], ['e_value_offs', 6, 2], ['e_value_inum', 8, 4], ['e_value_size', 12, 4], ['e_name[0]', 20, 1]];
    const [name, off, size] = this.rng.pick(fields);
    if (extra + off + size > this.L.inodeSize) return { region: `inode ${node.ino}`, description: `inode ${node.ino}: no room for an xattr (unchanged)` };
    const cur = this.get(space + off, size);
    const v = name === 'e_value_offs' ? this.rng.pick([0, 4, cur + 4, cur - 4, this.L.inodeSize - extra, this.L.inodeSize, 0xfffc, 0xffff])
      : name === 'e_value_size' ? this.rng.pick([0, 1, cur + 1, cur + 4, this.L.inodeSize, 0x7fffffff, 0xffffffff])
      : this.anyValue(cur, size);
    const x = this.set(space + off, size, v);
    return { region: `inode ${node.ino}`, description: `inode ${node.ino} (${node.type}) in-inode xattr ${name} 0x${cur.toString(16)} → 0x${x.toString(16)}` };
  }

  /** A header field or entry field of the extent node at `at` holding up to `capacity` entries. */
  private extentNode(at: number, capacity: number, self: number): string {
    const entries = this.get(at + 2, 2);
    const depth = this.get(at + 6, 2);
    if (this.rng.chance(0.35) || entries === 0) {
      const [name, off] = this.rng.pick([['eh_magic', 0], ['eh_entries', 2], ['eh_max', 4], ['eh_depth', 6]] as const);
      const cur = this.get(at + off, 2);
      const v = name === 'eh_magic' ? this.rng.pick([0, 0xf30b, 0x0af3])
        : name === 'eh_depth' ? this.rng.pick([0, 1, 2, depth + 1, 5, 6, 0xffff])
        : this.rng.pick([0, 1, capacity - 1, capacity, capacity + 1, cur + 1, cur - 1, 340, 0xffff]);
      const x = this.set(at + off, 2, v);
      return `extent header ${name} ${cur} → ${x}`;
    }
    const i = this.rng.pick([0, entries - 1, entries, this.rng.int(entries)]);
    const e = at + 12 + Math.min(i, capacity - 1) * 12;
    const k = Math.min(i, capacity - 1);
    if (depth === 0) {
      const [name, off, size] = this.rng.pick([['ee_block', 0, 4], ['ee_len', 4, 2], ['ee_start_hi', 6, 2], ['ee_start_lo', 8, 4]] as const);
      const cur = this.get(e + off, size);
      const v = name === 'ee_block' ? this.rng.pick([0, 1, cur + 1, cur - 1, this.get(e - 12, 4), 0x7fffffff, 0xfffffffe, 0xffffffff])
        : name === 'ee_len' ? this.rng.pick([0, 1, cur + 1, cur * 2, 32768, 32769, 65535, 0x8000 + cur])
        : name === 'ee_start_hi' ? this.rng.pick([0, 1, 0xffff])
        : this.blockValue(self);
      const x = this.set(e + off, size, v);
      return `extent ${k} ${name} ${cur} → ${x}`;
    }
    const [name, off, size] = this.rng.pick([['ei_block', 0, 4], ['ei_leaf_lo', 4, 4], ['ei_leaf_hi', 8, 2]] as const);
    const cur = this.get(e + off, size);
    const v = name === 'ei_block' ? this.rng.pick([0, 1, cur + 1, cur - 1, 0xffffffff]) : name === 'ei_leaf_hi' ? this.rng.pick([0, 1, 0xffff]) : this.blockValue();
    const x = this.set(e + off, size, v);
    return `extent index ${k} ${name} ${cur} → ${x}`;
  }

  extentBlock(ob: OwnedBlock) {
    const at = ob.block * this.bs;
    return { region: `extent block ${ob.block}`, description: `extent block ${ob.block} of inode ${ob.ino}: ${this.extentNode(at, Math.floor((this.bs - 12) / 12), ob.block)}` };
  }

  indirect(ob: OwnedBlock) {
    const at = ob.block * this.bs;
    const n = this.bs / 4;
    const used: number[] = [];
    for (let i = 0; i < n; i++) if (this.get(at + i * 4, 4)) used.push(i);
    const i = used.length && this.rng.chance(0.7) ? this.rng.pick(used) : this.rng.int(n);
    const cur = this.get(at + i * 4, 4);
    const x = this.set(at + i * 4, 4, this.rng.chance(0.2) ? ob.block : this.blockValue(ob.block));
    return { region: `indirect block ${ob.block}`, description: `indirect block ${ob.block} of inode ${ob.ino} [${i}] ${cur} → ${x}` };
  }

  /** What a healthy directory block is: htree root, htree node or leaf. */
  dirBlockKind(ob: OwnedBlock): 'leaf' | 'dx-root' | 'dx-node' {
    const node = this.L.inodes.find((i) => i.ino === ob.ino);
    if (!node || !(node.flags & 0x1000)) return 'leaf';
    const at = ob.block * this.bs;
    if (ob.index === 0) return 'dx-root';
    return this.get(at, 4) === 0 && this.get(at + 4, 2) === this.bs ? 'dx-node' : 'leaf';
  }

  /** A field of one record of a directory block (leaf, or the '.'/'..' records of an htree root). */
  dirent(ob: OwnedBlock) {
    const at = ob.block * this.bs;
    const recs: number[] = [];
    for (let off = 0; off + 8 <= this.bs && recs.length < 4096;) {
      recs.push(off);
      const len = this.get(at + off + 4, 2);
      if (len < 8) break;
      off += len;
    }
    const r = this.rng.pick(recs);
    const p = at + r;
    const recLen = this.get(p + 4, 2);
    const nameLen = this.b[p + 6];
    const fieldName = this.rng.pick(['inode', 'inode', 'rec_len', 'rec_len', 'name_len', 'file_type', 'name']);
    let d: string;
    if (fieldName === 'inode') {
      const cur = this.get(p, 4);
      const x = this.set(p, 4, this.inoValue(ob.ino));
      d = `inode ${cur} → ${x}`;
    } else if (fieldName === 'rec_len') {
      const x = this.set(p + 4, 2, this.rng.pick([0, 4, 8, 12, 13, recLen - 4, recLen + 4, recLen + 12, this.bs - r, this.bs - r + 4, this.bs, 0xfffc, 0xffff]));
      d = `rec_len ${recLen} → ${x}`;
    } else if (fieldName === 'name_len') {
      const x = this.set(p + 6, 1, this.rng.pick([0, 1, nameLen + 1, recLen - 8, recLen - 7, 255]));
      d = `name_len ${nameLen} → ${x}`;
    } else if (fieldName === 'file_type') {
      const x = this.set(p + 7, 1, this.rng.pick([0, 1, 2, 3, 5, 7, 8, 0xde, 0xff]));
      d = `file_type → ${x}`;
    } else {
      const k = this.rng.int(Math.max(1, nameLen));
      const v = this.rng.pick([0x2f, 0, 0x2e, 0xff, 0x80]);
      this.b[p + 8 + k] = v;
      d = `name byte ${k} := 0x${v.toString(16)}`;
    }
    return { region: `directory block ${ob.block}`, description: `directory inode ${ob.ino} block ${ob.index} (${ob.block}) record at ${r}: ${d}`, attack: fieldName === 'inode' ? 'dirent-ino' : undefined };
  }

  /** An htree root or node: dx_root_info, count/limit, an index entry's hash or block. */
  dx(ob: OwnedBlock) {
    const at = ob.block * this.bs;
    const root = this.dirBlockKind(ob) === 'dx-root';
    const countAt = root ? 0x20 : 8;
    const count = this.get(at + countAt + 2, 2);
    const fields: [string, number, 1 | 2 | 4][] = [['limit', countAt, 2], ['count', countAt + 2, 2], ['block[0]', countAt + 4, 4]];
    if (root) fields.push(['hash_version', 0x1c, 1], ['info_length', 0x1d, 1], ['indirect_levels', 0x1e, 1], ['reserved_zero', 0x18, 4]);
    const i = 1 + this.rng.int(Math.max(1, count - 1));
    fields.push([`entry ${i} hash`, countAt + i * 8, 4], [`entry ${i} block`, countAt + i * 8 + 4, 4]);
    const [name, off, size] = this.rng.pick(fields);
    const cur = this.get(at + off, size);
    const dirBlocks = this.L.blocks.filter((x) => x.ino === ob.ino && x.kind === 'dir').length;
    const v = name.includes('block') ? this.rng.pick([0, 1, ob.index ?? 0, dirBlocks - 1, dirBlocks, dirBlocks + 1, 0xffffffff])
      : name === 'indirect_levels' ? this.rng.pick([0, 1, 2, 3, 4, 0xff])
      : name === 'limit' || name === 'count' ? this.rng.pick([0, 1, cur - 1, cur + 1, (this.bs - countAt) / 8, 0xffff])
      : this.anyValue(cur, size);
    const x = this.set(at + off, size, v);
    return { region: `directory block ${ob.block}`, description: `htree ${root ? 'root' : 'node'} of directory inode ${ob.ino} (block ${ob.block}) ${name} ${cur} → ${x}` };
  }

  /** One structure copied over another, or two swapped. */
  splice() {
    const L = this.L;
    const bs = this.bs;
    const kind = this.rng.pick(['inode', 'iblock-swap', 'dir-block', 'owned-over-owned', 'owned-over-table']);
    if (kind === 'inode' || kind === 'iblock-swap') {
      const a = this.pickInode();
      const c = this.pickInode();
      if (kind === 'inode') {
        this.b.copyWithin(c.offset, a.offset, a.offset + L.inodeSize);
        return { region: `inode ${c.ino}`, description: `inode ${a.ino} (${a.type}) copied over inode ${c.ino} (${c.type})`, attack: 'inode-copy' };
      }
      const tmp = this.b.slice(a.offset + 0x28, a.offset + 0x28 + 60);
      this.b.copyWithin(a.offset + 0x28, c.offset + 0x28, c.offset + 0x28 + 60);
      this.b.set(tmp, c.offset + 0x28);
      return { region: `inode ${a.ino}`, description: `i_block of inodes ${a.ino} (${a.type}) and ${c.ino} (${c.type}) swapped` };
    }
    const pool = kind === 'dir-block' ? L.blocks.filter((x) => x.kind === 'dir') : L.blocks;
    if (pool.length < 2) return this.raw();
    const src = this.rng.pick(pool);
    if (kind === 'owned-over-table') {
      const dst = L.groups[0].inodeTable + this.rng.int(Math.max(1, Math.ceil((L.inodesPerGroup * L.inodeSize) / bs)));
      this.b.copyWithin(dst * bs, src.block * bs, (src.block + 1) * bs);
      return { region: 'inode table', description: `${src.kind} block ${src.block} (inode ${src.ino}) copied over inode table block ${dst}` };
    }
    const dst = this.rng.pick(pool);
    this.b.copyWithin(dst.block * bs, src.block * bs, (src.block + 1) * bs);
    return { region: `${dst.kind} block ${dst.block}`, description: `${src.kind} block ${src.block} (inode ${src.ino}) copied over ${dst.kind} block ${dst.block} (inode ${dst.ino})` };
  }

  /**
   * A block-mapped file or directory made huge out of two or three blocks: its double (or
   * triple) indirect pointer leads to free blocks at the end of the filesystem filled with
   * pointers to each other and, at the bottom, to one real block of its own (or of a directory),
   * so millions of logical blocks all map to that block. Every pointer is inside the
   * filesystem; only the work a reader is willing to do bounds what follows.
   */
  amplify() {
    const L = this.L;
    const perBlock = this.bs / 4;
    // Mostly a directory: a listing holds what it reads, a file read is bounded by the caller.
    const type = this.rng.chance(0.7) ? 'dir' : 'file';
    const node = this.pickInode((i) => i.map === 'blocks' && i.type === type);
    const dirs = L.blocks.filter((x) => x.kind === 'dir');
    const own = L.blocks.filter((x) => x.ino === node.ino && x.kind === 'dir');
    const leaf = own.length ? this.rng.pick(own).block : dirs.length ? this.rng.pick(dirs).block : L.groups[0].inodeTable;
    const [a, b2, c] = [L.blocksCount - 2, L.blocksCount - 3, L.blocksCount - 4];
    const fill = (block: number, value: number) => { for (let i = 0; i < perBlock; i++) this.dv.setUint32(block * this.bs + i * 4, value, true); };
    fill(b2, leaf);
    fill(a, b2);
    const triple = this.rng.chance(0.4);
    const base = node.offset + 0x28;
    if (triple) { fill(c, a); this.dv.setUint32(base + 14 * 4, c, true); } else this.dv.setUint32(base + 13 * 4, a, true);
    const blocks = 12 + perBlock + perBlock ** 2 + (triple ? perBlock ** 3 : 0);
    const size = Math.min(0xffffffff - (this.bs - 1), blocks * this.bs);
    this.dv.setUint32(node.offset + 0x4, this.rng.chance(0.7) ? size : this.rng.pick([0x7fffffff, (12 + perBlock + 2) * this.bs]), true);
    return {
      region: `inode ${node.ino}`, attack: 'block-map-amplify',
      description: `inode ${node.ino} (${node.type}) given a ${triple ? 'triple' : 'double'} indirect tree of blocks ${triple ? `${c}→` : ''}${a}→${b2} all pointing at block ${leaf}, i_size ${this.dv.getUint32(node.offset + 0x4, true)}`,
    };
  }

  /** Flipped bits or set bytes anywhere in one metadata structure. */
  raw() {
    const L = this.L;
    const bs = this.bs;
    const which = this.rng.weighted([[3, 'superblock'], [2, 'descriptors'], [4, 'inode'], [L.blocks.length ? 4 : 0, 'block']] as const);
    let start: number;
    let length: number;
    let name: string;
    if (which === 'superblock') { start = 1024; length = 1024; name = 'superblock'; }
    else if (which === 'descriptors') { start = L.gdtBlock * bs; length = L.groupCount * L.descSize; name = 'group descriptors'; }
    else if (which === 'inode') { const n = this.pickInode(); start = n.offset; length = L.inodeSize; name = `inode ${n.ino}`; }
    else { const ob = this.rng.pick(L.blocks); start = ob.block * bs; length = bs; name = `${ob.kind} block ${ob.block} (inode ${ob.ino})`; }
    const n = this.rng.pick([1, 1, 2, 3, 8, 32]);
    const where: number[] = [];
    const set = this.rng.chance(0.3);
    for (let i = 0; i < n; i++) {
      const p = start + this.rng.int(length);
      if (set) this.b[p] = this.rng.pick([0, 0xff, this.rng.next() & 0xff]);
      else this.b[p] ^= 1 << this.rng.int(8);
      where.push(p - start);
    }
    return { region: name, description: `${set ? 'set' : 'flip'} ${n} byte(s) of ${name} at +${where.slice(0, 8).join(',+')}` };
  }
}
