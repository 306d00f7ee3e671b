/**
 * What the file-level operations over a disk archive (`listFiles`, `readFile`, `getFiles`,
 * `diffFiles`) take and hand out: plain data, printable as JSON.
 */
import type { FileType, Timestamp } from '../../fs/ext4/index.js';
import type { FilesystemKind } from '../../fs/detect-filesystem.js';
import type { Partition, PartitionTableKind } from '../../fs/partition/types.js';
import type { StreamName } from '../../format/constants.js';

export type { FileType, Timestamp } from '../../fs/ext4/index.js';

/** Which filesystem of an archive to open: options every file operation takes. */
export interface VolumeOptions {
  /** The stream holding the disk (default `disk`). */
  stream?: StreamName;
  /**
   * The partition number as Linux numbers them (GPT entry 1.., MBR 1–4 and 5.. for logical
   * ones, 0 for a disk without a table). Default: the only partition holding ext2/3/4.
   */
  partition?: number;
  /** Told about what was read past: an unclean filesystem, a damaged primary GPT. */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

/** One partition of the disk (as the table gives it), with what it holds. */
export interface PartitionSummary extends Pick<Partition, 'number' | 'offset' | 'size' | 'type' | 'typeName' | 'name'> {
  /** What the partition holds, by its magic numbers (`ext4`, `vfat`, `swap`, `unknown`, …). */
  filesystem: FilesystemKind;
  /** Filesystem label as blkid prints it. */
  label?: string;
  /** Filesystem UUID as blkid prints it. */
  uuid?: string;
  /** True for an MBR extended container (it holds the logical partitions, no filesystem). */
  extended?: boolean;
}

/** The disk's partition table as {@link PartitionSummary} rows. */
export interface DiskLayout {
  /** `gpt`, `mbr`, or `none` (a filesystem on the whole disk). */
  table: PartitionTableKind;
  partitions: PartitionSummary[];
}

/** One file of a listing, as `ls -l` / stat(2) would show it. */
export interface FileEntry {
  /** Absolute path inside the filesystem (`/etc/hostname`); names decoded as UTF-8. */
  path: string;
  type: FileType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Size in bytes (a symlink: its target's length; 0 for devices and fifos). */
  size: number;
  /** Space allocated in 512-byte units (st_blocks): less than size/512 for a sparse file. */
  blocks: number;
  /** Inode number. */
  ino: number;
  /** Hard link count. */
  nlink: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /** A symlink's target. */
  target?: string;
  /** A device node's numbers. */
  rdev?: { major: number; minor: number };
}

/** Bytes done and to do while restoring (regular files' sizes, holes included). */
export interface GetProgress {
  bytesDone: number;
  bytesTotal: number;
}
