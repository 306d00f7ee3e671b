import { Archive } from '../node/archive.js';
import { archiveIdentity } from '../format/parents.js';
import { toHex } from '../format/digest.js';
import { blake3 } from '../hash/blake3.js';
import { AbortedError, UsageError, throwIfAborted } from '../errors.js';
import { FileSource } from '../store/file-source.js';
import { baseName } from '../store/locations.js';
import type { S3ClientLike } from '../store/s3-client.js';
import { archiveChain, type ChainMember } from './archive-chain.js';

/** Options of {@link push}. */
export interface PushOptions {
  /** Where to look for parents not at their recorded path (as for every reading command). */
  parentDirs?: string[];
  /** S3 client (default: from the AWS environment). */
  client?: S3ClientLike;
  /** Parts uploaded at once per archive (default 8: on loopback radosgw, 4 gave 0.88x of `aws s3 cp`, 8 gave 1.0x; memory about 9 × 8 MiB). */
  concurrency?: number;
  /** Bytes per part (default 8 MiB). */
  partSize?: number;
  /** Replace an object of the same name that is another archive (default: refuse). */
  force?: boolean;
  signal?: AbortSignal;
  /** Bytes uploaded so far of `total` (all archives to upload). */
  onProgress?: (done: number, total: number) => void;
}

/** One archive of the chain and what push did with it. */
export interface PushedArchive {
  /** The local path. */
  source: string;
  /** Its URL under the destination. */
  url: string;
  id: string;
  bytes: number;
  /** `uploaded`, or `present`: an object with the same id and identity was already under the prefix (found by content, whatever its name). */
  status: 'uploaded' | 'present';
}

/** What {@link push} did. */
export interface PushResult {
  destination: string;
  archives: PushedArchive[];
  uploadedBytes: number;
  seconds: number;
}

/**
 * Uploads `archive` and every archive of its parent chain that the S3 prefix does not already
 * hold — matched by archive id and identity, not by name — each as a multipart upload with
 * parallel parts, parents first. An interrupted or failed upload is aborted, so no partial
 * object is ever visible; a re-run skips what is complete. Each archive lands under the prefix
 * by its base name, where readers of the child look for it (FORMAT.md §15.4).
 * @param destination `s3://bucket/prefix/` (a trailing `/` is implied).
 * @throws UsageError for a destination that is not s3://, or a name taken by another archive
 *   (without `force`); MissingParentError when a parent cannot be found locally; StoreError
 *   when S3 fails; AbortedError when `signal` aborts.
 */
export async function push(archive: string, destination: string, options: PushOptions = {}): Promise<PushResult> {
  const started = Date.now();
  if (!/^s3:\/\/[^/]+/i.test(destination)) throw new UsageError(`${destination}: push needs an s3://bucket/prefix/ destination`);
  const prefix = destination.endsWith('/') ? destination : `${destination}/`;
  // Loaded only here: local commands never load the AWS SDK.
  const { listS3, parseS3Url } = await import('../store/s3-source.js');
  const { S3Upload } = await import('../store/s3-upload.js');
  const client = options.client ?? (await (await import('../store/s3-client.js')).createS3Client());
  const chain = await archiveChain(archive, { parentDirs: options.parentDirs, signal: options.signal });
  throwIfAborted(options.signal, 'push');
  // What the prefix already holds, by content: id + identity of every archive under it.
  const present = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const o of await listS3(prefix, client, { signal: options.signal, shallow: true })) {
    if (!o.key.endsWith('.hxz')) continue;
    const url = `s3://${parseS3Url(prefix, { prefix: true }).bucket}/${o.key}`;
    const a = await Archive.open(url, { openParents: false, preloadIndexBytes: 0, source: { s3Client: client } }).catch(() => undefined);
    if (!a) continue;
    const key = `${toHex(a.archiveId)}/${toHex(archiveIdentity(a.headerBytes, blake3))}`;
    present.set(key, url);
    taken.set(url, key);
    await a.close();
  }
  const plan = chain.map((m): PushedArchive & { member: ChainMember } => {
    const existing = present.get(`${m.id}/${m.identity}`);
    return { member: m, source: m.location, url: existing ?? `${prefix}${baseName(m.location)}`, id: m.id, bytes: m.bytes, status: existing ? 'present' : 'uploaded' };
  });
  for (const p of plan) {
    if (p.status === 'uploaded' && taken.has(p.url) && !options.force) {
      throw new UsageError(`${p.url} exists and is another archive; push does not replace it (use --force)`, { archive: p.url });
    }
  }
  const total = plan.filter((p) => p.status === 'uploaded').reduce((n, p) => n + p.bytes, 0);
  let done = 0;
  for (const p of plan) {
    if (p.status !== 'uploaded') continue;
    const { bucket, key } = parseS3Url(p.url);
    const file = await FileSource.open(p.source);
    const upload = await S3Upload.create({ bucket, key, client, concurrency: options.concurrency ?? 8, partSize: options.partSize, signal: options.signal });
    try {
      const size = await file.size();
      if (size !== p.bytes) throw new UsageError(`${p.source} changed while pushing (${size} bytes, was ${p.bytes})`, { archive: p.source });
      const chunk = 8 << 20;
      // Read the next chunk while the current one is handed to the upload (which waits for a free part slot).
      let next = file.read(0, Math.min(chunk, size));
      for (let at = 0; at < size;) {
        const bytes = await next;
        throwIfAborted(options.signal, 'push');
        at += bytes.length;
        if (bytes.length === 0) throw new UsageError(`${p.source} ended early while pushing`, { archive: p.source });
        if (at < size) next = file.read(at, Math.min(chunk, size - at));
        await upload.write(bytes);
        done += bytes.length;
        options.onProgress?.(done, total);
      }
      await upload.complete();
    } catch (err) {
      await upload.abort().catch(() => {});
      throw options.signal?.aborted && !(err instanceof AbortedError) ? new AbortedError('push cancelled', { archive: p.url }, { cause: err }) : err;
    } finally {
      await file.close();
    }
  }
  return {
    destination: prefix, archives: plan.map(({ member: _m, ...rest }) => rest), uploadedBytes: total, seconds: (Date.now() - started) / 1000,
  };
}
