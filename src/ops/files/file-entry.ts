/**
 * Nodes of an opened volume as listing entries, path lookups whose errors name the archive,
 * and the one check every walk makes on a directory entry's name.
 */
import { UsageError } from '../../errors.js';
import type { DirEntry, FsNode } from '../../fs/ext4/index.js';
import type { Volume } from './open-volume.js';
import type { FileEntry } from './types.js';

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * Whether a directory entry's name can be used as one path component: not empty, not `.` or
 * `..`, no `/` and no NUL. A crafted filesystem can store any bytes in a name; one that fails
 * this would name another place than the entry (`..` or `a/../../x` climbing out of the
 * output directory), so the walks skip it with a warning. Never throws.
 */
export function isSafeName(name: Uint8Array): boolean {
  if (name.length === 0) return false;
  if (name[0] === DOT && (name.length === 1 || (name.length === 2 && name[1] === DOT))) return false;
  return !name.includes(SLASH) && !name.includes(0);
}

/** `dir` + `/` + `name`, without doubling the root's slash. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** `path` made absolute and without trailing or repeated slashes (`etc//x/` → `/etc/x`). */
export function normalizePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  return `/${parts.join('/')}`;
}

/** Entries sorted by their name bytes, so every walk's order is the same whatever the on-disk order. */
export function sortByName(entries: DirEntry[]): DirEntry[] {
  return entries.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes));
}

/**
 * The node `path` names in the volume, its last symlink followed only with `followFinal`.
 * @throws UsageError "ARCHIVE: no such file or directory: PATH (partition N)" and the like;
 *   CorruptImageError / UnsupportedError from what it reads.
 */
export async function lookupPath(vol: Volume, path: string, options: { followFinal?: boolean; signal?: AbortSignal } = {}): Promise<FsNode> {
  try {
    return await vol.fs.lookup(normalizePath(path), options);
  } catch (err) {
    if (err instanceof UsageError && !err.location.archive) {
      throw new UsageError(`${err.message.replace(/^ext4: /, '')} (partition ${vol.partition.number})`, { archive: vol.archiveName, stage: 'lookup' }, { cause: err });
    }
    throw err;
  }
}

/** The listing entry of `node` found at `path`; reads a symlink's target. */
export async function toFileEntry(vol: Volume, path: string, node: FsNode, signal?: AbortSignal): Promise<FileEntry> {
  const e: FileEntry = {
    path, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid, size: node.size, blocks: node.blocks,
    ino: node.ino, nlink: node.nlink, atime: node.atime, mtime: node.mtime, ctime: node.ctime,
  };
  if (node.type === 'symlink') e.target = await vol.fs.readlink(node.ino, { signal });
  if (node.rdev) e.rdev = node.rdev;
  return e;
}

/** Byte-wise order of two names (Buffer.compare's order, without Buffer: this module runs in a page too). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
