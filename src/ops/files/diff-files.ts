/**
 * `hexz diff --files`: which files were added, removed or changed between the filesystems of
 * two archives (two snapshots of one disk), walking both trees side by side. Content is
 * compared from the archives' index hashes where the files lie at the same place on the disk
 * (no block read: a thin child against its parent pays only for what changed), else read.
 */
import { bytesEqual } from '../../format/digest.js';
import { throwIfAborted } from '../../errors.js';
import type { DirEntry, FileType, FsNode } from '../../fs/ext4/index.js';
import type { Archive } from '../../archive/archive.js';
import { compareContent, type CompareStats } from './compare-content.js';
import { childPath, isSafeName, sortByName } from './file-entry.js';
import { volumeOf, type Volume } from './open-volume.js';
import type { VolumeOptions } from './types.js';

/** Options of {@link diffFiles}. */
export interface DiffFilesOptions extends VolumeOptions {
  /** B's partition when it differs from A's (`partition`); default: chosen as for A. */
  partitionB?: number;
}

/** A file present on one side only. */
export interface FileSummary {
  path: string;
  type: FileType;
  /** Size in bytes. */
  size: number;
}

/** What differs about a file present on both sides. */
export type ChangeKind = 'type' | 'size' | 'mode' | 'owner' | 'target' | 'device' | 'content';

/** A file present on both sides that differs. */
export interface FileChange {
  path: string;
  /** What differs, in this order: type, size, mode, owner, target, device, content. */
  what: ChangeKind[];
  typeA: FileType;
  typeB: FileType;
  sizeA: number;
  sizeB: number;
  /**
   * Bytes of content that differ: for regular files, the bytes of the 4 KiB pages holding a
   * difference plus the part past the shorter file's end; for anything else, the larger size
   * when it changed (else 0).
   */
  changedBytes: number;
}

/** What {@link diffFiles} reports; each list in depth-first order, names sorted by bytes. */
export interface FilesDiffReport {
  /** The partitions compared. */
  partitionA: number;
  partitionB: number;
  added: FileSummary[];
  removed: FileSummary[];
  changed: FileChange[];
  /** Regular files present on both sides whose content was compared. */
  filesCompared: number;
  /** Bytes of content proven equal from index hashes, without being read. */
  bytesByIndex: number;
  /** Bytes of content read to compare (both sides). */
  bytesRead: number;
}

/**
 * Compares the filesystems of `a` (before) and `b` (after), entry by entry. A file is changed
 * when its type, size, mode, owner, symlink target, device numbers or content differ (times
 * and link counts are not compared; directories are compared by type, mode and owner, their
 * content by the entries below them). A file added or removed is listed with everything below it.
 * @param a the archive before (or its {@link Volume}, opened once for several calls).
 * @param b the archive after (or its Volume).
 * @throws UsageError / UnsupportedError as {@link openVolume} for either archive;
 *   CorruptImageError / CorruptArchiveError from what is read; AbortedError.
 * @example
 * const r = await diffFiles(monday, tuesday);
 * for (const c of r.changed) console.log(c.path, c.what.join(','), c.changedBytes);
 */
export async function diffFiles(a: Archive | Volume, b: Archive | Volume, options: DiffFilesOptions = {}): Promise<FilesDiffReport> {
  const volA = await volumeOf(a, options);
  const volB = await volumeOf(b, { ...options, partition: options.partitionB ?? options.partition });
  const report: FilesDiffReport = {
    partitionA: volA.partition.number, partitionB: volB.partition.number,
    added: [], removed: [], changed: [], filesCompared: 0, bytesByIndex: 0, bytesRead: 0,
  };
  const walk = new TreeDiff(volA, volB, comparableHashes(volA.archive, volB.archive), report, options);
  await walk.dirs(volA.fs.rootIno, volB.fs.rootIno, '/');
  return report;
}

/** Equal content hashes mean equal bytes only under one hash: both plain, or one data key. */
function comparableHashes(a: Archive, b: Archive): boolean {
  if (a.encrypted !== b.encrypted) return false;
  return !a.encrypted || (a.dataKey !== undefined && b.dataKey !== undefined && bytesEqual(a.dataKey, b.dataKey));
}

/** The side-by-side walk; one per {@link diffFiles} call. */
class TreeDiff {
  /** Directory inodes entered on each side, so a crafted loop is not walked forever. */
  private readonly seen = { a: new Set<number>(), b: new Set<number>() };
  private readonly stats: CompareStats = { bytesByIndex: 0, bytesRead: 0 };
  private readonly warn: (m: string) => void;
  private readonly signal: AbortSignal | undefined;

  constructor(private readonly a: Volume, private readonly b: Volume, private readonly hashes: boolean, private readonly report: FilesDiffReport, options: VolumeOptions) {
    this.warn = options.onWarning ?? (() => {});
    this.signal = options.signal;
  }

  /** Compares directory `ia` of A with directory `ib` of B, both at `path`. */
  async dirs(ia: number, ib: number, path: string): Promise<void> {
    if (this.seen.a.has(ia) || this.seen.b.has(ib)) return this.warn(`${path}: directory already compared (a directory loop): not entered again`);
    this.seen.a.add(ia);
    this.seen.b.add(ib);
    const [ea, eb] = await Promise.all([this.entries(this.a, ia, path), this.entries(this.b, ib, path)]);
    let i = 0;
    let j = 0;
    while (i < ea.length || j < eb.length) {
      throwIfAborted(this.signal, 'diff');
      const order = i >= ea.length ? 1 : j >= eb.length ? -1 : Buffer.compare(ea[i].nameBytes, eb[j].nameBytes);
      if (order < 0) await this.oneSide('removed', this.a, ea[i++], path);
      else if (order > 0) await this.oneSide('added', this.b, eb[j++], path);
      else await this.both(ea[i++], eb[j++], path);
    }
  }

  private async entries(vol: Volume, ino: number, path: string): Promise<DirEntry[]> {
    return sortByName(await vol.fs.readdir(ino, { signal: this.signal })).filter((e) => {
      if (isSafeName(e.nameBytes)) return true;
      this.warn(`${path}: skipping an entry whose name is not a valid file name (${JSON.stringify(e.name)}, inode ${e.ino})`);
      return false;
    });
  }

  /** An entry only one side has, and (a directory) everything below it. */
  private async oneSide(list: 'added' | 'removed', vol: Volume, e: DirEntry, dir: string): Promise<void> {
    const node = await vol.fs.stat(e.ino, { signal: this.signal });
    const path = childPath(dir, e.name);
    this.report[list].push({ path, type: node.type, size: node.size });
    if (node.type !== 'dir') return;
    const seen = vol === this.a ? this.seen.a : this.seen.b;
    if (seen.has(node.ino)) return;
    seen.add(node.ino);
    for (const child of await this.entries(vol, node.ino, path)) await this.oneSide(list, vol, child, path);
  }

  /** An entry both sides have. */
  private async both(ea: DirEntry, eb: DirEntry, dir: string): Promise<void> {
    const path = childPath(dir, eb.name);
    const [x, y] = await Promise.all([this.a.fs.stat(ea.ino, { signal: this.signal }), this.b.fs.stat(eb.ino, { signal: this.signal })]);
    const what: ChangeKind[] = [];
    let changedBytes = 0;
    if (x.type !== y.type) what.push('type');
    else {
      if (x.type !== 'dir' && x.size !== y.size) what.push('size');
      if (x.mode !== y.mode) what.push('mode');
      if (x.uid !== y.uid || x.gid !== y.gid) what.push('owner');
      if (x.type === 'symlink' && (await this.a.fs.readlink(x.ino, { signal: this.signal })) !== (await this.b.fs.readlink(y.ino, { signal: this.signal }))) what.push('target');
      if ((x.type === 'chardev' || x.type === 'blockdev') && (x.rdev?.major !== y.rdev?.major || x.rdev?.minor !== y.rdev?.minor)) what.push('device');
      if (x.type === 'file') {
        changedBytes = await this.content(x, y);
        if (changedBytes > 0) what.push('content');
      } else if (what.includes('size') || what.includes('target')) changedBytes = Math.max(x.size, y.size);
    }
    if (what.includes('type')) changedBytes = x.type === 'dir' || y.type === 'dir' ? 0 : Math.max(x.size, y.size);
    if (what.length > 0) this.report.changed.push({ path, what, typeA: x.type, typeB: y.type, sizeA: x.size, sizeB: y.size, changedBytes });
    if (x.type === 'dir' && y.type === 'dir') await this.dirs(x.ino, y.ino, path);
    else if (x.type === 'dir') await this.below('removed', this.a, x, path);
    else if (y.type === 'dir') await this.below('added', this.b, y, path);
  }

  /** What lies below a directory that replaced (or was replaced by) another kind of file. */
  private async below(list: 'added' | 'removed', vol: Volume, node: FsNode, path: string): Promise<void> {
    for (const child of await this.entries(vol, node.ino, path)) await this.oneSide(list, vol, child, path);
  }

  private async content(x: FsNode, y: FsNode): Promise<number> {
    this.report.filesCompared++;
    const side = (vol: Volume, node: FsNode) => ({ archive: vol.archive, stream: vol.stream, fs: vol.fs, partitionOffset: vol.partition.offset, node });
    const n = await compareContent(side(this.a, x), side(this.b, y), this.hashes, this.stats, this.signal);
    this.report.bytesByIndex = this.stats.bytesByIndex;
    this.report.bytesRead = this.stats.bytesRead;
    return n;
  }
}
