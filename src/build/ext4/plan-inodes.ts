/**
 * Numbers the inodes of a source tree for the filesystem writer and gathers each directory's
 * entries. Numbering is deterministic and breadth first: the root is 2, lost+found 11, then
 * each directory's entries get consecutive numbers (in name order), so a directory listing
 * reads neighbouring inodes. Hard links share their first number.
 */
import { UsageError } from '../../errors.js';
import type { SourceInode, SourceKind } from '../tree/types.js';
import { FIRST_INO } from './ext4-geometry.js';

/** The root directory's inode number. */
export const ROOT_INO = 2;
/** The journal's inode number. */
export const JOURNAL_INO = 8;
/** Most hard links an ext4 inode can have (EXT4_LINK_MAX). */
const LINK_MAX = 65000;

/** One numbered inode. */
export interface NumberedInode {
  ino: number;
  kind: SourceKind;
  /** The source inode (absent for a lost+found the writer adds). */
  source?: SourceInode;
  /** The first path it was reached by, as bytes (for the allocator's grouping). */
  path: Uint8Array;
  /** Directory entries pointing at it (directories: subdirectories + 2). */
  links: number;
  /** Directories: the parent's number and the entries (sorted by name, `.`/`..` not included). */
  parent?: number;
  entries?: { name: Uint8Array; ino: number; kind: SourceKind }[];
}

const LOST_FOUND = new TextEncoder().encode('lost+found');

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function joinPath(dir: Uint8Array, name: Uint8Array): Uint8Array {
  const out = new Uint8Array(dir.length + 1 + name.length);
  out.set(dir);
  out[dir.length] = 0x2f;
  out.set(name, dir.length + 1);
  return out;
}

/**
 * Numbers every inode under `root` (adding /lost+found when the tree has none).
 * @returns the inodes indexed by number (entries 0..10 other than the root are undefined) and
 *   the highest number used.
 * @throws UsageError for a file with more than 65,000 hard links or a directory reached twice.
 */
export function planInodes(root: SourceInode): { inodes: (NumberedInode | undefined)[]; last: number } {
  const inodes: (NumberedInode | undefined)[] = [];
  const bySource = new Map<SourceInode, NumberedInode>();
  let next = FIRST_INO;
  const rootNode: NumberedInode = { ino: ROOT_INO, kind: 'dir', source: root, path: new Uint8Array(0), links: 2, parent: ROOT_INO };
  inodes[ROOT_INO] = rootNode;
  bySource.set(root, rootNode);
  const rootEntries = root.entries ?? [];
  const hasLostFound = rootEntries.some((e) => compareBytes(e.name, LOST_FOUND) === 0);
  if (!hasLostFound) {
    const lf: NumberedInode = { ino: next++, kind: 'dir', path: joinPath(rootNode.path, LOST_FOUND), links: 2, parent: ROOT_INO, entries: [] };
    inodes[lf.ino] = lf;
  }
  const pending: NumberedInode[] = [rootNode];
  for (let at = 0; at < pending.length; at++) {
    const dir = pending[at];
    const src = dir.source?.entries ?? [];
    const entries: NonNullable<NumberedInode['entries']> = [];
    const subdirs: NumberedInode[] = [];
    for (const e of src) {
      let node = bySource.get(e.inode);
      if (node && e.inode.kind === 'dir') throw new UsageError(`the directory ${new TextDecoder().decode(joinPath(dir.path, e.name))} is reached twice (a directory hard link)`);
      if (node) {
        node.links++;
        if (node.links > LINK_MAX) throw new UsageError(`${new TextDecoder().decode(node.path)} has more than ${LINK_MAX} hard links`);
      } else {
        node = { ino: next++, kind: e.inode.kind, source: e.inode, path: joinPath(dir.path, e.name), links: e.inode.kind === 'dir' ? 2 : 1 };
        if (node.kind === 'dir') {
          node.parent = dir.ino;
          subdirs.push(node);
          dir.links++;
        }
        inodes[node.ino] = node;
        bySource.set(e.inode, node);
      }
      entries.push({ name: e.name, ino: node.ino, kind: node.kind });
    }
    if (dir === rootNode && !hasLostFound) {
      entries.push({ name: LOST_FOUND, ino: FIRST_INO, kind: 'dir' });
      rootNode.links++;
      entries.sort((a, b) => compareBytes(a.name, b.name));
    }
    dir.entries = entries;
    // Breadth first: a directory's subdirectories are numbered (above) before their contents.
    pending.push(...subdirs);
  }
  return { inodes, last: next - 1 };
}
