/**
 * Restores one node of a filesystem image (and, for a directory, everything below it) to a
 * path on the host, as `cp -a` would: sparse files with only their data written, symlinks not
 * followed, hard links within the restored set as hard links, fifos and (as root) device nodes,
 * then owner, mode and times, a directory's after its content.
 */
import { link, mkdir, open, symlink } from 'node:fs/promises';
import { throwIfAborted, wrapIoError } from '../../errors.js';
import type { FsNode } from '../../fs/ext4/index.js';
import { childPath, isSafeName, sortByName } from './file-entry.js';
import type { Volume } from './open-volume.js';
import { joinBytes, pathText } from './output-paths.js';
import { filePieces } from './read-file.js';
import { applyAttributes, type Restorer } from './restore-attributes.js';
import { makeSpecialNode } from './special-files.js';

/** What a restore made, by kind. */
export interface RestoreCounts {
  files: number;
  directories: number;
  symlinks: number;
  /** Names made as hard links to a file restored earlier in the same run. */
  hardLinks: number;
  fifos: number;
  devices: number;
  /** Nodes not restored (sockets; devices when not root; unsafe names; directory loops), each warned about. */
  skipped: number;
  /** Σ size of the regular files restored, in bytes (holes included). */
  bytes: number;
  /** Bytes actually written (data extents only; holes stay holes). */
  writtenBytes: number;
}

/** A top-level item being restored: where its root is now (its temporary name, then its own). */
export interface ItemRoot {
  path: Buffer;
}

/** Everything a restore shares across nodes. */
export interface RestoreSession {
  vol: Volume;
  who: Restorer;
  /** A string-named directory on the output filesystem for fifos and devices to be made in. */
  stagingDir: string;
  signal?: AbortSignal;
  warn: (message: string) => void;
  /** Called with bytes of file content done (data written, or holes passed over). */
  advance: (bytes: number) => void;
  counts: RestoreCounts;
  /** Inodes with several links already restored: where (item and path inside it) to link to. */
  links: Map<number, { item: ItemRoot; rel: Buffer | null }>;
  /** Directory inodes entered, so a crafted loop is not followed forever. */
  seenDirs: Set<number>;
}

/** An empty {@link RestoreCounts}. */
export function emptyCounts(): RestoreCounts {
  return { files: 0, directories: 0, symlinks: 0, hardLinks: 0, fifos: 0, devices: 0, skipped: 0, bytes: 0, writtenBytes: 0 };
}

/**
 * Restores `node` (found at `fsPath` in the image) to `dest`, which must not exist.
 * @param item the top-level item `dest` belongs to; `rel` is `dest` relative to its root (null
 *   for the root itself): hard links are recorded that way, so they still resolve after the
 *   item is renamed into place.
 * @param sync fsync a regular file before returning (top-level files, renamed into place next).
 * @throws StoreError naming the host path (disk full, permission denied); CorruptImageError /
 *   CorruptArchiveError from what is read; AbortedError.
 */
export async function restoreNode(s: RestoreSession, node: FsNode, fsPath: string, dest: Buffer, item: ItemRoot, rel: Buffer | null, sync = false): Promise<void> {
  throwIfAborted(s.signal, 'restore');
  if (node.type !== 'dir' && node.nlink > 1) {
    const first = s.links.get(node.ino);
    if (first) {
      const target = first.rel ? joinBytes(first.item.path, first.rel) : first.item.path;
      await io(dest, 'link', () => link(target, dest));
      s.counts.hardLinks++;
      return;
    }
  }
  switch (node.type) {
    case 'dir':
      await restoreDirectory(s, node, fsPath, dest, item, rel);
      return;
    case 'file':
      await restoreFile(s, node, dest, sync);
      s.counts.files++;
      break;
    case 'symlink':
      await io(dest, 'symlink', async () => symlink(await s.vol.fs.readlink(node.ino, { signal: s.signal }), dest));
      s.counts.symlinks++;
      break;
    case 'fifo':
      await makeSpecialNode({ type: 'fifo' }, dest, s.stagingDir);
      s.counts.fifos++;
      break;
    case 'chardev':
    case 'blockdev':
      if (!s.who.root) return skip(s, `${fsPath}: ${node.type === 'chardev' ? 'character' : 'block'} device not restored (only root can make device nodes)`);
      await makeSpecialNode({ type: node.type, major: node.rdev?.major ?? 0, minor: node.rdev?.minor ?? 0 }, dest, s.stagingDir);
      s.counts.devices++;
      break;
    case 'socket':
      return skip(s, `${fsPath}: socket not restored (a socket is made by the program listening on it)`);
  }
  await applyAttributes(dest, node, s.who);
  if (node.nlink > 1) s.links.set(node.ino, { item, rel });
}

function skip(s: RestoreSession, message: string): void {
  s.counts.skipped++;
  s.warn(message);
}

/** A directory: made writable to us first, filled, then given its mode, owner and times. */
async function restoreDirectory(s: RestoreSession, node: FsNode, fsPath: string, dest: Buffer, item: ItemRoot, rel: Buffer | null): Promise<void> {
  if (s.seenDirs.has(node.ino)) return skip(s, `${fsPath}: directory inode ${node.ino} was already restored (a directory loop): not entered again`);
  s.seenDirs.add(node.ino);
  await io(dest, 'mkdir', () => mkdir(dest, 0o700));
  s.counts.directories++;
  const entries = sortByName(await s.vol.fs.readdir(node.ino, { signal: s.signal }));
  for (const e of entries) {
    const here = childPath(fsPath, e.name);
    // A name with '/' or equal to '..' would put the file outside `dest`: never used.
    if (!isSafeName(e.nameBytes)) {
      skip(s, `${fsPath}: entry ${JSON.stringify(e.name)} (inode ${e.ino}) not restored: not a valid file name`);
      continue;
    }
    const child = await s.vol.fs.stat(e.ino, { signal: s.signal });
    await restoreNode(s, child, here, joinBytes(dest, e.nameBytes), item, rel ? joinBytes(rel, e.nameBytes) : Buffer.from(e.nameBytes));
  }
  await applyAttributes(dest, node, s.who);
}

/**
 * A regular file: only its data extents are written (read in pieces of at most 8 MiB, the next
 * one in flight while this one is written), then the length is set, so holes stay holes.
 */
async function restoreFile(s: RestoreSession, node: FsNode, dest: Buffer, sync: boolean): Promise<void> {
  const fh = await io(dest, 'create', () => open(dest, 'wx', 0o600));
  let ahead: { offset: number; data: Promise<Uint8Array> } | undefined;
  const write = async (at: number, data: Uint8Array) => {
    for (let done = 0; done < data.length;) done += (await io(dest, 'write', () => fh.write(data, done, data.length - done, at + done))).bytesWritten;
    s.counts.writtenBytes += data.length;
    s.advance(data.length);
  };
  try {
    for await (const p of filePieces(s.vol.fs, node, s.signal)) {
      if (p.deviceOffset === null) {
        s.advance(p.length);
        continue;
      }
      const data = s.vol.fs.read(node.ino, p.offset, p.length, { signal: s.signal });
      data.catch(() => {}); // awaited in turn below
      if (ahead) await write(ahead.offset, await ahead.data);
      ahead = { offset: p.offset, data };
    }
    if (ahead) await write(ahead.offset, await ahead.data);
    ahead = undefined;
    await io(dest, 'truncate', () => fh.truncate(node.size));
    if (sync) await io(dest, 'sync', () => fh.sync());
  } finally {
    await ahead?.data.catch(() => {});
    await fh.close().catch(() => {});
  }
  s.counts.bytes += node.size;
}

/** Runs one host call, turning a Node error into a StoreError naming the path. */
async function io<T>(path: Buffer, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw wrapIoError(err, pathText(path), what);
  }
}
