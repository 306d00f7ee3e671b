/**
 * The source tree `hexz build` lays out into a filesystem: inodes (what a file is) and directory
 * entries (the names pointing at them), independent of where the tree came from (a directory,
 * a tar file). Hard links are one SourceInode reached from several entries. Names are bytes:
 * Linux file names need not be UTF-8, and ext4 stores them as bytes.
 */

/** File types a tree can hold (all of them have an ext4 inode type). */
export type SourceKind = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

/** A point in time: whole seconds since the epoch (may be negative) and nanoseconds 0..999,999,999. */
export interface Timestamp {
  sec: number;
  nsec: number;
}

/** A byte range of a file; lengths and offsets in bytes. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** Where a regular file's bytes come from. */
export interface FileContent {
  /**
   * The ranges that hold data, sorted and disjoint, each a multiple of 4096 bytes in offset
   * (a range may end at the file's size); everything outside them reads as zeros and is
   * stored as a hole. Undefined: the whole file is data.
   */
  readonly dataRanges?: readonly ByteRange[];
  /**
   * Reads `length` bytes at `offset` of the file (always inside its size).
   * @throws StoreError when the source cannot be read or no longer has the bytes it had when
   *   scanned (a file that shrank while building).
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: fills `dest` with the file's bytes from `offset` (always inside its size) with
   * blocking calls, straight into the caller's buffer (no buffer of its own, no copy).
   * @throws StoreError as `read`.
   */
  readInto?(dest: Uint8Array, offset: number): void;
}

/** One inode of the source tree. */
export interface SourceInode {
  kind: SourceKind;
  /** Permission bits including setuid, setgid and sticky (0o7777); the type is `kind`. */
  mode: number;
  uid: number;
  gid: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /** Regular files: bytes. Symlinks: bytes of the target. Others: 0. */
  size: number;
  /** Regular files: where the bytes come from (absent for an empty file). */
  content?: FileContent;
  /** Symlinks: the target, as bytes. */
  target?: Uint8Array;
  /** Character and block devices: the device number. */
  rdev?: { major: number; minor: number };
  /** Directories: their entries, sorted by name bytes (unsigned), without `.` and `..`. */
  entries?: SourceDirEntry[];
}

/** A name in a directory. */
export interface SourceDirEntry {
  /** 1..255 bytes, no `/` and no NUL. */
  name: Uint8Array;
  inode: SourceInode;
}

/** A scanned tree, ready to lay out. */
export interface SourceTree {
  /** The root directory (its own owner, mode and times become the filesystem root's). */
  root: SourceInode;
  /** What was scanned, for messages and --size auto. */
  stats: { files: number; dirs: number; symlinks: number; others: number; hardLinks: number; fileBytes: number; dataBytes: number };
  /** Human-readable name of the source (path, or "stdin"). */
  name: string;
  /** Releases open files and removes any temporary spool file. */
  close(): Promise<void>;
}
