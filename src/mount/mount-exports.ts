import { constants } from 'node:os';
import { UsageError } from '../errors.js';
import type { ServeExport } from '../serve/serve-export.js';
import { FuseOp, type FuseBinding, type FuseRequest, type FuseSession } from './fuse-binding.js';
import { SEEK_DATA, SEEK_HOLE, seekDataHole } from './seek-data-hole.js';

/** Options of {@link mountExports}. */
export interface MountExportsOptions {
  /** The libfuse3 addon ({@link loadFuseBinding}); injected so the dispatcher is testable. */
  binding: FuseBinding;
  /** Existing directory to mount on. */
  dir: string;
  /** One regular file per export, named by `export.name` (`disk`, `memory`). */
  exports: ServeExport[];
  /** Writable when every export has a writer (an overlay); else the mount is `ro`. */
  writable: boolean;
  /** Pass libfuse's `allow_other`: users other than the mounting one may read the files. */
  allowOther?: boolean;
  /** `fsname` shown by mount(8) and /proc/mounts (commas are escaped here). */
  fsName: string;
  /** Logs one line (a failed read, say); default: nothing. */
  log?: (line: string) => void;
}

/** A mounted file system serving exports; see {@link mountExports}. */
export interface FuseMount {
  /** The mount point. */
  readonly dir: string;
  /** Resolves once the kernel has initialised the mount (the first request can be answered). */
  readonly ready: Promise<void>;
  /**
   * Resolves once the mount has ended (`fusermount3 -u`, `hexz umount`, or an abort) and every
   * request in flight has been answered; the session is then freed.
   */
  readonly done: Promise<void>;
}

const ROOT = 1;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
// fuse_lowlevel.h FUSE_SET_ATTR_*: which attributes a setattr changes.
const SET_MODE = 1 << 0;
const SET_UID = 1 << 1;
const SET_GID = 1 << 2;
const SET_SIZE = 1 << 3;
/**
 * Attribute/entry cache times in seconds: sizes never change (no truncate), so a read-only
 * mount lets the kernel keep them long; an overlay's mtime moves with writes.
 */
const RO_ATTR_TIMEOUT = 3600;
const RW_ATTR_TIMEOUT = 1;

const E = constants.errno;

/**
 * Mounts `exports` on `dir` through the kernel's FUSE: a directory holding one regular file
 * per export, its size the export's, its mtime the export's `modified` (the archive's creation
 * time). Requests are answered asynchronously and concurrently: every read in flight is its
 * own promise (long ones decode on the exports' worker pool), answered in any order. `lseek`
 * SEEK_DATA/SEEK_HOLE reports the exports' zero extents as holes. Writes (only with
 * `writable`) go to the export's writer; `fsync` and close (`flush`) make them durable.
 *
 * Unmounting is done from outside (`fusermount3 -u DIR`, see {@link unmountDir}); `done`
 * resolves after. The mount uses libfuse's `auto_unmount`, so if this process dies the
 * fusermount3 helper unmounts DIR (no "Transport endpoint is not connected" left behind).
 *
 * @throws UsageError when libfuse refuses the mount (libfuse prints its reason on stderr).
 */
export function mountExports(options: MountExportsOptions): FuseMount {
  const { binding, dir, exports, writable } = options;
  const log = options.log ?? (() => {});
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const timeout = writable ? RW_ATTR_TIMEOUT : RO_ATTR_TIMEOUT;
  const fileMode = S_IFREG | (writable ? 0o644 : 0o444);
  const dirMode = S_IFDIR | (writable ? 0o755 : 0o555);
  const byIno = (ino: number): ServeExport | undefined => (ino >= ROOT + 1 ? exports[ino - ROOT - 1] : undefined);
  const mtimeOf = () => Math.max(0, ...exports.map((e) => e.modified.getTime()));

  let pending = 0;
  let exited = false;
  let session: FuseSession | undefined;
  let resolveReady!: () => void;
  let resolveDone!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const done = new Promise<void>((r) => (resolveDone = r));
  const finish = () => {
    // libfuse frees a request when it is answered: the session may go only once none is open.
    if (!exited || pending > 0 || !session) return;
    binding.destroy(session);
    session = undefined;
    resolveDone();
  };

  const attr = (req: FuseRequest, ino: number, reply: 'attr' | 'entry'): void => {
    const e = byIno(ino);
    type Attr = [ino: number, mode: number, size: number, mtimeMs: number, uid: number, gid: number, nlink: number, timeout: number];
    const args: Attr | undefined = ino === ROOT
      ? [ROOT, dirMode, 0, mtimeOf(), uid, gid, 2, timeout]
      : e ? [ino, fileMode, e.size, e.modified.getTime(), uid, gid, 1, timeout] : undefined;
    if (!args) return binding.replyErr(req, E.ENOENT);
    if (reply === 'attr') binding.replyAttr(req, ...args);
    else binding.replyEntry(req, ...args);
  };

  /** Answers one request; a promise when the answer needs I/O. */
  const serve = (op: FuseOp, req: FuseRequest, ino: number, a: number, b: number, data: Uint8Array | string | undefined): Promise<void> | void => {
    const e = byIno(ino);
    switch (op) {
      case FuseOp.Lookup: {
        const i = ino === ROOT ? exports.findIndex((x) => x.name === data) : -1;
        return i < 0 ? binding.replyErr(req, E.ENOENT) : attr(req, ROOT + 1 + i, 'entry');
      }
      case FuseOp.Getattr:
        return attr(req, ino, 'attr');
      case FuseOp.Setattr:
        // A file is a fixed-size disk: no resize, chmod or chown. Times are accepted and
        // ignored (touch, cp -p and tar set them) and the current attributes returned.
        if (!e || (a & (SET_MODE | SET_UID | SET_GID)) || ((a & SET_SIZE) && b !== e.size)) return binding.replyErr(req, E.EPERM);
        return attr(req, ino, 'attr');
      case FuseOp.Open:
        if (!e) return binding.replyErr(req, E.EISDIR);
        if ((a & 3) !== 0 && !e.writer) return binding.replyErr(req, E.EROFS);
        // The bytes change only through this mount, so the page cache stays valid across opens.
        return binding.replyOpen(req, true);
      case FuseOp.Read: {
        if (!e) return binding.replyErr(req, E.EISDIR);
        const length = Math.max(0, Math.min(b, e.size - a));
        if (length === 0) return binding.replyBuf(req, new Uint8Array(0));
        // The reply is written to /dev/fuse before replyBuf returns: the memory goes back at once.
        return e.read(a, length).then((bytes) => {
          binding.replyBuf(req, bytes);
          e.recycle?.(bytes);
        });
      }
      case FuseOp.Write: {
        if (!e?.writer) return binding.replyErr(req, E.EROFS);
        const bytes = data as Uint8Array;
        // A disk does not grow: the part past the end is refused like a full device.
        const length = Math.min(bytes.length, e.size - a);
        if (length <= 0) return binding.replyErr(req, E.ENOSPC);
        return e.writer.write(a, bytes.subarray(0, length)).then(() => binding.replyWrite(req, length));
      }
      case FuseOp.Flush:
      case FuseOp.Fsync:
        return e?.writer ? e.writer.flush().then(() => binding.replyErr(req, 0)) : binding.replyErr(req, 0);
      case FuseOp.Release:
        return binding.replyErr(req, 0);
      case FuseOp.Readdir: {
        if (ino !== ROOT) return binding.replyErr(req, E.ENOTDIR);
        const entries: [string, number, number][] = [['.', ROOT, dirMode], ['..', ROOT, dirMode], ...exports.map((x, i): [string, number, number] => [x.name, ROOT + 1 + i, fileMode])];
        return binding.replyDir(req, b, a, entries);
      }
      case FuseOp.Lseek: {
        if (!e) return binding.replyErr(req, E.EISDIR);
        if (b !== SEEK_DATA && b !== SEEK_HOLE) return binding.replyErr(req, E.EINVAL);
        return seekDataHole((o, l, n) => e.extents(o, l, n), e.size, a, b)
          .then((at) => (at === undefined ? binding.replyErr(req, E.ENXIO) : binding.replyLseek(req, at)));
      }
      case FuseOp.Statfs:
        return binding.replyStatfs(req, Math.ceil(exports.reduce((s, x) => s + x.size, 0) / 4096), exports.length + 1);
      default:
        return binding.replyErr(req, E.ENOSYS);
    }
  };

  const fail = (req: FuseRequest, op: FuseOp, err: unknown) => {
    log(`request ${op} failed: ${(err as Error)?.message ?? err}`);
    binding.replyErr(req, err instanceof UsageError ? E.EINVAL : E.EIO);
  };

  const args = ['hexz', '-o', [
    `fsname=${options.fsName.replace(/[\\,]/g, (c) => `\\${c}`)}`,
    'subtype=hexz',
    writable ? 'rw' : 'ro',
    // The kernel checks the modes above (0444 / 0644) itself, also for allow_other users.
    'default_permissions',
    // fusermount3 stays behind and unmounts DIR if this process dies (kill -9, OOM).
    'auto_unmount',
    ...(options.allowOther ? ['allow_other'] : []),
  ].join(',')];
  try {
    session = binding.mount(dir, args, (op, req, ino, a, b, data) => {
      if (op === FuseOp.Init) return resolveReady();
      if (op === FuseOp.Exit) {
        exited = true;
        return finish();
      }
      if (!req) return;
      pending++;
      let result: Promise<void> | void = undefined;
      try {
        result = serve(op, req, ino, a, b, data);
      } catch (err) {
        fail(req, op, err);
      }
      if (result instanceof Promise) {
        result.catch((err) => fail(req, op, err)).finally(() => {
          pending--;
          finish();
        });
      } else {
        pending--;
      }
    });
  } catch (err) {
    throw new UsageError(`cannot mount on ${dir}: ${(err as Error).message} (see the libfuse message above)`, { stage: 'mount' }, { cause: err });
  }
  return { dir, ready, done };
}
