/**
 * `hexz get`: restores files and directories from a filesystem inside an archive into a host
 * directory, as `cp -a PATH… DIR` would, one item at a time and atomically per item: each is
 * built under a temporary name beside its destination and renamed into place when complete.
 */
import { lstat, mkdir, rename } from 'node:fs/promises';
import { UsageError, wrapIoError } from '../../errors.js';
import type { FsNode } from '../../fs/ext4/index.js';
import type { Archive } from '../../archive/archive.js';
import { liveTempFiles } from '../../store/live-temp-files.js';
import { syncDir } from '../../store/sync-dir.js';
import { childPath, isSafeName, lookupPath, normalizePath, sortByName } from './file-entry.js';
import { volumeOf, type Volume } from './open-volume.js';
import { joinBytes, pathString, pathText, removeStaleItemTemps, removeTree, tempPathBeside } from './output-paths.js';
import { currentRestorer } from './restore-attributes.js';
import { emptyCounts, restoreNode, type ItemRoot, type RestoreCounts, type RestoreSession } from './restore-node.js';
import type { GetProgress, VolumeOptions } from './types.js';

/** Options of {@link getFiles}. */
export interface GetFilesOptions extends VolumeOptions {
  /** Replace existing files or directories at the destinations (default: refuse). */
  force?: boolean;
  /** Called as file content is restored (a first pass over the items adds up the total). */
  onProgress?: (p: GetProgress) => void;
}

/** What {@link getFiles} did. */
export interface GetFilesResult extends RestoreCounts {
  /** The output directory. */
  outDir: string;
  /** The partition read. */
  partition: number;
  /** Each item restored: its path in the image and where it now is. */
  items: { path: string; output: string }[];
  seconds: number;
}

/** One top-level item: a node of the image and the name it gets in the output directory. */
interface Item {
  fsPath: string;
  node: FsNode;
  name: Uint8Array;
}

/**
 * Restores each of `paths` (absolute paths inside the filesystem) under `outDir` by its base
 * name, with everything below it: content (sparse files stay sparse), symlinks as symlinks, hard
 * links within the set as hard links, fifos, device nodes (root only; otherwise skipped with a
 * warning), sockets skipped, modes, times, and owners (root only; a non-root restorer drops
 * setuid/setgid from files it cannot give their owner, like cp). A path that is `/` or ends in
 * `/.` restores that directory's entries rather than the directory. `outDir` is made if missing.
 * Each item is written to `.NAME.hexz-tmp-…` beside its destination and renamed into place when
 * complete, so an error or cancellation leaves no partial item (items already complete stay).
 * @param source an archive, or a {@link Volume} already opened (then `stream` and `partition` are its own).
 * @throws UsageError when a path does not exist or is `..`, two paths share a base name, or a
 *   destination exists without `force` (checked before anything is written); StoreError for
 *   the host (disk full, permission denied); as {@link openVolume}; AbortedError.
 * @example
 * await getFiles(archive, ['/etc', '/home/me/notes.txt'], 'restored', { onWarning: console.warn });
 */
export async function getFiles(source: Archive | Volume, paths: string[], outDir: string, options: GetFilesOptions = {}): Promise<GetFilesResult> {
  const started = Date.now();
  const vol = await volumeOf(source, options);
  if (paths.length === 0) throw new UsageError('name at least one path to restore', { archive: vol.archiveName });
  const warn = options.onWarning ?? (() => {});
  const items = await resolveItems(vol, paths, warn, options.signal);
  const outBuf = Buffer.from(outDir);
  for (const item of items) {
    const dest = joinBytes(outBuf, item.name);
    if (!options.force && (await exists(dest))) throw new UsageError(`${pathText(dest)}: output exists (use --force to overwrite)`, { archive: pathText(dest) });
  }
  await mkdir(outDir, { recursive: true }).catch((err) => { throw wrapIoError(err, outDir, 'mkdir'); });

  const progress = { bytesDone: 0, bytesTotal: options.onProgress ? await totalBytes(vol, items, options.signal) : 0 };
  const session: RestoreSession = {
    vol, who: currentRestorer(), stagingDir: outDir, signal: options.signal, warn, counts: emptyCounts(),
    links: new Map(), seenDirs: new Set(),
    advance: (n) => {
      progress.bytesDone += n;
      options.onProgress?.({ ...progress });
    },
  };
  const done: GetFilesResult['items'] = [];
  for (const item of items) {
    const final = joinBytes(outBuf, item.name);
    await removeStaleItemTemps(outBuf, item.name);
    const root: ItemRoot = { path: tempPathBeside(outBuf, item.name) };
    const registered = pathString(root.path);
    if (registered) liveTempFiles.add(registered); // a forced exit removes a file item at least
    try {
      await restoreNode(session, item.node, item.fsPath, root.path, root, null, item.node.type === 'file');
      if (await exists(root.path)) {
        await commitItem(root.path, final, outBuf, item.name, options.force ?? false);
        root.path = final;
        done.push({ path: item.fsPath, output: pathText(final) });
      }
    } catch (err) {
      await removeTree(root.path);
      throw err;
    } finally {
      if (registered) liveTempFiles.delete(registered);
    }
  }
  await syncDir(outDir);
  return { outDir, partition: vol.partition.number, items: done, ...session.counts, seconds: (Date.now() - started) / 1000 };
}

/**
 * The top-level items of `paths`, looked up (a final symlink not followed, as cp -a), each
 * named by its last component; `/` and `DIR/.` stand for the directory's entries.
 */
async function resolveItems(vol: Volume, paths: string[], warn: (m: string) => void, signal: AbortSignal | undefined): Promise<Item[]> {
  const items: Item[] = [];
  for (const raw of paths) {
    const path = normalizePath(raw);
    const last = path.split('/').pop() ?? '';
    if (last === '..') throw new UsageError(`${raw}: name a file or directory, not '..'`, { archive: vol.archiveName });
    const node = await lookupPath(vol, path, { signal });
    if (last !== '' && last !== '.') {
      items.push({ fsPath: path, node, name: new TextEncoder().encode(last) });
      continue;
    }
    if (node.type !== 'dir') throw new UsageError(`${raw}: not a directory`, { archive: vol.archiveName });
    const dir = path === '/' ? '/' : path.slice(0, -2) || '/';
    for (const e of sortByName(await vol.fs.readdir(node.ino, { signal }))) {
      if (!isSafeName(e.nameBytes)) {
        warn(`${dir}: entry ${JSON.stringify(e.name)} (inode ${e.ino}) not restored: not a valid file name`);
        continue;
      }
      items.push({ fsPath: childPath(dir, e.name), node: await vol.fs.stat(e.ino, { signal }), name: e.nameBytes });
    }
  }
  const byName = new Map<string, string>();
  for (const item of items) {
    const key = Buffer.from(item.name).toString('latin1');
    const other = byName.get(key);
    if (other !== undefined) throw new UsageError(`${other} and ${item.fsPath} would both be restored as ${JSON.stringify(Buffer.from(item.name).toString())}: restore them in two runs`, { archive: vol.archiveName });
    byName.set(key, item.fsPath);
  }
  return items;
}

/**
 * Renames the finished item into place. An existing destination (with `force`) is replaced:
 * a file or symlink by the rename itself, a directory (or anything where a directory goes) by
 * moving it aside first and removing it after.
 */
async function commitItem(temp: Buffer, final: Buffer, outDir: Buffer, name: Uint8Array, force: boolean): Promise<void> {
  try {
    const existing = await lstat(final).catch(() => undefined);
    if (existing && !force) throw new UsageError(`${pathText(final)}: output exists (use --force to overwrite)`, { archive: pathText(final) });
    const isDir = (await lstat(temp)).isDirectory();
    if (existing && (existing.isDirectory() || isDir)) {
      const aside = tempPathBeside(outDir, name);
      await rename(final, aside);
      await rename(temp, final);
      await removeTree(aside);
      return;
    }
    await rename(temp, final);
  } catch (err) {
    throw wrapIoError(err, pathText(final), 'rename');
  }
}

/** Σ size of the regular files under the items, each inode once (the progress total). */
async function totalBytes(vol: Volume, items: Item[], signal: AbortSignal | undefined): Promise<number> {
  const seen = new Set<number>();
  let total = 0;
  const visit = async (node: FsNode): Promise<void> => {
    // Only what can be reached twice is remembered: directories (loops) and hard-linked files.
    if (node.type === 'dir' || node.nlink > 1) {
      if (seen.has(node.ino)) return;
      seen.add(node.ino);
    }
    if (node.type === 'file') total += node.size;
    if (node.type !== 'dir') return;
    for (const e of await vol.fs.readdir(node.ino, { signal })) {
      if (isSafeName(e.nameBytes)) await visit(await vol.fs.stat(e.ino, { signal }));
    }
  };
  for (const item of items) await visit(item.node);
  return total;
}

async function exists(path: Buffer): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}
