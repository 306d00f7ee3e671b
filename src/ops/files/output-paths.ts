/**
 * Paths of files being restored, kept as bytes: names from a filesystem image are bytes, not
 * necessarily UTF-8, and Node's fs functions take a Buffer path as the exact bytes to use.
 * Also the temporary names items are built under, and removing what a failed restore left.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readdir, rm } from 'node:fs/promises';
import { processAlive } from '../../store/stale-temps.js';

/** Marks an item being built: `.NAME.hexz-tmp-<pid>-<12 hex digits>` (as every hexz output). */
const TEMP_MARK = '.hexz-tmp-';
/** Bytes of NAME kept in a temporary name, so the whole stays within NAME_MAX (255). */
const NAME_BYTES_IN_TEMP = 200;

/** `dir/name` as bytes. */
export function joinBytes(dir: Buffer, name: Uint8Array): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}

/** A path for messages: its bytes as UTF-8 (invalid sequences replaced). */
export function pathText(path: Buffer): string {
  return path.toString('utf8');
}

/** The path as a string when its bytes are valid UTF-8 (round-trip), else undefined. */
export function pathString(path: Buffer): string | undefined {
  const s = path.toString('utf8');
  return Buffer.from(s, 'utf8').equals(path) ? s : undefined;
}

/**
 * A fresh temporary name beside `dir/name`: `.NAME.hexz-tmp-<pid>-<random>`, NAME cut to 200
 * bytes. Same directory, so the final rename stays on one filesystem (atomic).
 */
export function tempPathBeside(dir: Buffer, name: Uint8Array): Buffer {
  const suffix = `${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}`;
  return joinBytes(dir, Buffer.concat([Buffer.from('.'), name.subarray(0, NAME_BYTES_IN_TEMP), Buffer.from(suffix)]));
}

/**
 * Removes the temporary items of `dir/name` that a killed run left (`kill -9` gives no chance
 * to clean up): `.NAME.hexz-tmp-<pid>-…` whose pid is not a running process. Best effort,
 * never throws.
 */
export async function removeStaleItemTemps(dir: Buffer, name: Uint8Array): Promise<void> {
  const prefix = Buffer.concat([Buffer.from('.'), name.subarray(0, NAME_BYTES_IN_TEMP), Buffer.from(TEMP_MARK)]);
  const names = await readdir(dir, { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  for (const n of names) {
    if (n.length <= prefix.length || !n.subarray(0, prefix.length).equals(prefix)) continue;
    const m = /^([1-9][0-9]{0,9})-[0-9a-f]{12}$/.exec(n.subarray(prefix.length).toString('latin1'));
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    await removeTree(joinBytes(dir, n));
  }
}

/**
 * Removes `path` and everything below it, even directories already given a mode without write
 * permission (restored directories get their modes last, and a non-root user cannot delete
 * from a 0555 directory). Best effort, never throws.
 */
export async function removeTree(path: Buffer): Promise<void> {
  if (await rm(path, { recursive: true, force: true }).then(() => true, () => false)) return;
  await makeWritable(path);
  await rm(path, { recursive: true, force: true }).catch(() => {});
}

async function makeWritable(path: Buffer): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, 0o700).catch(() => {});
  const names = await readdir(path, { encoding: 'buffer' }).catch(() => [] as Buffer[]);
  for (const n of names) await makeWritable(joinBytes(path, n));
}
