/**
 * What debugfs(8) (e2fsprogs) says about an ext2/3/4 image: where a file's data and the metadata
 * needed to find it lie. The files bench uses it as the reference hexz's reads are compared
 * with, so it is computed by a tool other than hexz's own ext4 reader.
 */
import { spawnSync } from 'node:child_process';
import { posix } from 'node:path';

/** A byte range of the filesystem image. */
export interface ByteRange { offset: number; length: number }

/** One inode as `debugfs stat` prints it. */
export interface InodeInfo {
  ino: number;
  /** debugfs's word: regular, directory, symlink, … */
  type: string;
  size: number;
  /** A fast symlink's target (slow ones have it in a data block). */
  fastTarget?: string;
  /** Mapped data blocks: `count` filesystem blocks from `physical`. */
  data: { physical: number; count: number }[];
  /** Blocks of the block map itself: extent tree nodes (ETB) or indirect blocks (IND…). */
  mapBlocks: number[];
}

/** Output of `debugfs -R request image` (debugfs exits 0 on most errors: its stderr is checked). */
export function debugfs(image: string, request: string): string {
  const r = spawnSync('debugfs', ['-R', request, image], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, DEBUGFS_PAGER: '__none__', PAGER: 'cat' } });
  const errors = (r.stderr ?? '').split('\n').filter((l) => l.trim() && !l.startsWith('debugfs '));
  if (r.status !== 0 || errors.length) throw new Error(`debugfs -R '${request}' ${image}: ${errors.join('; ') || `exit ${r.status}`}`);
  return r.stdout;
}

/** `debugfs stat` of a path (the last component not followed) or of `<ino>`. */
export function statInode(image: string, spec: string): InodeInfo {
  const out = debugfs(image, `stat ${spec}`);
  const head = /Inode:\s+(\d+)\s+Type:\s+(\S+)/.exec(out);
  const size = /\bSize:\s+(\d+)/.exec(out);
  if (!head || !size) throw new Error(`debugfs stat ${spec}: unexpected output: ${out.slice(0, 200)}`);
  const info: InodeInfo = { ino: Number(head[1]), type: head[2], size: Number(size[1]), data: [], mapBlocks: [] };
  const fast = /Fast link dest: "(.*)"/.exec(out);
  if (fast) info.fastTarget = fast[1];
  const map = /(?:EXTENTS|BLOCKS):\n([\s\S]*)/.exec(out)?.[1] ?? '';
  // `(0-1211):41161-42372`, `(5):8481`, `(ETB0):42821`, `(IND):1234`.
  for (const m of map.matchAll(/\(((?:ETB|IND|DIND|TIND)\d*|\d+(?:-\d+)?)\):(\d+)(?:-(\d+))?/g)) {
    const first = Number(m[2]);
    const last = m[3] === undefined ? first : Number(m[3]);
    if (/^\d/.test(m[1])) info.data.push({ physical: first, count: last - first + 1 });
    else for (let b = first; b <= last; b++) info.mapBlocks.push(b);
  }
  return info;
}

/** The filesystem block holding inode `ino` (`debugfs imap`). */
export function inodeBlock(image: string, ino: number): number {
  const m = /located at block (\d+)/.exec(debugfs(image, `imap <${ino}>`));
  if (!m) throw new Error(`debugfs imap <${ino}>: no block in the output`);
  return Number(m[1]);
}

/** Block size and where the superblock and group descriptors lie (`debugfs stats`). */
export function geometry(image: string): { blockSize: number; superblock: ByteRange; descriptors: ByteRange } {
  const out = debugfs(image, 'stats');
  const num = (label: string, def?: number) => {
    const m = new RegExp(`^${label}:\\s+(\\d+)`, 'm').exec(out);
    if (!m && def === undefined) throw new Error(`debugfs stats: no "${label}"`);
    return m ? Number(m[1]) : def!;
  };
  const blockSize = num('Block size');
  const groups = Math.ceil((num('Block count') - num('First block')) / num('Blocks per group'));
  const descBytes = groups * num('Group descriptor size', 32);
  // The descriptors start in the block after the superblock's (block 1 with 4 KiB blocks, 2 with 1 KiB).
  const descStart = (num('First block') + 1) * blockSize;
  return { blockSize, superblock: { offset: 1024, length: 1024 }, descriptors: { offset: descStart, length: Math.ceil(descBytes / blockSize) * blockSize } };
}

/** A file's data and the metadata a reader must read to find it from the root, as byte ranges of the image. */
export interface FileFootprint {
  /** The path with every symlink resolved (debugfs does not follow a final symlink). */
  realPath: string;
  file: InodeInfo;
  data: ByteRange[];
  /** Superblock, group descriptors, the inode-table block of every inode on the way, the blocks of every directory searched (and their maps), symlink blocks, the file's own map blocks. */
  metadata: ByteRange[];
}

/**
 * Walks `path` from the root component by component as a lookup does, following symlinks, and
 * collects what it needs. Directories are counted whole (all their blocks): a linear search may
 * read them all; hashed (dir_index) lookups read fewer, so this errs toward a larger reference.
 * @throws Error when a component is missing or the path loops.
 */
export function fileFootprint(image: string, path: string): FileFootprint {
  const geo = geometry(image);
  const bs = geo.blockSize;
  const metadata: ByteRange[] = [geo.superblock, geo.descriptors];
  const blocks = (list: number[]) => list.map((b) => ({ offset: b * bs, length: bs }));
  const root = statInode(image, '<2>');
  metadata.push(...blocks([inodeBlock(image, 2)]));
  let cur = '/';
  let curInfo = root;
  const todo = path.split('/').filter((p) => p && p !== '.');
  for (let hops = 0; todo.length > 0;) {
    const name = todo.shift()!;
    if (name === '..') {
      cur = posix.dirname(cur);
      curInfo = statInode(image, cur);
      continue;
    }
    // The directory's blocks are read to find `name` (listed again when a symlink brings the
    // walk back to a directory: the ranges are deduplicated by archive entry later).
    metadata.push(...blocks(curInfo.data.flatMap((d) => range(d.physical, d.count))), ...blocks(curInfo.mapBlocks));
    const here = posix.join(cur, name);
    const info = statInode(image, here);
    metadata.push(...blocks([inodeBlock(image, info.ino)]));
    if (info.type === 'symlink') {
      if (++hops > 40) throw new Error(`${path}: too many levels of symbolic links`);
      let target = info.fastTarget;
      if (target === undefined) {
        metadata.push(...blocks(info.data.flatMap((d) => range(d.physical, d.count))), ...blocks(info.mapBlocks));
        target = debugfs(image, `cat ${here}`);
      }
      todo.unshift(...target.split('/').filter((p) => p && p !== '.'));
      if (target.startsWith('/')) {
        cur = '/';
        curInfo = root;
      }
      continue;
    }
    cur = here;
    curInfo = info;
  }
  if (curInfo.type !== 'regular') throw new Error(`${path}: resolves to ${cur}, a ${curInfo.type}, not a regular file`);
  metadata.push(...blocks(curInfo.mapBlocks));
  return { realPath: cur, file: curInfo, data: curInfo.data.map((d) => ({ offset: d.physical * bs, length: d.count * bs })), metadata };
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}
