import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { isRemote, type SourceOptions } from './open-source.js';
import { specialFileKind } from './open-input-file.js';

/**
 * Locations are paths or URLs (http://, https://, s3://bucket/key). Thin archives record their
 * parents by a path relative to the child (FORMAT.md §15.2) and search directories may be
 * either, so the same few operations work on both.
 */

/** The directory a location is in: `dirname` of a path (made absolute), or a URL up to its last `/`. */
export function parentOf(location: string): string {
  if (!isRemote(location)) return dirname(resolve(location));
  const url = new URL(location);
  url.search = '';
  url.hash = '';
  url.pathname = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  return url.toString().replace(/\/$/, '');
}

/** `relative` (a `/`-separated path, or absolute) resolved against the directory `base`. */
export function resolveIn(base: string, relative: string): string {
  if (isRemote(relative)) return relative;
  if (isRemote(base)) return new URL(relative.split('/').map(encodeURIComponent).join('/'), `${base.replace(/\/$/, '')}/`).toString();
  return isAbsolute(relative) ? relative : resolve(base, relative);
}

/** The last component of a path or URL. */
export function baseName(location: string): string {
  if (!isRemote(location)) return basename(location);
  const path = new URL(location).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

/** `name` inside directory `dir` (a path or URL). */
export function joinLocation(dir: string, name: string): string {
  return isRemote(dir) ? resolveIn(dir, name) : join(dir, name);
}

/**
 * Why `location` cannot be opened as an archive without risk (a FIFO would block, a directory
 * has no bytes), or undefined when it may be. Remote locations are always fine to try.
 * @returns undefined also when a local file does not exist (opening it reports that).
 */
export async function unreadableKind(location: string): Promise<string | undefined> {
  if (isRemote(location)) return undefined;
  const st = await stat(location).catch(() => undefined);
  return st ? specialFileKind(st) : undefined;
}

/**
 * The names of the `*.hxz` archives directly in directory `dir`: a local directory, or an
 * s3://bucket/prefix (listed). Plain HTTP servers cannot be listed: none.
 * @returns names, sorted; empty when the directory cannot be listed.
 */
export async function listArchives(dir: string, options: SourceOptions = {}): Promise<string[]> {
  let names: string[] = [];
  try {
    if (/^s3:\/\//i.test(dir)) {
      const { listS3 } = await import('./s3-source.js');
      const prefix = `${dir.replace(/\/$/, '')}/`;
      names = (await listS3(prefix, options.s3Client)).map((o: { key: string }) => o.key.slice(o.key.lastIndexOf('/') + 1));
    } else if (!isRemote(dir)) names = await readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.hxz')).sort();
}

/**
 * How a child at directory `fromDir` records the location `to` of a parent (FORMAT.md §15.2: a
 * `/`-separated path relative to the child): a relative path when both are local files, or both
 * are under the same server or bucket; the URL itself for a remote parent of a local child; and
 * the base name for a local parent of a remote child (a chain is uploaded flat, so it is found
 * beside the child).
 */
export function relativeLocation(fromDir: string, to: string): string {
  const remoteFrom = isRemote(fromDir);
  const remoteTo = isRemote(to);
  if (!remoteFrom && !remoteTo) return relative(fromDir, resolve(to)).split(sep).join('/') || '.';
  if (remoteFrom && remoteTo) {
    const a = new URL(`${fromDir.replace(/\/$/, '')}/`);
    const b = new URL(to);
    if (a.protocol === b.protocol && a.host === b.host) return posix.relative(decodeURIComponent(a.pathname), decodeURIComponent(b.pathname)) || '.';
    return to;
  }
  return remoteTo ? to : baseName(to);
}
