import { createRequire } from 'node:module';
import { UnsupportedError } from '../errors.js';

/** An opaque libfuse request: answer it exactly once with one of the `reply*` functions. */
export type FuseRequest = { readonly __fuseRequest: unique symbol };
/** An opaque mounted session (libfuse `fuse_session` and its thread). */
export type FuseSession = { readonly __fuseSession: unique symbol };

/** Operation codes of {@link FuseHandler} calls (native/fuse/hexz_fuse.c `enum op`). */
export enum FuseOp {
  /** The kernel's INIT was answered: the mount serves requests. No request. */
  Init = 1,
  /** The session ended (unmounted or aborted); `a` is the loop's result. No request. */
  Exit = 2,
  /** `a`: unused; `data`: the name looked up in directory `ino`. */
  Lookup = 3,
  Getattr = 4,
  /** `a`: FUSE_SET_ATTR_* mask; `b`: the requested size. */
  Setattr = 5,
  /** `a`: open(2) flags. */
  Open = 6,
  /** `a`: offset; `b`: length (bytes). */
  Read = 7,
  /** `a`: offset; `b`: length; `data`: the bytes. */
  Write = 8,
  Flush = 9,
  /** `a`: datasync flag. */
  Fsync = 10,
  Release = 11,
  /** `a`: directory offset (entry index); `b`: reply buffer size (bytes). */
  Readdir = 12,
  /** `a`: offset; `b`: whence (SEEK_DATA 3, SEEK_HOLE 4). */
  Lseek = 13,
  Statfs = 14,
}

/** Called on the JavaScript thread for every request and session event; must never throw. */
export type FuseHandler = (op: FuseOp, req: FuseRequest | undefined, ino: number, a: number, b: number, data: Uint8Array | string | undefined) => void;

/** The native addon's functions (native/fuse/hexz_fuse.c); times in ms, sizes in bytes. */
export interface FuseBinding {
  /**
   * Mounts a libfuse3 session on `dir` with libfuse arguments `args` (e.g. `['hexz', '-o', 'ro']`)
   * and starts its thread; `handler` receives every request. Keeps the event loop alive until
   * the session ends ({@link FuseOp.Exit}) and {@link destroy} runs.
   * @throws Error when libfuse refuses the options or the mount (libfuse prints why on stderr).
   */
  mount(dir: string, args: string[], handler: FuseHandler): FuseSession;
  /** Joins the ended session's thread and frees it; only after Exit, once every request is answered. */
  destroy(session: FuseSession): void;
  replyErr(req: FuseRequest, errno: number): void;
  replyBuf(req: FuseRequest, data: Uint8Array): void;
  replyAttr(req: FuseRequest, ino: number, mode: number, size: number, mtimeMs: number, uid: number, gid: number, nlink: number, timeoutSeconds: number): void;
  replyEntry(req: FuseRequest, ino: number, mode: number, size: number, mtimeMs: number, uid: number, gid: number, nlink: number, timeoutSeconds: number): void;
  replyOpen(req: FuseRequest, keepCache: boolean): void;
  replyWrite(req: FuseRequest, count: number): void;
  replyLseek(req: FuseRequest, offset: number): void;
  /** Entries from index `offset` on that fit in `size` bytes: `[name, ino, mode]`. */
  replyDir(req: FuseRequest, size: number, offset: number, entries: [string, number, number][]): void;
  replyStatfs(req: FuseRequest, blocks4k: number, files: number): void;
}

/**
 * Loads hexz's libfuse3 addon (`native/fuse`, the optional dependency `hexz-fuse`), which
 * `npm install` builds where libfuse3-dev is installed. Loaded only by `hexz mount`, so every
 * other command works on machines without FUSE.
 * @throws UnsupportedError naming the packages to install when the addon is not built.
 */
export function loadFuseBinding(): FuseBinding {
  try {
    return createRequire(import.meta.url)('hexz-fuse') as FuseBinding;
  } catch (err) {
    throw new UnsupportedError(
      'FUSE support is not built: install libfuse3 (Debian: apt-get install fuse3 libfuse3-dev pkg-config), then run npm rebuild hexz-fuse',
      { stage: 'mount' },
      { cause: err },
    );
  }
}
