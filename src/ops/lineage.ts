import { readdir, stat } from 'node:fs/promises';
import { isRemote } from '../store/open-source.js';
import { parentOf, resolveIn } from '../store/locations.js';
import { join, resolve, sep } from 'node:path';
import { Archive } from '../node/archive.js';
import { bytesEqual, toHex } from '../format/digest.js';
import { archiveIdentity, type ParentRecord } from '../format/parents.js';
import { blake3 } from '../hash/blake3.js';
import { formatTime } from '../util/format-time.js';
import { throwIfAborted, UsageError, wrapIoError } from '../errors.js';

/** Options for {@link lineage}. */
export interface LineageOptions {
  /** How many archive headers to read at once (default 16). */
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * How a thin archive's direct parent (slot 1 of its parents table, docs/FORMAT.md §15.2) was
 * found: `found` under the directory (it is this node's parent in the tree); `outside` at its
 * recorded path, which is not among the listed archives (outside the directory, or not named
 * `*.hxz`; the node is a root); `missing` nowhere; `modified` a file
 * with the parent's archive id exists but its identity differs (it was changed after the child
 * was made); `replaced` the recorded path holds another archive or a file that is not one.
 */
export type ParentStatus = 'found' | 'outside' | 'missing' | 'modified' | 'replaced';

/** A thin archive's direct parent as its parents table records it, and what was found. */
export interface LineageParent {
  /** Hex archive id the child records for its direct parent. */
  archiveId: string;
  /** The path the child records, relative to the child's directory. */
  recordedPath: string;
  status: ParentStatus;
  /**
   * `found`, `modified`: the file's path relative to the listed directory; `outside`,
   * `replaced`: the recorded path resolved (absolute); `missing`: undefined, or the resolved
   * recorded path when a file is there but cannot be read.
   */
  path?: string;
  /**
   * `found` only: false when the parent in the tree is not at the path the child records, so
   * opening the child needs `--parent-dir` (or `HEXZ_PATH`) naming the parent's directory.
   */
  atRecordedPath?: boolean;
  /** `modified`, `replaced` (and `missing` when the recorded path exists but cannot be read): what is wrong, in one phrase. */
  problem?: string;
}

/** One archive of a {@link LineageReport}, with the archives made thin against it beneath. */
export interface LineageNode {
  /** Path relative to the listed directory, `/`-separated. */
  path: string;
  /** Hex archive id (header bytes 16..32). */
  archiveId: string;
  /** Format version of the archive. */
  version: number;
  /** Size of the archive file in bytes. */
  fileBytes: number;
  /** Bytes of its data region: the block bytes it stores itself. */
  ownBytes: number;
  /** Σ logical size of its streams, in bytes. */
  logicalBytes: number;
  /** Creation time, ISO 8601 UTC. */
  created: string;
  /** Creation time, milliseconds since the epoch. */
  createdMs: number;
  encrypted: boolean;
  signed: boolean;
  /** True for a thin archive (it refers to blocks held by other archives). */
  thin: boolean;
  /** Thin only: logical bytes its entries take from archives of its chain (header 568), else null. */
  referencedBytes: number | null;
  /** Thin only: its direct parent and whether it was found; null for a full archive. */
  parent: LineageParent | null;
  /** Archives whose direct parent this is, oldest first. */
  children: LineageNode[];
}

/** A path under the listed directory that is not in the tree, and why. */
export interface LineageSkipped {
  /** Path relative to the listed directory. */
  path: string;
  /** One-line reason (the error's message). */
  reason: string;
  /** The error's code (`NOT_AN_ARCHIVE`, `CORRUPT_ARCHIVE`, `STORE`, …) when it had one. */
  code?: string;
}

/** What {@link lineage} reports. */
export interface LineageReport {
  /** The listed directory, as given. */
  dir: string;
  /** Full archives, and thin ones whose direct parent is not in the directory, oldest first. */
  roots: LineageNode[];
  /** Number of archives in the tree. */
  archives: number;
  /** Σ file sizes of the archives, in bytes. */
  fileBytes: number;
  /** Σ logical sizes of the archives, in bytes. */
  logicalBytes: number;
  /** `*.hxz` files that could not be read as archives, and directories that could not be read. */
  skipped: LineageSkipped[];
}

/** A scanned archive: the node, its header identity and its slot-1 record. */
interface Scanned {
  node: LineageNode;
  absPath: string;
  identity: Uint8Array;
  direct: ParentRecord | undefined;
}

/**
 * Lists every `*.hxz` under `dir` (recursively) as lineage trees: each thin archive beneath its
 * direct parent, matched as a reader would match it (archive id AND identity of slot 1, §15.4),
 * wherever in the directory it now lies. Only headers and parents tables are read (parents
 * tables are never encrypted, so no password is needed). Files that are not readable archives
 * are skipped and listed, never fatal. Symbolic links to files are followed, to directories not
 * (a link cycle would never end).
 *
 * @param dir the directory to scan.
 * @throws UsageError when `dir` is not a directory.
 * @throws StoreError when `dir` itself cannot be read.
 * @throws AbortedError when `signal` is aborted.
 * @example
 * const { roots } = await lineage('/srv/snapshots');
 * const show = (n: LineageNode, depth = 0): void => {
 *   console.log(`${'  '.repeat(depth)}${n.path} ${n.ownBytes}`);
 *   n.children.forEach((c) => show(c, depth + 1));
 * };
 * roots.forEach((r) => show(r));
 */
export async function lineage(dir: string, options: LineageOptions = {}): Promise<LineageReport> {
  if (!isRemote(dir)) {
    let info;
    try {
      info = await stat(dir);
    } catch (err) {
      throw wrapIoError(err, dir, 'list');
    }
    if (!info.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  }
  const skipped: LineageSkipped[] = [];
  const files = await findArchives(dir, skipped, options.signal);
  const scanned: Scanned[] = [];
  const limit = Math.max(1, options.concurrency ?? 16);
  for (let i = 0; i < files.length; i += limit) {
    throwIfAborted(options.signal, 'ls');
    const batch = await Promise.all(files.slice(i, i + limit).map((f) => scan(dir, f, skipped)));
    for (const s of batch) if (s) scanned.push(s);
  }
  const roots = await link(scanned);
  skipped.sort((x, y) => compareText(x.path, y.path));
  return {
    dir, roots, archives: scanned.length, skipped,
    fileBytes: scanned.reduce((n, s) => n + s.node.fileBytes, 0),
    logicalBytes: scanned.reduce((n, s) => n + s.node.logicalBytes, 0),
  };
}

/** Paths (relative to `root`) of the `*.hxz` files under it; unreadable directories go to `skipped`. */
async function findArchives(root: string, skipped: LineageSkipped[], signal: AbortSignal | undefined): Promise<string[]> {
  if (/^s3:\/\//i.test(root)) {
    // A prefix is a directory tree: every key under it, relative to it.
    const prefix = `${root.replace(/\/$/, '')}/`;
    const { listS3 } = await import('../store/s3-source.js');
    const keyPrefix = prefix.slice(prefix.indexOf('/', 5) + 1);
    return (await listS3(prefix, undefined, { signal })).map((o) => o.key.slice(keyPrefix.length)).filter((k) => k.endsWith('.hxz')).sort(compareText);
  }
  if (isRemote(root)) throw new UsageError(`${root}: an HTTP server cannot be listed; give an s3:// prefix or a directory`);
  const out: string[] = [];
  const walk = async (rel: string) => {
    throwIfAborted(signal, 'ls');
    let entries;
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch (err) {
      if (rel === '') throw wrapIoError(err, root, 'list');
      skipped.push({ path: toSlash(rel), reason: wrapIoError(err, toSlash(rel), 'list').message, code: 'STORE' });
      return;
    }
    for (const e of entries) {
      const path = rel === '' ? e.name : join(rel, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.name.endsWith('.hxz') && (e.isFile() || e.isSymbolicLink())) out.push(path);
    }
  };
  await walk('');
  return out.sort(compareText);
}

/** Reads one archive's header and parents table; a failure is recorded in `skipped` and gives undefined. */
async function scan(root: string, rel: string, skipped: LineageSkipped[]): Promise<Scanned | undefined> {
  const absPath = isRemote(root) ? resolveIn(root, rel) : resolve(root, rel);
  let a: Archive;
  try {
    a = await Archive.open(absPath, { openParents: false, preloadIndexBytes: 0 });
  } catch (err) {
    const e = err as { message?: string; code?: string };
    // Messages from the store name the absolute path; the listing names paths relative to DIR.
    const reason = (e?.message ?? String(err)).split(`${absPath}: `).join('');
    skipped.push({ path: toSlash(rel), reason, code: typeof e?.code === 'string' ? e.code : undefined });
    return undefined;
  }
  try {
    const h = a.header;
    const thin = h.parents.count > 0;
    const direct = a.parentRecords.find((r) => r.slot === 1);
    const node: LineageNode = {
      path: toSlash(rel), archiveId: toHex(h.archiveId), version: h.version, fileBytes: a.fileSize, ownBytes: h.data.length,
      logicalBytes: a.streams.reduce((n, s) => n + a.size(s), 0),
      created: formatTime(h.createdMs), createdMs: h.createdMs, encrypted: a.encrypted, signed: h.signature.length > 0, thin,
      referencedBytes: thin ? h.parents.referencedBytes : null,
      parent: direct ? { archiveId: toHex(direct.archiveId), recordedPath: direct.path, status: 'missing' } : null,
      children: [],
    };
    return { node, absPath, identity: archiveIdentity(a.headerBytes, blake3), direct };
  } finally {
    await a.close();
  }
}

/**
 * Hangs every thin archive under its direct parent when that is in the scan, and works out for
 * the others why not. When several copies of a parent match, the one at the recorded path wins,
 * else the first by path.
 */
async function link(scanned: Scanned[]): Promise<LineageNode[]> {
  const byId = new Map<string, Scanned[]>();
  for (const s of scanned) {
    const list = byId.get(s.node.archiveId);
    if (list) list.push(s);
    else byId.set(s.node.archiveId, [s]);
  }
  const attached = new Set<Scanned>();
  for (const s of scanned) {
    const rec = s.direct;
    const parent = s.node.parent;
    if (!rec || !parent) continue;
    const recorded = resolveIn(parentOf(s.absPath), rec.path);
    const sameId = (byId.get(parent.archiveId) ?? []).filter((p) => p !== s);
    const atRecorded = (list: Scanned[]) => list.find((p) => p.absPath === recorded) ?? list[0];
    const match = atRecorded(sameId.filter((p) => bytesEqual(p.identity, rec.identity)));
    const modified = atRecorded(sameId);
    if (match) {
      parent.status = 'found';
      parent.path = match.node.path;
      parent.atRecordedPath = match.absPath === recorded;
      match.node.children.push(s.node);
      attached.add(s);
    } else if (modified) {
      parent.status = 'modified';
      parent.path = modified.node.path;
      parent.problem = `${modified.node.path} has the parent's archive id but was modified after this archive was made`;
    } else if (!scanned.some((p) => p.absPath === recorded)) {
      Object.assign(parent, await lookOutside(recorded, rec));
    } else {
      const other = scanned.find((p) => p.absPath === recorded)!;
      parent.status = 'replaced';
      parent.path = recorded;
      parent.problem = `${other.node.path} is another archive (id ${other.node.archiveId})`;
    }
  }
  // No cycle can form: a child records its parent's identity, a hash over a header that commits
  // (through its parents table hash) to the identities of the parent's own parents, so a loop
  // would need an archive's identity inside its own hash input.
  const roots = scanned.filter((s) => !attached.has(s)).map((s) => s.node);
  const order = (x: LineageNode, y: LineageNode) => x.createdMs - y.createdMs || compareText(x.path, y.path);
  const sortAll = (list: LineageNode[]) => {
    list.sort(order);
    for (const n of list) sortAll(n.children);
  };
  sortAll(roots);
  return roots;
}

/**
 * The direct parent of a thin archive that is not in the listed directory: at its recorded
 * path (which may lie outside it), checked by id and identity as a reader would (§15.4).
 */
async function lookOutside(path: string, rec: ParentRecord): Promise<Pick<LineageParent, 'status' | 'path' | 'problem'>> {
  let a: Archive;
  try {
    a = await Archive.open(path, { openParents: false, preloadIndexBytes: 0 });
  } catch (err) {
    const e = err as { code?: string; message?: string; cause?: { code?: string } };
    if (e?.code === 'STORE') return e.cause?.code === 'ENOENT' ? { status: 'missing' } : { status: 'missing', path, problem: e.message };
    return { status: 'replaced', path, problem: `${path} is not a readable archive (${e?.message ?? String(err)})` };
  }
  try {
    if (!bytesEqual(a.archiveId, rec.archiveId)) return { status: 'replaced', path, problem: `${path} is another archive (id ${toHex(a.archiveId)})` };
    if (!bytesEqual(archiveIdentity(a.headerBytes, blake3), rec.identity)) {
      return { status: 'modified', path, problem: `${path} has the parent's archive id but was modified after this archive was made` };
    }
    return { status: 'outside', path };
  } finally {
    await a.close();
  }
}

function toSlash(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

/** Code-point order, independent of the locale (stable output across machines). */
function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
