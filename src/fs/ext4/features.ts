/**
 * Superblock feature flags (ext4 on-disk format, "Super Block": s_feature_compat,
 * s_feature_incompat, s_feature_ro_compat), their mke2fs names, and which incompatible ones this
 * reader can read correctly. Compatible and read-only-compatible features never stop a reader:
 * by definition a read-only mount may ignore them.
 */
import { UnsupportedError } from '../../errors.js';

/** s_feature_compat bits. */
export const Compat = {
  DIR_PREALLOC: 0x1,
  IMAGIC_INODES: 0x2,
  HAS_JOURNAL: 0x4,
  EXT_ATTR: 0x8,
  RESIZE_INODE: 0x10,
  DIR_INDEX: 0x20,
  LAZY_BG: 0x40,
  EXCLUDE_INODE: 0x80,
  EXCLUDE_BITMAP: 0x100,
  SPARSE_SUPER2: 0x200,
  FAST_COMMIT: 0x400,
  STABLE_INODES: 0x800,
  ORPHAN_FILE: 0x1000,
} as const;

/** s_feature_incompat bits. */
export const Incompat = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;

/** s_feature_ro_compat bits. */
export const RoCompat = {
  SPARSE_SUPER: 0x1,
  LARGE_FILE: 0x2,
  BTREE_DIR: 0x4,
  HUGE_FILE: 0x8,
  GDT_CSUM: 0x10,
  DIR_NLINK: 0x20,
  EXTRA_ISIZE: 0x40,
  HAS_SNAPSHOT: 0x80,
  QUOTA: 0x100,
  BIGALLOC: 0x200,
  METADATA_CSUM: 0x400,
  REPLICA: 0x800,
  READONLY: 0x1000,
  PROJECT: 0x2000,
  SHARED_BLOCKS: 0x4000,
  VERITY: 0x8000,
  ORPHAN_PRESENT: 0x10000,
} as const;

const COMPAT_NAMES: Record<number, string> = {
  0x1: 'dir_prealloc', 0x2: 'imagic_inodes', 0x4: 'has_journal', 0x8: 'ext_attr', 0x10: 'resize_inode',
  0x20: 'dir_index', 0x40: 'lazy_bg', 0x80: 'snapshot_bitmap', 0x100: 'exclude_bitmap',
  0x200: 'sparse_super2', 0x400: 'fast_commit', 0x800: 'stable_inodes', 0x1000: 'orphan_file',
};
const INCOMPAT_NAMES: Record<number, string> = {
  0x1: 'compression', 0x2: 'filetype', 0x4: 'needs_recovery', 0x8: 'journal_dev', 0x10: 'meta_bg',
  0x40: 'extent', 0x80: '64bit', 0x100: 'mmp', 0x200: 'flex_bg', 0x400: 'ea_inode', 0x1000: 'dirdata',
  0x2000: 'metadata_csum_seed', 0x4000: 'large_dir', 0x8000: 'inline_data', 0x10000: 'encrypt',
  0x20000: 'casefold',
};
const RO_COMPAT_NAMES: Record<number, string> = {
  0x1: 'sparse_super', 0x2: 'large_file', 0x4: 'btree_dir', 0x8: 'huge_file', 0x10: 'uninit_bg',
  0x20: 'dir_nlink', 0x40: 'extra_isize', 0x80: 'snapshot', 0x100: 'quota', 0x200: 'bigalloc',
  0x400: 'metadata_csum', 0x800: 'replica', 0x1000: 'read-only', 0x2000: 'project',
  0x4000: 'shared_blocks', 0x8000: 'verity', 0x10000: 'orphan_present',
};

/**
 * Incompatible features this reader handles. Not here, so refused: compression (ext2
 * compression patches: data we cannot decode), journal_dev (the device is a journal, not a
 * filesystem), dirdata (extra data in directory entries), and any bit it does not know.
 * ea_inode only moves large extended attribute values into inodes, which we never read.
 */
export const SUPPORTED_INCOMPAT =
  Incompat.FILETYPE | Incompat.RECOVER | Incompat.META_BG | Incompat.EXTENTS | Incompat.BIT64 |
  Incompat.MMP | Incompat.FLEX_BG | Incompat.EA_INODE | Incompat.CSUM_SEED | Incompat.LARGEDIR |
  Incompat.INLINE_DATA | Incompat.ENCRYPT | Incompat.CASEFOLD;

function names(bits: number, table: Record<number, string>): string[] {
  const out: string[] = [];
  for (let bit = 1; bit !== 0 && bit <= bits; bit = (bit << 1) >>> 0) {
    if ((bits & bit) >>> 0 === 0) continue;
    out.push(table[bit] ?? `unknown_0x${bit.toString(16)}`);
  }
  return out;
}

/** Names of the set feature bits, as mke2fs and dumpe2fs spell them. */
export function featureNames(compat: number, incompat: number, roCompat: number): {
  compat: string[]; incompat: string[]; roCompat: string[];
} {
  return { compat: names(compat, COMPAT_NAMES), incompat: names(incompat, INCOMPAT_NAMES), roCompat: names(roCompat, RO_COMPAT_NAMES) };
}

/**
 * Refuses a filesystem that needs an incompatible feature this reader cannot honour.
 * @throws UnsupportedError naming the features.
 */
export function assertSupportedIncompat(incompat: number): void {
  const unsupported = (incompat & ~SUPPORTED_INCOMPAT) >>> 0;
  if (unsupported === 0) return;
  const list = names(unsupported, INCOMPAT_NAMES).join(', ');
  const why = unsupported & Incompat.JOURNAL_DEV ? ' (this is an external journal device, not a filesystem)' : '';
  throw new UnsupportedError(`ext4: unsupported incompatible filesystem feature(s): ${list}${why}`, { stage: 'ext4 superblock' });
}

/** Like blkid: ext4 when a feature ext3 lacks is set, ext3 with a journal, else ext2. */
export function filesystemKind(compat: number, incompat: number, roCompat: number): 'ext2' | 'ext3' | 'ext4' {
  const ext3Incompat = Incompat.FILETYPE | Incompat.RECOVER | Incompat.META_BG;
  const ext3RoCompat = RoCompat.SPARSE_SUPER | RoCompat.LARGE_FILE | RoCompat.BTREE_DIR;
  if ((incompat & ~ext3Incompat) >>> 0 !== 0 || (roCompat & ~ext3RoCompat) >>> 0 !== 0) return 'ext4';
  return compat & Compat.HAS_JOURNAL ? 'ext3' : 'ext2';
}
