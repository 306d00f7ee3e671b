import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Archive } from '../node/archive.js';
import { archiveIdentity } from '../format/parents.js';
import { decodeHeader } from '../format/header.js';
import { toHex } from '../format/digest.js';
import { HEADER_SIZE } from '../format/constants.js';
import { blake3 } from '../hash/blake3.js';
import { AbortedError, CorruptArchiveError, UsageError, throwIfAborted, wrapIoError } from '../errors.js';
import { AtomicFile } from '../store/atomic-file.js';
import { baseName } from '../store/locations.js';
import { openSource, type SourceOptions } from '../store/open-source.js';
import { archiveChain } from './archive-chain.js';
import { verify } from './verify.js';
import type { PasswordOption } from '../node/archive.js';

/** Options of {@link pull}. */
export interface PullOptions {
  /** Where to look for parents not at their recorded location (paths or URLs). */
  parentDirs?: string[];
  /** How remote locations are reached (S3 client, fetch, retry). */
  source?: SourceOptions;
  /** Replace a local file of the same name that is another archive (default: refuse). */
  force?: boolean;
  /** Check every block of each downloaded archive before it is renamed into place (default true). */
  verify?: boolean;
  /** Password of an encrypted chain, for the block check (without it only headers are checked). */
  password?: PasswordOption;
  signal?: AbortSignal;
  /** Bytes downloaded so far of `total`. */
  onProgress?: (done: number, total: number) => void;
}

/** One archive of the chain and what pull did with it. */
export interface PulledArchive {
  url: string;
  /** The local path. */
  path: string;
  id: string;
  bytes: number;
  /** `downloaded`, or `present`: the same archive (id and identity) was already there. */
  status: 'downloaded' | 'present';
  /** `blocks` when every block was checked, `header` when only the header's identity (encrypted, no password). */
  verified: 'blocks' | 'header' | 'none';
}

/** What {@link pull} did. */
export interface PullResult {
  directory: string;
  archives: PulledArchive[];
  downloadedBytes: number;
  seconds: number;
}

/** Bytes per ranged read while downloading, and reads in flight. */
const CHUNK = 8 << 20;
const IN_FLIGHT = 4;

/**
 * Downloads a remote archive (s3:// or http(s)://) and every archive of its parent chain into
 * `dir` (created if missing), parents first, each by its base name, skipping those already there (same id and
 * identity). Each is written to a temporary file, its header checked against the identity the
 * chain was resolved with, its blocks verified (plain archives, or encrypted ones given the
 * password), and only then renamed into place: a failed or interrupted pull leaves no partial
 * archive.
 * @throws UsageError when a name in `dir` is taken by another archive (without `force`);
 *   MissingParentError when a parent cannot be found; CorruptArchiveError when a download does
 *   not verify; StoreError on I/O failure; AbortedError when `signal` aborts.
 */
export async function pull(url: string, dir: string, options: PullOptions = {}): Promise<PullResult> {
  const started = Date.now();
  const chain = await archiveChain(url, { parentDirs: options.parentDirs, source: options.source, signal: options.signal });
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw wrapIoError(err, dir, 'create directory');
  }
  const plan: PulledArchive[] = [];
  for (const m of chain) {
    const path = join(dir, baseName(m.location));
    const local = await Archive.open(path, { openParents: false, preloadIndexBytes: 0 }).catch(() => undefined);
    let status: PulledArchive['status'] = 'downloaded';
    if (local) {
      const same = toHex(local.archiveId) === m.id && toHex(archiveIdentity(local.headerBytes, blake3)) === m.identity;
      await local.close();
      if (same) status = 'present';
      else if (!options.force) throw new UsageError(`${path} exists and is another archive; pull does not replace it (use --force)`, { archive: path });
    }
    plan.push({ url: m.location, path, id: m.id, bytes: m.bytes, status, verified: 'none' });
  }
  const total = plan.filter((p) => p.status === 'downloaded').reduce((n, p) => n + p.bytes, 0);
  let done = 0;
  for (const [i, p] of plan.entries()) {
    if (p.status !== 'downloaded') continue;
    const source = await openSource(p.url, { ...options.source, cacheBytes: 0 });
    const out = await AtomicFile.create(p.path, { force: true });
    try {
      const size = await source.size();
      if (size !== p.bytes) throw new CorruptArchiveError(`${p.url} changed while pulling (${size} bytes, was ${p.bytes})`, { archive: p.url });
      // Several ranged reads in flight, each written at its own offset as it arrives.
      let next = 0;
      const worker = async () => {
        while (next < size) {
          const at = next;
          next += CHUNK;
          throwIfAborted(options.signal, 'pull');
          const bytes = await source.read(at, Math.min(CHUNK, size - at), { signal: options.signal });
          if (bytes.length !== Math.min(CHUNK, size - at)) throw new CorruptArchiveError(`${p.url} ended early at ${at + bytes.length} of ${size} bytes`, { archive: p.url });
          await out.writeAt(bytes, at);
          done += bytes.length;
          options.onProgress?.(done, total);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      p.verified = await check(out.tempPath, chain[i].identity, p, options);
      await out.commit();
    } catch (err) {
      await out.abort();
      throw options.signal?.aborted && !(err instanceof AbortedError) ? new AbortedError('pull cancelled', { archive: p.url }, { cause: err }) : err;
    } finally {
      await source.close?.();
    }
  }
  return { directory: dir, archives: plan, downloadedBytes: total, seconds: (Date.now() - started) / 1000 };
}

/**
 * Checks a downloaded file before it is published: its header must have the identity the chain
 * was resolved with (so it is the archive the child expects), then, unless disabled, every block
 * (its parents, pulled first, are beside it).
 */
async function check(tempPath: string, identity: string, p: PulledArchive, options: PullOptions): Promise<PulledArchive['verified']> {
  const file = await openSource(tempPath);
  try {
    const head = await file.read(0, HEADER_SIZE);
    const header = decodeHeader(head, blake3);
    if (toHex(header.archiveId) !== p.id || toHex(archiveIdentity(head, blake3)) !== identity) {
      throw new CorruptArchiveError(`${p.url}: the downloaded header is not the archive's (it changed while pulling?)`, { archive: p.url });
    }
    if (options.verify === false) return 'header';
    if (header.encryption && options.password === undefined) return 'header';
  } finally {
    await file.close?.();
  }
  const password = typeof options.password === 'function' ? await options.password() : options.password;
  const r = await verify(tempPath, { password, parentDirs: [dirname(p.path)] });
  if (!r.ok) throw new CorruptArchiveError(`${p.url}: the download does not verify: ${r.error?.message ?? 'damaged'}`, { archive: p.url });
  return 'blocks';
}
