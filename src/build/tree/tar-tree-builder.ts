import { CorruptImageError, UsageError } from '../../errors.js';
import { pathText, tarPathComponents } from './tar-path.js';
import type { SourceDirEntry, SourceInode, Timestamp } from './types.js';

/**
 * Assembles a source tree from tar entries in archive order, with the outcome extracting the
 * tar into an empty directory would have: a later entry for a path replaces the earlier one (a
 * directory over a directory only updates its owner, mode and times, keeping its contents), a
 * hard link names the inode its target path holds at that moment, and parent directories the
 * tar does not list are created.
 *
 * Directories created that way (and the root, when the tar has no `./` entry) get mode 0755,
 * owner 0:0 and, for all three times, the latest mtime of any entry in the tar: a time the
 * tar itself determines (so a build is reproducible), and no older than anything inside.
 */
export class TarTreeBuilder {
  readonly root: SourceInode = implicitDir();
  private readonly children = new Map<SourceInode, Map<string, SourceDirEntry>>([[this.root, new Map()]]);
  private readonly implicit = new Set<SourceInode>([this.root]);
  private latest: Timestamp | undefined;

  /** @param source names the tar in messages. */
  constructor(private readonly source: string) {}

  /**
   * Places `inode` at `path` (as stored in the tar).
   * @throws UsageError for a path tarPathComponents refuses, or a non-directory for the root.
   * @throws CorruptImageError when a parent on the path is not a directory.
   */
  put(path: Uint8Array, inode: SourceInode): void {
    const names = tarPathComponents(path, this.source);
    if (!this.latest || compareTime(inode.mtime, this.latest) > 0) this.latest = inode.mtime;
    if (names.length === 0) {
      if (inode.kind !== 'dir') throw new UsageError(`${this.source}: entry '${pathText(path)}' stands for the root but is not a directory`, { archive: this.source, stage: 'read tar' });
      this.updateDir(this.root, inode);
      return;
    }
    const dir = this.children.get(this.parent(names, path))!;
    const name = names[names.length - 1]!;
    const key = keyOf(name);
    const old = dir.get(key);
    if (old?.inode.kind === 'dir' && inode.kind === 'dir') {
      this.updateDir(old.inode, inode);
      return;
    }
    if (inode.kind === 'dir') this.children.set(inode, new Map());
    dir.set(key, { name, inode });
  }

  /**
   * Adds `path` as another name of the inode at `target` (a hard link entry).
   * @throws CorruptImageError naming both when nothing is at `target` yet, or a directory is.
   */
  link(path: Uint8Array, target: Uint8Array): void {
    const inode = this.lookup(tarPathComponents(target, this.source));
    const why = !inode ? 'which is not in the tar before it' : inode.kind === 'dir' ? 'which is a directory' : undefined;
    if (why) {
      throw new CorruptImageError(`${this.source}: entry '${pathText(path)}' is a hard link to '${pathText(target)}', ${why}`, { archive: this.source, stage: 'read tar' });
    }
    this.put(path, inode!);
  }

  /** Sorts every directory's entries by name bytes and dates the implicit directories; returns the root. */
  finish(): SourceInode {
    const time = this.latest ?? { sec: 0, nsec: 0 };
    for (const dir of this.implicit) {
      dir.atime = dir.mtime = dir.ctime = { ...time };
    }
    const stack = [this.root];
    for (let dir = stack.pop(); dir; dir = stack.pop()) {
      const entries = [...this.children.get(dir)!.values()].sort((a, b) => Buffer.compare(a.name, b.name));
      dir.entries = entries;
      for (const e of entries) if (e.inode.kind === 'dir') stack.push(e.inode);
    }
    return this.root;
  }

  /** The directory holding the last of `names`, created (implicitly) where missing. */
  private parent(names: Uint8Array[], path: Uint8Array): SourceInode {
    let dir = this.root;
    for (const name of names.slice(0, -1)) {
      const map = this.children.get(dir)!;
      const key = keyOf(name);
      let next = map.get(key)?.inode;
      if (!next) {
        next = implicitDir();
        this.implicit.add(next);
        this.children.set(next, new Map());
        map.set(key, { name, inode: next });
      } else if (next.kind !== 'dir') {
        throw new CorruptImageError(`${this.source}: entry '${pathText(path)}' lies below '${pathText(name)}', which the tar made a ${next.kind}, not a directory`, { archive: this.source, stage: 'read tar' });
      }
      dir = next;
    }
    return dir;
  }

  private lookup(names: Uint8Array[]): SourceInode | undefined {
    let inode: SourceInode | undefined = this.root;
    for (const name of names) {
      inode = inode.kind === 'dir' ? this.children.get(inode)?.get(keyOf(name))?.inode : undefined;
      if (!inode) return undefined;
    }
    return inode;
  }

  private updateDir(dir: SourceInode, from: SourceInode): void {
    dir.mode = from.mode;
    dir.uid = from.uid;
    dir.gid = from.gid;
    dir.atime = from.atime;
    dir.mtime = from.mtime;
    dir.ctime = from.ctime;
    this.implicit.delete(dir);
  }
}

function implicitDir(): SourceInode {
  const t = { sec: 0, nsec: 0 };
  return { kind: 'dir', mode: 0o755, uid: 0, gid: 0, atime: t, mtime: t, ctime: t, size: 0 };
}

/** A Map key holding a name's bytes exactly (one char per byte). */
function keyOf(name: Uint8Array): string {
  return String.fromCharCode(...name); // names are at most 255 bytes: a safe argument count
}

function compareTime(a: Timestamp, b: Timestamp): number {
  return a.sec - b.sec || a.nsec - b.nsec;
}
