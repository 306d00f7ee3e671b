/**
 * Owner, mode and times of a restored node, applied as `cp -a` applies them: owner first (as
 * chown clears setuid/setgid), then the mode, then the times (last, since the others touch ctime
 * only, but writing into a directory changes its mtime).
 */
import { chmod, lchown, lutimes, utimes } from 'node:fs/promises';
import { wrapIoError } from '../../errors.js';
import type { FsNode, Timestamp } from '../../fs/ext4/index.js';
import { pathText } from './output-paths.js';

/** Who restores: ownership is kept only by root, as with cp -a and tar. */
export interface Restorer {
  /** True when running as root: owners are set (lchown) and device nodes made. */
  root: boolean;
  uid: number;
  gid: number;
}

/** The current process as a {@link Restorer}. */
export function currentRestorer(): Restorer {
  const uid = process.getuid?.() ?? -1;
  return { root: uid === 0, uid, gid: process.getgid?.() ?? -1 };
}

/**
 * The mode to give a node: its own, except that a non-root restorer who could not give it its
 * owner drops setuid and setgid (GNU cp does the same): a setuid file must not end up setuid to
 * whoever restored it.
 */
export function restoredMode(node: FsNode, who: Restorer): number {
  if (who.root || (node.uid === who.uid && node.gid === who.gid)) return node.mode;
  return node.mode & ~0o6000;
}

/** Seconds as utimes takes them (fractional; Node keeps about a microsecond of it). */
function seconds(t: Timestamp): number {
  return t.sec + t.nsec / 1e9;
}

/**
 * Sets owner (root only), mode (not on symlinks: Linux has no lchmod) and access and
 * modification times of the node at `path`, without following a symlink there.
 * @throws StoreError naming the path when a call fails.
 */
export async function applyAttributes(path: Buffer, node: FsNode, who: Restorer): Promise<void> {
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      throw wrapIoError(err, pathText(path), what);
    }
  };
  if (who.root) await step('chown', () => lchown(path, node.uid, node.gid));
  if (node.type === 'symlink') {
    await step('set times', () => lutimes(path, seconds(node.atime), seconds(node.mtime)));
    return;
  }
  await step('chmod', () => chmod(path, restoredMode(node, who)));
  await step('set times', () => utimes(path, seconds(node.atime), seconds(node.mtime)));
}
