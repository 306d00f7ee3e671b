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
  /** The directory it was first reached from (absent for the root) and its name there. */
  up?: NumberedInode;
  name: Uint8Array;
  /**
   * FNV-1a of the first path it was reached by (for the allocator's grouping), computed from
   * its directory's: paths are never materialised, since a tree 100,000 directories deep
   * would hold 10^10 bytes of them.
   */
  pathHash: number;
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

const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a of `parent`'s path continued with "/" and `name`. */
function childHash(parent: number, name: Uint8Array): number {
  let h = Math.imul(parent ^ 0x2f, 0x01000193);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name[i], 0x01000193);
  return h >>> 0;
}

/** The path `n` was first reached by, for messages ("/" for the root). */
export function pathOf(n: NumberedInode): string {
  const parts: Uint8Array[] = [];
  for (let at: NumberedInode | undefined = n; at?.up; at = at.up) parts.push(at.name);
  const dec = new TextDecoder();
  return parts.length === 0 ? '/' : parts.reverse().map((p) => `/${dec.decode(p)}`).join('');
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
  const rootNode: NumberedInode = { ino: ROOT_INO, kind: 'dir', source: root, name: new Uint8Array(0), pathHash: FNV_OFFSET, links: 2, parent: ROOT_INO };
  inodes[ROOT_INO] = rootNode;
  bySource.set(root, rootNode);
  const rootEntries = root.entries ?? [];
  const hasLostFound = rootEntries.some((e) => compareBytes(e.name, LOST_FOUND) === 0);
  if (!hasLostFound) {
    const lf: NumberedInode = { ino: next++, kind: 'dir', up: rootNode, name: LOST_FOUND, pathHash: childHash(rootNode.pathHash, LOST_FOUND), links: 2, parent: ROOT_INO, entries: [] };
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
      if (node && e.inode.kind === 'dir') throw new UsageError(`the directory ${pathOf(dir).replace(/\/$/, '')}/${new TextDecoder().decode(e.name)} is reached twice (a directory hard link)`);
      if (node) {
        node.links++;
        if (node.links > LINK_MAX) throw new UsageError(`${pathOf(node)} has more than ${LINK_MAX} hard links`);
      } else {
        node = { ino: next++, kind: e.inode.kind, source: e.inode, up: dir, name: e.name, pathHash: childHash(dir.pathHash, e.name), links: e.inode.kind === 'dir' ? 2 : 1 };
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
