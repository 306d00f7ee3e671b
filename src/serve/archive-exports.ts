import type { Archive } from '../node/archive.js';
import type { StreamName } from '../format/constants.js';
import type { RunDecoder } from '../archive/run-decoder.js';
import { DamagedChunk, fetchAndDecode, type ReadWith } from '../archive/fetch-run.js';
import type { Run } from '../archive/run-planner.js';
import { EntryKind } from '../format/constants.js';
import { archiveIdentity } from '../format/parents.js';
import { toHex } from '../format/digest.js';
import { UsageError } from '../errors.js';
import type { ServeExport } from './serve-export.js';

/** An opened archive to export, under a name (used when there are several). */
export interface NamedArchive {
  /** Prefix of its exports' names when several archives are served (the CLI: file name without .hxz). */
  name: string;
  archive: Archive;
  /**
   * Decodes reads longer than one block, split into runs, off the calling thread (the CLI gives
   * each archive a WorkerPool built from its `blockStores()`). Without it every read decodes in
   * the calling thread.
   */
  decoder?: RunDecoder;
}

/**
 * Reads longer than this many blocks go to the run decoder when there is one: a 4 KiB random
 * read decodes fastest in the calling thread (one block, no hand-off), while a 2 MiB read
 * (qemu-img convert) or many 256 KiB reads in flight (nbdcopy) keep every core decoding.
 */
const POOLED_MIN_BLOCKS = 2;
/** Size of the runs a pooled read is cut into: a 2 MiB read becomes 4 tasks, spread over the workers. */
const POOLED_RUN_BYTES = 512 << 10;

/**
 * The exports of the given archives: one per stream; names are the stream names with one
 * archive, `NAME/stream` with several.
 * @throws UsageError when two archives would share a name or an archive is locked.
 */
export function archiveExports(archives: NamedArchive[]): ServeExport[] {
  const seen = new Set<string>();
  const out: ServeExport[] = [];
  for (const { name, archive, decoder } of archives) {
    if (archive.locked) throw new UsageError(`${archive.name} is encrypted: a password is needed to serve it`, { archive: archive.name });
    if (archives.length > 1) {
      if (seen.has(name)) throw new UsageError(`two archives would be served as ${name}: give them different file names`, { archive: archive.name });
      seen.add(name);
    }
    const identity = toHex(archiveIdentity(archive.headerBytes, archive.platform.blake3));
    const blockSize = archive.header.blockSize;
    for (const stream of archive.streams) {
      const view = archive.stream(stream);
      out.push({
        name: archives.length > 1 ? `${name}/${stream}` : stream,
        description: `${stream} stream of ${archive.name}`,
        size: view.size,
        blockSize,
        archiveId: toHex(archive.archiveId),
        etag: `"${identity.slice(0, 32)}-${stream}"`,
        modified: new Date(archive.header.createdMs),
        read: (offset, length, signal) => (decoder && length > POOLED_MIN_BLOCKS * blockSize
          ? pooledRead(archive, stream, offset, length, decoder, signal)
          : view.read(offset, length, { signal })),
        extents: (offset, length, maxExtents, signal) => view.extents(offset, length, { maxExtents, signal }),
      });
    }
  }
  return out;
}

/**
 * [offset, offset + length) decoded on `decoder` as runs of about {@link POOLED_RUN_BYTES}, all
 * in flight at once, assembled in order. Leaner than readSequential (no window, planner or
 * per-read abort controllers): a server runs one per request, thousands a second.
 */
async function pooledRead(archive: Archive, stream: StreamName, offset: number, length: number, decoder: RunDecoder, signal?: AbortSignal): Promise<Uint8Array> {
  const end = offset + length;
  const runs: Run[] = [];
  let run: Run | undefined;
  for await (const leaf of archive.entryLeaves(stream, offset, end, signal)) {
    for (const e of leaf) {
      const from = Math.max(offset, e.offset);
      if (!run || from - run.offset >= POOLED_RUN_BYTES) runs.push((run = { offset: from, length: 0, entries: [], stored: [], storedBytes: 0 }));
      run.entries.push(e);
      run.length = Math.min(end, e.offset + e.length) - run.offset;
      if (e.kind !== EntryKind.ZERO) {
        run.stored.push(e);
        run.storedBytes += e.storedLength;
      }
    }
  }
  const stores = archive.blockStores();
  const read: ReadWith = (source, at, n) => source.read(at, n, { signal });
  const results = await Promise.allSettled(runs.map((r) => (r.stored.length ? fetchAndDecode(r, stores, decoder, stream, read) : Promise.resolve(null))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason instanceof DamagedChunk ? failed.reason.error : failed.reason;
  const datas = results.map((r) => (r as PromiseFulfilledResult<Uint8Array | null>).value);
  // One run covering the whole read (nbdcopy's 256 KiB requests): its buffer is the answer.
  if (runs.length === 1 && datas[0]) return datas[0];
  const out = new Uint8Array(length);
  runs.forEach((r, i) => datas[i] && out.set(datas[i]!, r.offset - offset));
  return out;
}
