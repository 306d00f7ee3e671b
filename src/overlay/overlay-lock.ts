import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { StoreError, UsageError, wrapIoError } from '../errors.js';
import { processAlive, removeStaleTemps } from '../store/stale-temps.js';
import { tempPathFor } from '../store/temp-path.js';

/** What a lock file holds (JSON). */
interface LockHolder {
  pid: number;
  host: string;
  token: string;
}

/** Options of {@link OverlayLock.acquire}. */
export interface OverlayLockOptions {
  /** Whether a pid is a running process (injected by tests). */
  isAlive?: (pid: number) => boolean;
  /** This machine's name (injected by tests). */
  host?: string;
}

/**
 * The exclusive right to write an overlay: a lock file `FILE.lock` beside it, created
 * atomically (written under a temporary name, then hard-linked into place, which fails when
 * the name exists) and holding the writer's pid, host name and a random token.
 *
 * Node has no flock/fcntl locks, so liveness is judged by pid: a lock whose pid is not a running
 * process on this host was left by a writer that was killed, and is broken. A lock from another
 * host (a shared network directory) is never broken: its pid cannot be checked from here.
 * Breaking is race-free between two openers: the stale file is renamed aside under a unique
 * name and removed only if it is still the one judged stale; a lock someone else took in the
 * meantime is put back.
 */
export class OverlayLock {
  private released = false;

  private constructor(readonly path: string, private readonly token: string) {}

  /**
   * Takes the lock of overlay `file`.
   * @throws UsageError when a live process (or another host) holds it, naming the pid and the lock file.
   * @throws StoreError when the lock file cannot be created (a read-only directory).
   */
  static async acquire(file: string, options: OverlayLockOptions = {}): Promise<OverlayLock> {
    const path = `${file}.lock`;
    const isAlive = options.isAlive ?? processAlive;
    const host = options.host ?? hostname();
    const token = randomBytes(8).toString('hex');
    const content = `${JSON.stringify({ pid: process.pid, host, token } satisfies LockHolder)}\n`;
    // Side files of a taker killed midway (named by tempPathFor, so their dead pid shows).
    await removeStaleTemps(path);
    for (let attempt = 0; attempt < 8; attempt++) {
      if (await createExclusive(path, content)) return new OverlayLock(path, token);
      const raw = await readFile(path, 'utf8').catch(() => undefined);
      if (raw === undefined) continue; // released meanwhile: try again
      const holder = parseHolder(raw);
      if (holder && (holder.host !== host || isAlive(holder.pid))) {
        const who = holder.host === host ? `process ${holder.pid}` : `process ${holder.pid} on host ${holder.host}`;
        throw new UsageError(`${file}: overlay is open for writing by ${who} (lock file ${path}; remove it only if no hexz uses the overlay)`, { archive: file, stage: 'lock' });
      }
      // Stale (its writer died), or unreadable garbage: move it aside, then make sure it was that one.
      const aside = tempPathFor(path);
      try {
        await rename(path, aside);
      } catch {
        continue;
      }
      const moved = await readFile(aside, 'utf8').catch(() => undefined);
      if (moved !== raw) await link(aside, path).catch(() => {}); // someone's fresh lock: put it back
      await unlink(aside).catch(() => {});
    }
    throw new StoreError(`${file}: could not take the overlay lock ${path} (it keeps changing)`, { archive: file, stage: 'lock' }, { transient: true });
  }

  /** Removes the lock file if it is still this one. Never throws; a second call does nothing. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const holder = parseHolder(await readFile(this.path, 'utf8').catch(() => ''));
    if (holder?.token === this.token) await unlink(this.path).catch(() => {});
  }
}

/**
 * Creates `path` holding `content` unless it exists: written to a private temporary file first
 * and hard-linked into place, so the lock never exists empty. Where hard links are not
 * supported, falls back to an O_EXCL create and a write.
 * @returns false when `path` already exists.
 */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const temp = tempPathFor(path);
  try {
    await writeFile(temp, content, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    throw wrapIoError(err, path, 'create lock');
  }
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw wrapIoError(err, path, 'create lock');
    return fallbackCreate(path, content);
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function fallbackCreate(path: string, content: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw wrapIoError(err, path, 'create lock');
  }
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  return true;
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const v = JSON.parse(raw) as Partial<LockHolder>;
    if (Number.isSafeInteger(v.pid) && typeof v.host === 'string' && typeof v.token === 'string') return v as LockHolder;
  } catch {
    // Not ours, or damaged: treated as stale.
  }
  return undefined;
}
