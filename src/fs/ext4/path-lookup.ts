/**
 * Path resolution inside one filesystem, as the kernel's path walk does it: components are
 * compared as bytes, `..` follows the directory's own `..` entry, symlinks in the middle of a
 * path (and at its end when asked) are followed from the directory holding them or, when
 * absolute, from the filesystem's root; 40 links at most per walk (Linux MAXSYMLINKS), past
 * which the walk fails like ELOOP.
 */
import { UsageError } from '../../errors.js';
import type { FileType } from './types.js';

/** Symlinks followed in one walk before giving up (Linux MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;

const SLASH = 0x2f;
const DOT = 0x2e;

/** What the walk needs from the filesystem. */
export interface PathHost {
  rootIno: number;
  /** The type of inode `ino`. */
  typeOf(ino: number): Promise<FileType>;
  /** The inode number `name` names in directory `dirIno`, or undefined. */
  findEntry(dirIno: number, name: Uint8Array): Promise<number | undefined>;
  /** The raw target of symlink `ino`. */
  readlink(ino: number): Promise<Uint8Array>;
}

/** Splits a path's bytes at '/' into its non-empty components. */
function components(path: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      if (i > start) out.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

const isDot = (c: Uint8Array) => c.length === 1 && c[0] === DOT;
const isDotDot = (c: Uint8Array) => c.length === 2 && c[0] === DOT && c[1] === DOT;

/**
 * The inode number `path` names.
 * @param path absolute, inside the filesystem ("/etc/hostname").
 * @param followFinal follow a symlink in the last component too.
 * @throws UsageError for a relative path, "no such file or directory", "not a directory", or
 *   "too many levels of symbolic links"; whatever `host` throws.
 */
export async function resolvePath(host: PathHost, path: string, followFinal: boolean): Promise<number> {
  if (!path.startsWith('/')) throw new UsageError(`ext4: path must be absolute: ${path}`);
  // A stack of components still to walk, the next one last.
  const todo = components(new TextEncoder().encode(path)).reverse();
  let cur = host.rootIno;
  let hops = 0;
  while (todo.length > 0) {
    const name = todo.pop() as Uint8Array;
    if (isDot(name)) continue;
    if (await host.typeOf(cur) !== 'dir') throw new UsageError(`not a directory: ${path}`);
    const ino = await host.findEntry(cur, name);
    if (ino === undefined) throw new UsageError(`no such file or directory: ${path}`);
    if (isDotDot(name)) {
      cur = ino;
      continue;
    }
    if ((todo.length > 0 || followFinal) && await host.typeOf(ino) === 'symlink') {
      if (++hops > MAX_SYMLINK_HOPS) throw new UsageError(`too many levels of symbolic links (more than ${MAX_SYMLINK_HOPS}): ${path}`);
      const target = await host.readlink(ino);
      if (target.length === 0) throw new UsageError(`no such file or directory: ${path} (empty symlink)`);
      if (target[0] === SLASH) cur = host.rootIno;
      const parts = components(target);
      for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]);
      continue;
    }
    cur = ino;
  }
  return cur;
}
