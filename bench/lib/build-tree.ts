/**
 * The source trees of the build bench: walking one (its regular files, sorted, and its counts),
 * reading it through so every program finds it in the page cache, copying it for the thin
 * rebuild, choosing files to change with a seeded PRNG, and changing them.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, lstatSync, openSync, readdirSync, readSync, statfsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './log.js';
import { mulberry32 } from './prng.js';

/** What a walk of a tree found (symlinks are not followed; each name counts once). */
export interface TreeWalk {
  /** Paths of the regular files, sorted (code-unit order, so the same on every run). */
  files: string[];
  dirs: number;
  symlinks: number;
  /** FIFOs, sockets, devices. */
  others: number;
  /** Regular files with more than one name (each name is in `files`). */
  hardLinked: number;
  /** Σ apparent size of the regular files (a hard-linked file counted at every name). */
  fileBytes: number;
}

/**
 * Walks `root` without following symlinks and without crossing into other file systems'
 * contents any differently than `find` would (mount points below the root are walked too).
 * Unreadable directories are counted and reported, not fatal.
 */
export function walkTree(root: string): TreeWalk {
  const w: TreeWalk = { files: [], dirs: 0, symlinks: 0, others: 0, hardLinked: 0, fileBytes: 0 };
  const stack = [root];
  let unreadable = 0;
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    w.dirs++;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      unreadable++;
      continue;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isSymbolicLink()) w.symlinks++;
      else if (e.isFile()) {
        const st = lstatSync(p);
        w.files.push(p);
        w.fileBytes += st.size;
        if (st.nlink > 1) w.hardLinked++;
      } else w.others++;
    }
  }
  if (unreadable) log(`  WARNING: ${unreadable} director(ies) under ${root} could not be listed`);
  w.files.sort();
  return w;
}

/**
 * Reads every regular file of the walk through (8 MiB at a time), so its pages are in the page
 * cache; returns the bytes read and the seconds it took. Files that cannot be opened are skipped.
 */
export function warmTree(w: TreeWalk): { bytes: number; s: number } {
  const t0 = performance.now();
  const buf = Buffer.allocUnsafe(8 << 20);
  let bytes = 0;
  for (const f of w.files) {
    let fd: number;
    try {
      fd = openSync(f, 'r');
    } catch {
      continue;
    }
    try {
      for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return { bytes, s: (performance.now() - t0) / 1000 };
}

/** Bytes free to this user on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** `cp -a SRC/. DEST` (DEST created by cp): untimed set-up of the thin rebuild. */
export function copyTree(src: string, dest: string): number {
  const t0 = performance.now();
  execFileSync('cp', ['-a', '--', `${src}/.`, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
  return (performance.now() - t0) / 1000;
}

/**
 * `share` of the files (at least one), chosen by a seeded PRNG over the sorted list (a partial
 * Fisher–Yates shuffle), so every run of the bench picks the same ones for the same tree.
 */
export function pickFiles(files: string[], share: number, seed: number): string[] {
  const k = Math.max(1, Math.round(files.length * share));
  const rand = mulberry32(seed);
  const a = [...files];
  for (let i = 0; i < k && i < a.length; i++) {
    const j = i + Math.floor(rand() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k).sort();
}

/** Sets access and modification time of each file to now, as `touch` does (content unchanged). */
export function touchFiles(files: string[]): void {
  const now = new Date();
  for (const f of files) utimesSync(f, now, now);
}

/** Appends a few bytes to each file (content, size and mtime change). */
export function appendToFiles(files: string[], text = '\n# hexz bench: appended\n'): void {
  for (const f of files) appendFileSync(f, text);
}
