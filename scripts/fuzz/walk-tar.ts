/**
 * The tar kind's case: mutate a seed (mutate-tar.ts), then scan the bytes twice with scanTar,
 * from the case's file (uncompressed tars are read in place) and from a stream or named pipe
 * (everything spooled), each tree walked and every file read through FileContent.read
 * (bounded); and now and then lay the file scan's tree out as ext4/ext2 at the size
 * `--size auto` picks, read the Ext4Image (extents and bytes, bounded) and read it back with
 * the project's ext4 reader.
 *
 * Allowed: a HexzError from any step. Findings: any other error; a tree breaking the promises
 * of SourceTree (types.ts: sorted unique names of 1..255 bytes without `/` or NUL, data ranges
 * sorted and aligned inside the size, reads of exactly the length asked with zeros outside the
 * data ranges, stats that count the tree); the two scans disagreeing (same bytes, so the same
 * tree, or the same error class); the unmutated control not giving the tree its seed was made
 * from; a layout at the auto size that does not fit; an image whose extents do not tile it; a
 * built filesystem that reads back differently from the tree (names, types, modes, owners,
 * times as ext4 stores them, sizes, targets, devices, hard links, file bytes); a spool file or
 * file descriptor left behind. Hangs, memory blow-ups and crashes are caught by the parent.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { HexzError } from '../../src/index.ts';
import { scanTar } from '../../src/build/tree/scan-tar.ts';
import { openSourceTree } from '../../src/build/tree/open-source-tree.ts';
import type { SourceInode, SourceTree, Timestamp } from '../../src/build/tree/types.ts';
import { autoFilesystemSize, fitFilesystem } from '../../src/build/fit-filesystem.ts';
import { measureExt4, type Ext4LayoutOptions } from '../../src/build/ext4/ext4-layout.ts';
import { Ext4Image } from '../../src/build/ext4/ext4-image.ts';
import { Ext4Filesystem } from '../../src/fs/ext4/index.ts';
import type { CorpusItem } from './corpus.ts';
import type { Judge } from './judge.ts';
import { mutateTar, type TarMutation, type Wrap } from './mutate-tar.ts';
import { Rng } from './rng.ts';
import type { CaseEnv, Flavour } from './run-case.ts';
import { Steps } from './steps.ts';
import type { TarExpect } from './tar-seeds.ts';

const MiB = 2 ** 20;
/** Bytes read through FileContent.read per scan, and per file. */
const READ_BUDGET = 32 * MiB;
const FILE_BUDGET = 4 * MiB;
/** Files whose content a walk reads (the rest are only checked for their fields). */
const MAX_FILES_READ = 5000;
/** Bytes of the laid-out image read per case. */
const IMAGE_BUDGET = 48 * MiB;
/** Entries and bytes the read-back of a built filesystem looks at. */
const READBACK_ENTRIES = 3000;
const READBACK_BYTES = 16 * MiB;
/** Entries a walk looks at (a tree of 10^6 directories is scanned, but walked only this far). */
const WALK_ENTRIES = 250_000;
/** Findings of one kind per case (a broken tree breaks many promises at once). */
const MAX_SAME = 4;

const cache = new Map<string, Uint8Array>();
const cached = (path: string) => {
  let b = cache.get(path);
  if (!b) cache.set(path, (b = new Uint8Array(readFileSync(path))));
  return b;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function tarCase(j: Judge, item: CorpusItem, dir: string, mutRng: Rng, opRng: Rng, env: CaseEnv, flavour: Flavour): Promise<void> {
  const target = item.files[mutRng.int(item.files.length)];
  j.result.target = target.file;
  const stored = cached(join(item.dir, target.file));
  const compression: Wrap = target.file.endsWith('.gz') ? 'gzip' : target.file.endsWith('.zst') ? 'zstd' : 'none';
  const plain = target.original.tar ? cached(join(item.dir, target.original.tar)) : stored;
  const m: TarMutation = flavour === 'none'
    ? { bytes: stored, wrap: compression, region: '-', description: 'unmutated (control)' }
    : mutateTar(mutRng, { name: target.file, plain, stored, compression }, flavour);
  j.result.region = m.region;
  j.result.description = `${target.file}: ${m.description}`;
  j.result.attack = m.attack;
  env.onMutation?.({ target: target.file, region: m.region, description: j.result.description, attack: m.attack });
  const file = join(dir, `case.tar${m.wrap === 'gzip' ? '.gz' : m.wrap === 'zstd' ? '.zst' : ''}`);
  writeFileSync(file, m.bytes);
  j.result.mutatedPath = file;
  env.log(`case ${j.result.seed}: tar ${flavour} ${j.result.description} (${m.bytes.length} bytes${m.attack ? `, attack ${m.attack}` : ''})`);

  const before = new Set(readdirSync(dir));
  const fds = openFds();
  const rootOwned = opRng.chance(0.15);
  const walkSeed = opRng.next();
  const layoutRng = opRng.fork();
  const doLayout = opRng.chance(env.layoutChance ?? 0.3);
  const viaPipe = opRng.chance(0.1);
  const chunk = opRng.pick([1, 100, 512, 4096, 65536, MiB]);
  const viaOpen = opRng.chance(0.2);

  const s = new Steps(j, '', false);
  const limits = new Limits();
  const fromFile = await scanAndWalk(s, 'file', () => (viaOpen ? openSourceTree(file, { tmpDir: dir, rootOwned }) : scanTar(file, { tmpDir: dir, rootOwned })), walkSeed, limits,
    async (tree) => { if (doLayout) await layoutOps(s, tree, layoutRng, limits); });
  const fifo = join(dir, 'case.fifo');
  const fromStream = await scanAndWalk(s, viaPipe ? 'pipe' : 'stream', () => {
    if (!viaPipe) return scanTar(Readable.from(chunks(m.bytes, chunk)), { tmpDir: dir, rootOwned, name: 'stdin' });
    return scanFifo(fifo, m.bytes, dir, rootOwned);
  }, walkSeed, limits);
  s.finish();

  // Same bytes, same tree (or the same refusal). A compressed stream's damage may show in the
  // bytes before the decompressor reaches its checksum, depending on how the input is chunked:
  // then two different HexzErrors are both fair.
  const hexzPair = fromFile.outcome !== 'ok' && fromStream.outcome !== 'ok' && !fromFile.outcome.startsWith('!') && !fromStream.outcome.startsWith('!');
  if (fromFile.outcome !== fromStream.outcome && !(hexzPair && m.wrap !== 'none')) {
    j.finding('inconsistent', 'scanTar(file|stream)', `the file scan gave ${fromFile.outcome}${fromFile.message ? ` (${fromFile.message})` : ''}, the ${viaPipe ? 'pipe' : 'stream'} scan ${fromStream.outcome}${fromStream.message ? ` (${fromStream.message})` : ''}`);
  } else if (fromFile.lines && fromStream.lines) {
    const k = fromFile.lines.findIndex((l, i) => l !== fromStream.lines![i]);
    if (k >= 0 || fromFile.lines.length !== fromStream.lines.length) {
      const at = k >= 0 ? k : Math.min(fromFile.lines.length, fromStream.lines.length);
      j.finding('inconsistent', 'scanTar(file|stream)', `the trees differ at line ${at}: file scan ${fromFile.lines[at] ?? '(end)'}; ${viaPipe ? 'pipe' : 'stream'} scan ${fromStream.lines[at] ?? '(end)'}`);
    }
  }
  if (flavour === 'none' && target.expect) {
    const expect = JSON.parse(readFileSync(join(item.dir, target.expect), 'utf8')) as TarExpect[];
    compareControl(j, fromFile, expect, rootOwned);
  }
  for (const f of readdirSync(dir)) if (!before.has(f) && f !== 'case.fifo') j.finding('leftover-file', 'cleanup', `the scans left ${f} in the directory`);
  // A stream's file handle (a named pipe's) is closed by destroying the stream, which completes
  // after scanTar returns: allow it a moment.
  let after = openFds();
  for (let k = 0; k < 10 && after > fds; k++) {
    await new Promise((r) => setTimeout(r, 20));
    after = openFds();
  }
  if (after > fds) j.finding('fd-leak', 'cleanup', `${after - fds} file descriptor(s) still open 200 ms after the trees were closed`);
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

function* chunks(b: Uint8Array, size: number): Generator<Uint8Array> {
  const n = Math.max(size, Math.ceil(b.length / 20_000));
  for (let at = 0; at < b.length; at += n) yield b.subarray(at, at + n);
}

/** scanTar over a named pipe that a write stream fills; the writer is closed whatever the scan does. */
async function scanFifo(fifo: string, bytes: Uint8Array, dir: string, rootOwned: boolean): Promise<SourceTree> {
  execFileSync('mkfifo', [fifo]);
  const ws = createWriteStream(fifo);
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('error', () => {}); // EPIPE when the scan stops reading early
  ws.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  try {
    return await scanTar(fifo, { tmpDir: dir, rootOwned });
  } finally {
    ws.destroy();
    await closed;
  }
}

/** Counts findings per kind so a broken tree reports a few, not thousands. */
class Limits {
  private readonly n = new Map<string, number>();
  ok(kind: string): boolean {
    const c = (this.n.get(kind) ?? 0) + 1;
    this.n.set(kind, c);
    return c <= MAX_SAME;
  }
}

interface Scan {
  /** 'ok' or the error class. */
  outcome: string;
  message?: string;
  /** One line per entry (and the stats): what the two scans must agree on. */
  lines?: string[];
  records?: Map<string, Rec>;
}

/** What the walk saw of one path (for the control comparison). */
interface Rec {
  id: number;
  kind: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Timestamp;
  sha256?: string;
  target?: string;
  rdev?: { major: number; minor: number };
}

async function scanAndWalk(s: Steps, how: string, open: () => Promise<SourceTree>, seed: number, limits: Limits, more?: (tree: SourceTree) => Promise<void>): Promise<Scan> {
  s.announce(`scanTar(${how})`);
  let tree: SourceTree;
  const t0 = Date.now();
  try {
    tree = await open();
  } catch (err) {
    const outcome = s.j.judgeError(`scanTar(${how})`, err);
    s.j.env.log(`  scanTar(${how}) failed after ${Date.now() - t0} ms`);
    return { outcome: err instanceof HexzError ? err.name : outcome, message: (err as Error)?.message?.slice(0, 200) };
  }
  s.j.result.ops.push({ op: `scanTar(${how})`, outcome: 'ok' });
  s.j.env.log(`  scanTar(${how}): ${JSON.stringify(tree.stats)} in ${Date.now() - t0} ms`);
  try {
    const t1 = Date.now();
    s.announce(`walk(${how})`);
    const w = await walkTree(s, tree, new Rng(seed), limits, how);
    s.j.env.log(`  walk(${how}): ${w.lines.length} lines in ${Date.now() - t1} ms`);
    if (more) await more(tree);
    return { outcome: 'ok', lines: w.lines, records: w.records };
  } finally {
    await s.run('close', how, () => tree.close());
  }
}

const NSEC = 1_000_000_000;
const cmpBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);
const validTime = (t: Timestamp | undefined) => !!t && Number.isSafeInteger(t.sec) && Number.isInteger(t.nsec) && t.nsec >= 0 && t.nsec < NSEC;

/** Walks a scanned tree: checks SourceTree's promises, reads file contents (bounded), returns the lines the two scans must agree on. */
async function walkTree(s: Steps, tree: SourceTree, rng: Rng, limits: Limits, how: string): Promise<{ lines: string[]; records?: Map<string, Rec> }> {
  const bad = (what: string, message: string) => { if (limits.ok(what)) s.finding('accepted-invalid', `${how} scan: ${message}`, `walk(${how})`); };
  const lines: string[] = [];
  const ids = new Map<SourceInode, number>();
  const records = new Map<string, Rec>();
  const byId = new Map<number, Rec>();
  const stats = { files: 0, dirs: 0, symlinks: 0, others: 0, hardLinks: 0, fileBytes: 0, dataBytes: 0 };
  let budget = READ_BUDGET;
  let filesRead = 0;
  const root = tree.root;
  if (root.kind !== 'dir') bad('root', `the root is a ${root.kind}`);
  // Paths are kept (for messages and the control comparison) only while short: a tree 10^5
  // directories deep would otherwise cost the walk quadratic time and memory. Lines name an
  // entry by its parent's line number and its name.
  const stack: { inode: SourceInode; name: Uint8Array; parent: number; path?: Uint8Array }[] = [{ inode: root, name: new Uint8Array(0), parent: -1, path: new Uint8Array(0) }];
  let visited = 0;
  let complete = true;
  while (stack.length) {
    if (lines.length >= WALK_ENTRIES) { complete = false; lines.push('(walk cut short)'); break; }
    const { inode, name: ename, parent, path } = stack.pop()!;
    const text = { toString: () => (path ? Buffer.from(path).toString() : `…/${Buffer.from(ename).toString()}`) };
    let id = ids.get(inode);
    const first = id === undefined;
    if (first) { id = ids.size; ids.set(inode, id); }
    else if (inode.kind === 'dir') { bad('dir-twice', `directory '${text}' is reached twice`); continue; }
    else stats.hardLinks++;
    if (++visited % 20000 === 0) s.announce(`walk(${how}) ${visited}`);
    const lineNo = lines.length;
    let line = `${parent}/${hex(ename)} #${id}`;
    if (first) {
      line += ` ${inode.kind} ${inode.mode} ${inode.uid}:${inode.gid} ${inode.size} m${inode.mtime?.sec}.${inode.mtime?.nsec} a${inode.atime?.sec}.${inode.atime?.nsec} c${inode.ctime?.sec}.${inode.ctime?.nsec}`;
      const where = { toString: () => `'${text}'` };
      if (!['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'].includes(inode.kind)) bad('kind', `${where} has kind ${inode.kind}`);
      if (!Number.isInteger(inode.mode) || inode.mode < 0 || inode.mode > 0o7777) bad('mode', `${where} has mode ${inode.mode}`);
      if (!Number.isSafeInteger(inode.uid) || !Number.isSafeInteger(inode.gid)) bad('owner', `${where} has owner ${inode.uid}:${inode.gid}`);
      if (!validTime(inode.mtime) || !validTime(inode.atime) || !validTime(inode.ctime)) bad('time', `${where} has times ${JSON.stringify([inode.mtime, inode.atime, inode.ctime])}`);
      if (!Number.isSafeInteger(inode.size) || inode.size < 0) bad('size', `${where} has size ${inode.size}`);
      const rec: Rec = { id: id!, kind: inode.kind, mode: inode.mode, uid: inode.uid, gid: inode.gid, size: inode.size, mtime: inode.mtime };
      switch (inode.kind) {
        case 'file': {
          stats.files++;
          stats.fileBytes += inode.size;
          const ranges = inode.content?.dataRanges;
          stats.dataBytes += ranges ? ranges.reduce((n, r) => n + r.length, 0) : inode.size;
          if (inode.size > 0 && !inode.content) bad('content', `${where} has ${inode.size} bytes and no content`);
          if (ranges) checkRanges(ranges, inode.size, (m) => bad('ranges', `${where}: ${m}`));
          if (inode.content && inode.size > 0 && filesRead < MAX_FILES_READ && budget > 0) {
            filesRead++;
            const r = await readContent(s, inode, String(where), rng, Math.min(budget, FILE_BUDGET), (m) => bad('read', `${where}: ${m}`));
            budget -= r.bytes;
            line += ` sha ${r.sha}`;
            if (r.whole) rec.sha256 = r.sha;
          }
          break;
        }
        case 'dir': stats.dirs++; break;
        case 'symlink':
          stats.symlinks++;
          if (!(inode.target instanceof Uint8Array) || inode.target.length !== inode.size) bad('symlink', `${where}: target of ${inode.target?.length} bytes, size ${inode.size}`);
          else { line += ` -> ${hex(inode.target)}`; rec.target = hex(inode.target); }
          break;
        default:
          stats.others++;
          if (inode.size !== 0) bad('size', `${where} (a ${inode.kind}) has size ${inode.size}`);
      }
      if (inode.kind === 'chardev' || inode.kind === 'blockdev') {
        const r = inode.rdev;
        if (!r || !Number.isSafeInteger(r.major) || !Number.isSafeInteger(r.minor)) bad('rdev', `${where}: device number ${JSON.stringify(r)}`);
        else { line += ` dev ${r.major},${r.minor}`; rec.rdev = r; }
      } else if (inode.rdev) bad('rdev', `${where} (a ${inode.kind}) has a device number`);
      byId.set(id!, rec);
      if (records.size < 20000 && path) records.set(hex(path), rec);
    } else if (records.size < 20000 && path && byId.has(id!)) records.set(hex(path), byId.get(id!)!);
    lines.push(line);
    if (inode.kind === 'dir' && first) {
      const entries = inode.entries;
      if (!Array.isArray(entries)) { bad('entries', `directory '${text}' has no entry list`); continue; }
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k];
        const name = e.name;
        const where = { toString: () => `'${text}/${Buffer.from(name ?? []).toString()}'` };
        if (!(name instanceof Uint8Array) || name.length < 1 || name.length > 255 || name.includes(0x2f) || name.includes(0)) { bad('name', `${where}: a name of ${name?.length} bytes with / or NUL or out of 1..255`); continue; }
        if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)) bad('name', `${where} is . or ..`);
        if (k > 0 && cmpBytes(entries[k - 1].name, name) >= 0) bad('order', `${where} is not after '${Buffer.from(entries[k - 1].name).toString()}' (entries must be sorted and unique)`);
        let child: Uint8Array | undefined;
        if (path && path.length + name.length < 4096) {
          child = new Uint8Array(path.length + (path.length ? 1 : 0) + name.length);
          child.set(path);
          if (path.length) child[path.length] = 0x2f;
          child.set(name, path.length + (path.length ? 1 : 0));
        }
        stack.push({ inode: e.inode, name, parent: lineNo, path: child });
      }
    }
  }
  const got = tree.stats;
  if (complete) for (const k of Object.keys(stats) as (keyof typeof stats)[]) {
    if (got[k] !== stats[k]) { bad('stats', `stats.${k} is ${got[k]}, the tree has ${stats[k]}`); break; }
  }
  // (Not dataBytes: a spooled file's all-zero blocks become holes, a file read in place keeps them.)
  lines.push(`stats ${JSON.stringify({ ...stats, dataBytes: undefined })}`);
  return { lines, records };
}

function checkRanges(ranges: readonly { offset: number; length: number }[], size: number, bad: (m: string) => void): void {
  let end = 0;
  for (const r of ranges) {
    const e = r.offset + r.length;
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.length <= 0 || r.offset < end || r.offset % 4096 !== 0 || e > size || (e % 4096 !== 0 && e !== size)) {
      return bad(`data range [${r.offset}, +${r.length}) is not sorted, aligned to 4096 and inside the ${size}-byte file (previous end ${end})`);
    }
    end = e;
  }
}

/** Reads a file from 0 (bounded) in pieces, then a few random ranges; checks lengths and the zeros of holes. */
async function readContent(s: Steps, inode: SourceInode, where: string, rng: Rng, budget: number, bad: (m: string) => void): Promise<{ bytes: number; sha: string; whole: boolean }> {
  const content = inode.content!;
  const size = inode.size;
  const h = createHash('sha256');
  const pieceSize = rng.pick([4096, 65536, MiB]);
  const end = Math.min(size, budget);
  let at = 0;
  const checkRead = (off: number, len: number, b: Uint8Array | undefined): boolean => {
    if (!b) return false;
    if (!(b instanceof Uint8Array) || b.length !== len) { bad(`read(${off}, ${len}) returned ${b?.length} bytes`); return false; }
    const ranges = content.dataRanges;
    if (ranges) {
      // Bytes outside every data range must be zeros.
      let pos = off;
      for (const r of ranges) {
        if (r.offset >= off + len) break;
        if (r.offset + r.length <= pos) continue;
        for (let i = pos; i < Math.min(r.offset, off + len); i++) if (b[i - off] !== 0) { bad(`byte ${i} is in a hole and reads ${b[i - off]}`); return false; }
        pos = Math.max(pos, r.offset + r.length);
      }
      for (let i = pos; i < off + len; i++) if (b[i - off] !== 0) { bad(`byte ${i} is in a hole and reads ${b[i - off]}`); return false; }
    }
    return true;
  };
  let ok = true;
  while (at < end) {
    const len = Math.min(pieceSize, end - at);
    const off = at;
    const b = await s.run('read', `${where}@${off}+${len}`, () => content.read(off, len));
    if (!checkRead(off, len, b)) { ok = false; break; }
    h.update(b!);
    at += len;
  }
  let extra = 0;
  for (let k = 0; k < 2 && size > 0; k++) {
    const off = k === 0 ? size - 1 : rng.int(size);
    const len = Math.min(size - off, k === 0 ? 1 : 1 + rng.int(70_000));
    const b = await s.run('read', `${where}@${off}+${len}`, () => content.read(off, len));
    if (checkRead(off, len, b)) extra += len;
  }
  return { bytes: at + extra, sha: ok ? h.digest('hex') : 'unread', whole: ok && at === size };
}

/** The unmutated seed must scan to what it was made from. */
function compareControl(j: Judge, scan: Scan, expect: TarExpect[], rootOwned: boolean): void {
  const op = 'control';
  if (scan.outcome !== 'ok' || !scan.records) return j.finding('wrong-tree', op, `the unmutated seed did not scan: ${scan.outcome} ${scan.message ?? ''}`);
  const got = scan.records;
  let n = 0;
  const wrong = (m: string) => { if (n++ < 8) j.finding('wrong-tree', op, m); };
  const show = (p: string) => JSON.stringify(Buffer.from(p, 'hex').toString()).slice(0, 80);
  for (const e of expect) {
    const r = got.get(e.path);
    if (!r) { wrong(`${show(e.path)} is missing`); continue; }
    if (e.sameAs !== undefined) {
      if (got.get(e.sameAs)?.id !== r.id) wrong(`${show(e.path)} is not the same inode as ${show(e.sameAs)}`);
      continue;
    }
    const diffs: string[] = [];
    const cmp = (k: string, a: unknown, b: unknown) => { if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${k} ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`); };
    cmp('kind', r.kind, e.kind);
    cmp('mode', r.mode.toString(8), e.mode.toString(8));
    if (!rootOwned && e.path !== '') { cmp('uid', r.uid, e.uid); cmp('gid', r.gid, e.gid); }
    if (e.kind === 'file' || e.kind === 'symlink') cmp('size', r.size, e.size);
    if (e.sha256 && r.sha256) cmp('sha256', r.sha256, e.sha256);
    if (e.target !== undefined) cmp('target', r.target, e.target);
    if (e.rdev) cmp('rdev', r.rdev, e.rdev);
    if (e.mtime) cmp('mtime', r.mtime, e.mtime);
    if (diffs.length) wrong(`${show(e.path)}: ${diffs.join('; ')}`);
  }
  const known = new Set(expect.map((e) => e.path));
  for (const p of got.keys()) if (!known.has(p)) wrong(`${show(p)} is not in the seed's tree`);
}

// ---------------------------------------------------------------------------------------------
// layout

const UUID = new Uint8Array(16).map((_, i) => 0x10 + i);
const HASH_SEED = new Uint8Array(16).map((_, i) => 0xa0 + i);
const FS_TIME = 1_750_000_000;

/**
 * A time as the built inode holds it: clamped to SOURCE_DATE_EPOCH, then to the range of a
 * 256-byte inode's extra field (encode-inode.ts putTime: 1901..2446; both ext4 and ext2 get
 * 256-byte inodes, so nanoseconds too).
 */
function storedTime(t: Timestamp, clamp: number | undefined): Timestamp {
  let sec = clamp !== undefined && t.sec > clamp ? clamp : t.sec;
  const nsec = clamp !== undefined && t.sec > clamp ? 0 : t.nsec;
  const max = 2 ** 34 - 2 ** 31 - 1;
  sec = Math.min(max, Math.max(-(2 ** 31), Math.trunc(sec)));
  return { sec, nsec: Math.min(999_999_999, Math.max(0, nsec)) };
}

async function layoutOps(s: Steps, tree: SourceTree, rng: Rng, limits: Limits): Promise<void> {
  const ext4 = rng.chance(0.75);
  const clamp = rng.chance(0.3) ? FS_TIME : undefined;
  const opts: Omit<Ext4LayoutOptions, 'sizeBytes'> = {
    fs: ext4 ? 'ext4' : 'ext2', uuid: UUID, hashSeed: HASH_SEED, label: new TextEncoder().encode(rng.pick(['', 'fuzz', 'x'.repeat(16)])),
    time: FS_TIME, clamp, alignBlocks: rng.pick([1, 16, 256]),
  };
  s.announce('autoFilesystemSize');
  const size = await s.run('autoFilesystemSize', opts.fs, async () => autoFilesystemSize(tree, opts));
  if (size === undefined) return;
  if (!Number.isSafeInteger(size) || size < 16 * MiB || size % MiB !== 0) return s.finding('accepted-invalid', `autoFilesystemSize gave ${size} (not a whole number of MiB ≥ 16 MiB)`, 'autoFilesystemSize');
  if (rng.chance(0.3)) {
    const small = rng.pick([MiB, 4 * MiB, Math.floor(size / 2 / 4096) * 4096]);
    await s.run('measureExt4', `${small}`, async () => measureExt4(tree.root, { ...opts, sizeBytes: small }));
  }
  s.announce('fitFilesystem');
  let layout;
  try {
    layout = fitFilesystem(tree, { ...opts, sizeBytes: size });
    s.j.result.ops.push({ op: 'fitFilesystem', outcome: 'ok' });
  } catch (err) {
    const outcome = s.j.judgeError('fitFilesystem', err);
    s.j.result.ops.push({ op: 'fitFilesystem', outcome });
    if (err instanceof HexzError && /does not fit|full/.test((err as Error).message)) s.finding('auto-size-too-small', `the auto size ${size} does not fit the tree: ${(err as Error).message}`, 'fitFilesystem');
    return;
  }
  const img = new Ext4Image(layout, `${tree.name} (${opts.fs})`);
  if (img.size > size || img.size < size - 128 * MiB) s.finding('accepted-invalid', `the image is ${img.size} bytes for a ${size}-byte filesystem`, 'Ext4Image');
  s.announce('image.extents');
  const ext = await s.run('image.extents', '', () => img.extents(0, img.size));
  if (!ext) return;
  let at = 0;
  for (const e of ext) {
    if (e.offset !== at || !(e.length > 0) || (e.kind !== 'zero' && e.kind !== 'data')) { s.finding('accepted-invalid', `extent ${JSON.stringify(e)} where one at ${at} was due`, 'image.extents'); return; }
    at += e.length;
  }
  if (at !== img.size) { s.finding('accepted-invalid', `extents cover ${at} of ${img.size} bytes`, 'image.extents'); return; }
  // The data extents (bounded), and a piece of a zero extent (which must read as zeros).
  s.announce('image.read');
  let budget = IMAGE_BUDGET;
  for (const e of ext) {
    if (budget <= 0) break;
    if (e.kind === 'zero') continue;
    for (let off = e.offset; off < e.offset + e.length && budget > 0;) {
      const len = Math.min(4 * MiB, e.offset + e.length - off, budget);
      const b = await s.run('image.read', `${off}+${len}`, () => img.read(off, len));
      if (!b) return;
      if (b.length !== len) { s.finding('accepted-invalid', `image.read(${off}, ${len}) returned ${b.length} bytes`, 'image.read'); return; }
      off += len;
      budget -= len;
    }
  }
  const z = ext.filter((e) => e.kind === 'zero');
  if (z.length) {
    const e = rng.pick(z);
    const len = Math.min(e.length, MiB);
    const b = await s.run('image.read', `zero@${e.offset}+${len}`, () => img.read(e.offset, len));
    if (b && b.some((x) => x !== 0)) s.finding('accepted-invalid', `zero extent at ${e.offset} reads non-zero bytes`, 'image.read');
  }
  const back = rng.chance(0.6);
  s.j.env.log(`  layout: ${opts.fs} ${size} bytes, ${ext.length} extents${back ? ", read back" : ""}`);
  if (back) await readback(s, tree, img, ext4, clamp, limits);
  await img.close();
}

/** The built filesystem, read with the project's ext4 reader, must hold the tree. */
async function readback(s: Steps, tree: SourceTree, img: Ext4Image, ext4: boolean, clamp: number | undefined, limits: Limits): Promise<void> {
  const wrong = (m: string, op = 'readback') => { if (limits.ok('readback')) s.finding('wrong-tree', `built ${ext4 ? 'ext4' : 'ext2'}: ${m}`, op); };
  s.announce('readback');
  const fs = await s.run('readback-open', '', () => Ext4Filesystem.open({ size: img.size, read: (o, l) => img.read(o, l) }));
  if (!fs) return wrong('the built filesystem does not open');
  const inos = new Map<SourceInode, number>();
  const queue: { src: SourceInode; ino: number; path: string }[] = [{ src: tree.root, ino: fs.rootIno, path: '' }];
  let entries = 0;
  let bytes = READBACK_BYTES;
  while (queue.length && entries < READBACK_ENTRIES) {
    const d = queue.shift()!;
    const list = await s.run('readback-readdir', d.path || '/', () => fs.readdir(d.ino));
    if (!list) return wrong(`readdir(${d.path || '/'}) fails`);
    const want = new Map((d.src.entries ?? []).map((e) => [hex(e.name), e]));
    const seen = new Set<string>();
    for (const e of list) {
      const key = hex(e.nameBytes);
      if (key === '2e' || key === '2e2e') continue;
      if (d.path === '' && e.name === 'lost+found' && !want.has(key)) continue;
      const src = want.get(key);
      const path = `${d.path}/${e.name}`;
      if (!src) { wrong(`${JSON.stringify(path)} is in the filesystem, not in the tree`); continue; }
      seen.add(key);
      if (++entries > READBACK_ENTRIES) break;
      const known = inos.get(src.inode);
      if (known !== undefined) { if (known !== e.ino) wrong(`${JSON.stringify(path)} is inode ${e.ino}, its other name inode ${known} (a hard link split)`); continue; }
      inos.set(src.inode, e.ino);
      const n = await s.run('readback-stat', path, () => fs.stat(e.ino));
      if (!n) { wrong(`stat(${JSON.stringify(path)}) fails`); continue; }
      const i = src.inode;
      const diffs: string[] = [];
      const cmp = (k: string, a: unknown, b: unknown) => { if (JSON.stringify(a) !== JSON.stringify(b)) diffs.push(`${k} ${JSON.stringify(a)} (tree ${JSON.stringify(b)})`); };
      cmp('type', n.type, i.kind);
      cmp('mode', (n.mode & 0o7777).toString(8), i.mode.toString(8));
      cmp('owner', `${n.uid}:${n.gid}`, `${i.uid}:${i.gid}`);
      if (i.kind === 'file' || i.kind === 'symlink') cmp('size', n.size, i.size);
      cmp('mtime', n.mtime, storedTime(i.mtime, clamp));
      if (i.kind === 'chardev' || i.kind === 'blockdev') cmp('rdev', n.rdev, i.rdev ?? { major: 0, minor: 0 });
      if (i.kind === 'symlink' && i.target) {
        const t = await s.run('readback-readlink', path, () => fs.readlink(e.ino));
        const text = Buffer.from(i.target).toString('utf8');
        if (t !== undefined && !text.includes('\ufffd')) cmp('target', t, text);
      }
      if (i.kind === 'file' && i.content && i.size > 0 && bytes > 0 && n.size === i.size) {
        const len = Math.min(i.size, bytes, MiB);
        bytes -= len;
        const got = await s.run('readback-read', `${path}@0+${len}`, () => fs.read(e.ino, 0, len));
        const exp = await s.run('read', `${path}@0+${len}`, () => i.content!.read(0, len));
        if (got && exp && Buffer.compare(Buffer.from(got), Buffer.from(exp)) !== 0) diffs.push(`the first ${len} bytes differ from the tree's`);
      }
      if (diffs.length) wrong(`${JSON.stringify(path)}: ${diffs.join('; ')}`, `readback(${path.slice(0, 60)})`);
      if (i.kind === 'dir') queue.push({ src: i, ino: e.ino, path });
    }
    if (entries <= READBACK_ENTRIES) for (const k of want.keys()) if (!seen.has(k)) wrong(`${JSON.stringify(`${d.path}/${Buffer.from(k, 'hex').toString()}`)} is in the tree, not in the filesystem`);
  }
}
