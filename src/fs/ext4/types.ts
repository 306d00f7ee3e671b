/**
 * What the ext2/ext3/ext4 reader hands out: file nodes, directory entries, a file's extent map
 * and a summary of the filesystem. Plain data, no methods.
 */
import type { FsWarning } from '../types.js';

/** Kinds of inode (i_mode & S_IFMT, ext4 on-disk format: "Inode Table", i_mode). */
export type FileType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** A point in time as stored: seconds since the epoch (may be negative) and nanoseconds. */
export interface Timestamp {
  sec: number;
  nsec: number;
}

/** One inode as stat(2) would show it. */
export interface FsNode {
  /** Inode number (the root directory is 2). */
  ino: number;
  type: FileType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Size in bytes (for a symlink: the target's length; 0 for devices, fifos and sockets). */
  size: number;
  /** Hard link count as stored (a directory with dir_nlink past 65,000 links shows 1). */
  nlink: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /** Creation time, present only when the inode is large enough to hold it. */
  crtime?: Timestamp;
  /** Device number of a character or block device. */
  rdev?: { major: number; minor: number };
  /** i_flags as stored (EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL, EXT4_IMMUTABLE_FL, ...). */
  flags: number;
  /** Space allocated, in 512-byte units like stat(2)'s st_blocks (huge_file counts converted). */
  blocks: number;
  /** i_generation (NFS file handle generation; also seeds the inode's checksums). */
  generation: number;
}

/** One entry of a directory (never `.` or `..`). */
export interface DirEntry {
  /** The name decoded as UTF-8, invalid sequences replaced by U+FFFD. */
  name: string;
  /** The name exactly as stored on disk. */
  nameBytes: Uint8Array;
  ino: number;
  type: FileType;
}

/** One piece of a file's map: a run of bytes that is either on the device or a hole. */
export interface FileExtent {
  /** Byte offset in the file. */
  offset: number;
  /** Length in bytes (the last piece ends at the file size). */
  length: number;
  /**
   * Byte offset on the device where these bytes are stored, or null for a hole (never written,
   * or allocated but unwritten: both read as zeros).
   */
  deviceOffset: number | null;
}

/** Feature names as mke2fs(8) spells them; unknown bits as `unknown_0x...`. */
export interface Ext4Features {
  compat: string[];
  incompat: string[];
  roCompat: string[];
}

/** A summary of the filesystem from its superblock. */
export interface Ext4Info {
  /** ext4 when it uses a feature ext3 lacks, ext3 when it has a journal, else ext2 (as blkid). */
  kind: 'ext2' | 'ext3' | 'ext4';
  /** Volume label (s_volume_name), '' when unset. */
  label: string;
  /** Filesystem UUID, lower-case 8-4-4-4-12 hex. */
  uuid: string;
  /** Block size in bytes (1 KiB to 64 KiB). */
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  freeBlocks: number;
  freeInodes: number;
  /** Bytes per inode table entry (128, 256, ...). */
  inodeSize: number;
  /** Cleanly unmounted, no errors recorded and no journal recovery pending. */
  clean: boolean;
  features: Ext4Features;
}

/** Options of {@link Ext4Filesystem.open}. */
export interface Ext4OpenOptions {
  /** Told about what the reader meets and goes on from (not cleanly unmounted, journal not replayed). */
  onWarning?: FsWarning;
  signal?: AbortSignal;
  /** Bytes of metadata blocks (inode tables, directories, extent and indirect blocks) kept; default 4 MiB. */
  metadataCacheBytes?: number;
}

/** Options of calls that read. */
export interface ReadOptions {
  signal?: AbortSignal;
}

/** Options of {@link Ext4Filesystem.lookup}. */
export interface LookupOptions extends ReadOptions {
  /**
   * Follow a symlink in the last component too (stat(2)); default false (lstat(2)): the link
   * itself is returned. Symlinks in earlier components are always followed.
   */
  followFinal?: boolean;
}
