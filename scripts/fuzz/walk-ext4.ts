/**
 * A whole-filesystem walk with the ext4 reader, bounded so a legitimate walk of any image ends
 * well inside the case timeout: open; readdir from the root, breadth first, each directory once
 * (at most `maxEntries` entries in all); stat every entry, readlink every symlink, read every
 * regular file in pieces (at most `maxFileBytes` of each, `maxBytes` in all), the extents of
 * each (at most `maxExtents` per file); lookups of paths seen and made up; stats of odd inode
 * numbers. What the reader promises is checked on the way (types.ts, ext4-filesystem.ts):
 * reads return the bytes asked for, clipped at the size; a file's extents tile it from 0 to its
 * size, inside the device; the bytes read agree with the extents (zeros in holes, the device's
 * bytes elsewhere); a lookup of a path the walk listed finds the inode the listing named.
 */
import { createHash } from 'node:crypto';
import { Ext4Filesystem, type FileExtent, type FsNode } from '../../src/fs/ext4/index.ts';
import type { BlockDevice } from '../../src/fs/types.ts';
import type { TreeEntry } from './disk-tree.ts';
import type { Rng } from './rng.ts';
import { digestOf, type Steps } from './steps.ts';

export interface Ext4Limits {
  maxEntries: number;
  maxBytes: number;
  maxFileBytes: number;
  maxExtents: number;
  lookups: number;
}

export const FULL_WALK: Ext4Limits = { maxEntries: 20_000, maxBytes: 64 << 20, maxFileBytes: 16 << 20, maxExtents: 50_000, lookups: 8 };
/** For filesystems found inside partitions: the partitions kind is about the tables. */
export const SHORT_WALK: Ext4Limits = { maxEntries: 200, maxBytes: 1 << 20, maxFileBytes: 256 << 10, maxExtents: 1000, lookups: 2 };

/** What the walk saw, keyed by path (for the control case's comparison with the tree). */
export type WalkedTree = Map<string, TreeEntry & { ino: number }>;

/**
 * Walks the filesystem on `dev`. `image` (the device's bytes, when the walk runs over an image
 * in memory) lets the walk check file bytes against the extents. Returns what it saw, or
 * undefined when the filesystem did not open.
 */
export async function walkExt4(s: Steps, dev: BlockDevice, rng: Rng, limits: Ext4Limits, image?: Uint8Array): Promise<WalkedTree | undefined> {
  const warnings: unknown[] = [];
  const cacheBytes = rng.pick([0, 4096, 1 << 20, 4 << 20]);
  s.announce('ext4 open');
  const fs = await s.run('open', `cache ${cacheBytes}`, () => Ext4Filesystem.open(dev, { onWarning: (m) => warnings.push(m), metadataCacheBytes: cacheBytes }), (f) => digestOf(f.info));
  for (const w of warnings) if (typeof w !== 'string') s.finding('bad-warning', `onWarning was given a ${typeof w}, not a message`);
  if (!fs) return undefined;
  const pieceSize = rng.pick([4096, 65536, 1 << 20, 8 << 20]);
  const seen: WalkedTree = new Map();
  const candidates: { path: string; ino: number }[] = [];
  let entries = 0;
  let bytesLeft = limits.maxBytes;

  await s.run('stat', '/', () => fs.stat(fs.rootIno), digestOf);
  const queue: { ino: number; path: string; unique: boolean }[] = [{ ino: fs.rootIno, path: '', unique: true }];
  const visited = new Set<number>();
  const walked = new Map<number, TreeEntry>();
  while (queue.length && entries < limits.maxEntries) {
    const dir = queue.shift()!;
    if (visited.has(dir.ino)) continue;
    visited.add(dir.ino);
    s.announce(`readdir(${dir.path || '/'})`);
    const list = await s.run('readdir', dir.path || '/', () => fs.readdir(dir.ino), (l) => digestOf(l.map((e) => [e.nameBytes, e.ino, e.type])));
    if (!list) continue;
    const names = new Map<string, number>();
    for (const e of list) names.set(Buffer.from(e.nameBytes).toString('hex'), (names.get(Buffer.from(e.nameBytes).toString('hex')) ?? 0) + 1);
    for (const e of list) {
      if (entries++ >= limits.maxEntries) break;
      const path = `${dir.path}/${e.name}`;
      if (!(e.nameBytes instanceof Uint8Array) || typeof e.name !== 'string' || !Number.isSafeInteger(e.ino)) {
        s.finding('inconsistent', `readdir gave a malformed entry ${JSON.stringify(e)}`, `readdir(${dir.path || '/'})`);
        continue;
      }
      s.announce(`entry(${path})`);
      const node = await s.run('stat', path, () => fs.stat(e.ino), digestOf);
      if (!node) continue;
      const rec = { path, ino: e.ino, type: node.type as TreeEntry['type'], size: node.size } as TreeEntry & { ino: number };
      if (!seen.has(path)) seen.set(path, rec);
      const earlier = walked.get(e.ino);
      const first = earlier === undefined;
      // An inode met again (a hard link, or a directory whose blocks repeat) is only stat'ed: the
      // entry cap then bounds a walk of repeated entries to a few seconds.
      if (!first) {
        if (earlier.type === rec.type) Object.assign(rec, { sha256: earlier.sha256, target: earlier.target });
      } else if (node.type === 'symlink') {
        const target = await s.run('readlink', path, () => fs.readlink(e.ino), (t) => digestOf(t));
        if (target !== undefined) rec.target = target;
      }
      let content: Uint8Array | undefined;
      if (first && node.type === 'file') {
        const r = await readFile(s, fs, node, path, pieceSize, Math.min(bytesLeft, limits.maxFileBytes), image !== undefined && node.size <= 1 << 20);
        bytesLeft -= r.bytesRead;
        if (r.sha256) rec.sha256 = r.sha256;
        content = r.content;
      }
      if (first) walked.set(e.ino, rec);
      const extents = first ? await fileMap(s, fs, node, path, dev.size, limits.maxExtents) : undefined;
      if (image && content && extents) compareWithDevice(s, path, content, extents, image);
      const roundTrips = new TextDecoder().decode(new TextEncoder().encode(e.name)) === e.name && Buffer.from(e.name).equals(Buffer.from(e.nameBytes));
      const unique = dir.unique && names.get(Buffer.from(e.nameBytes).toString('hex')) === 1 && roundTrips;
      if (unique) candidates.push({ path, ino: e.ino });
      if (node.type === 'dir') queue.push({ ino: e.ino, path, unique });
    }
  }

  await lookups(s, fs, rng, candidates, limits.lookups);
  await oddCalls(s, fs, rng, candidates);
  return seen;
}

/** Reads a regular file from 0 in pieces; checks each piece's length; hashes what it read. */
async function readFile(s: Steps, fs: Ext4Filesystem, node: FsNode, path: string, pieceSize: number, budget: number, keep: boolean) {
  const h = createHash('sha256');
  const end = Math.min(node.size, Math.max(0, budget));
  const parts: Uint8Array[] = [];
  let at = 0;
  let ok = true;
  while (at < end) {
    const want = Math.min(pieceSize, end - at);
    const piece = await s.run('read', `${path}@${at}+${want}`, () => fs.read(node.ino, at, want), digestOf);
    if (!piece) { ok = false; break; }
    if (piece.length !== want) {
      s.finding('inconsistent', `read of ${want} bytes at ${at} of a ${node.size}-byte file returned ${piece.length}`);
      ok = false;
      break;
    }
    h.update(piece);
    if (keep) parts.push(piece);
    at += want;
  }
  const whole = ok && at === node.size;
  return { bytesRead: at, sha256: whole ? h.digest('hex') : undefined, content: whole && keep ? Buffer.concat(parts) : undefined };
}

/** The file's extents, checked to tile it from 0 to its size inside the device. Undefined when cut short. */
async function fileMap(s: Steps, fs: Ext4Filesystem, node: FsNode, path: string, devSize: number, max: number): Promise<FileExtent[] | undefined> {
  const out: FileExtent[] = [];
  let complete = false;
  await s.run('extents', path, async () => {
    for await (const x of fs.extents(node.ino)) {
      out.push(x);
      if (out.length >= max) return;
    }
    complete = true;
  }, () => digestOf(out));
  if (!complete && out.length < max) return undefined;
  let at = 0;
  for (const x of out) {
    const bad = !Number.isSafeInteger(x.offset) || !Number.isSafeInteger(x.length) || x.offset !== at || x.length <= 0
      || (x.deviceOffset !== null && (!Number.isSafeInteger(x.deviceOffset) || x.deviceOffset < 0 || x.deviceOffset + x.length > devSize));
    if (bad) {
      s.finding('inconsistent', `extents of ${path}: piece ${JSON.stringify(x)} where one at ${at} inside the ${devSize}-byte device was due`, `extents(${path})`);
      return undefined;
    }
    at += x.length;
  }
  const hasData = node.type === 'file' || node.type === 'dir' || node.type === 'symlink';
  if (complete && hasData && at !== node.size) {
    s.finding('inconsistent', `extents of ${path} end at ${at}, its size is ${node.size}`, `extents(${path})`);
    return undefined;
  }
  return complete ? out : undefined;
}

/** The bytes read must be zeros in holes and the device's bytes where the extents say they are. */
function compareWithDevice(s: Steps, path: string, content: Uint8Array, extents: FileExtent[], image: Uint8Array): void {
  for (const x of extents) {
    const got = content.subarray(x.offset, x.offset + x.length);
    const want = x.deviceOffset === null ? new Uint8Array(x.length) : image.subarray(x.deviceOffset, x.deviceOffset + x.length);
    if (!Buffer.from(got).equals(Buffer.from(want))) {
      s.finding('inconsistent', `bytes ${x.offset}..${x.offset + x.length} of ${path} read differently from where its extents put them (${x.deviceOffset === null ? 'a hole' : `device byte ${x.deviceOffset}`})`, `read(${path})`);
      return;
    }
  }
}

/** Paths the walk listed (the inode must match) and made-up ones (any HexzError will do). */
async function lookups(s: Steps, fs: Ext4Filesystem, rng: Rng, candidates: { path: string; ino: number }[], n: number): Promise<void> {
  s.announce('lookups');
  for (let k = 0; k < n && candidates.length; k++) {
    const c = rng.pick(candidates);
    const got = await s.run('lookup', c.path, () => fs.lookup(c.path), digestOf);
    if (got && got.ino !== c.ino) s.finding('inconsistent', `lookup(${JSON.stringify(c.path)}) found inode ${got.ino}, the listing of its directory names ${c.ino}`, `lookup(${c.path})`);
    // Following the last link may rightly fail (a dangling or looping link): a refusal, not a rejection.
    await s.run('lookup-follow', c.path, () => fs.lookup(c.path, { followFinal: true }), digestOf, true);
  }
  const some = candidates.length ? rng.pick(candidates).path : '/hello.txt';
  const made = ['/', '/nonexistent', `${some}/x`, `${some}/..`, `${some}/../..`, '/links/loop1/x', '/links/dir/c/d/e', '/links/chain/c', '//deep///a/./b/../b/c',
    '/..', '/../../..', `/${'x'.repeat(300)}`, 'relative/path', '', '/names/\u0000', '/big/' + 'entry-0001', `/${'a/'.repeat(200)}`];
  for (const p of made) await s.run('lookup', JSON.stringify(p).slice(0, 60), () => fs.lookup(p, { followFinal: rng.chance(0.5) }), digestOf, true);
}

/** Calls with numbers the API refuses (UsageError) or inodes a walk does not reach. */
async function oddCalls(s: Steps, fs: Ext4Filesystem, rng: Rng, candidates: { path: string; ino: number }[]): Promise<void> {
  s.announce('odd calls');
  const count = fs.info.inodesCount;
  for (const ino of [0, 1, 3, 5, 7, 8, 11, count, count + 1, -1, 1.5, Number.NaN, 2 ** 53, rng.range(1, Math.max(1, count))]) {
    await s.run('stat', `#${ino}`, () => fs.stat(ino), digestOf, true);
    await s.run('readdir', `#${ino}`, () => fs.readdir(ino), digestOf, true);
    await s.run('readlink', `#${ino}`, () => fs.readlink(ino), digestOf, true);
    await s.run('read', `#${ino}`, () => fs.read(ino, 0, 100), digestOf, true);
    await s.run('extents', `#${ino}`, async () => { let n = 0; for await (const _ of fs.extents(ino)) if (++n > 1000) break; return n; }, digestOf, true);
  }
  const c = candidates.length ? rng.pick(candidates) : { ino: 2, path: '/' };
  for (const [off, len] of [[0, 0], [-1, 10], [0, -1], [1.5, 1], [2 ** 53, 1], [2 ** 40, 10]] as const) {
    await s.run('read', `${c.path}@${off}+${len}`, () => fs.read(c.ino, off, len), digestOf, true);
  }
}
