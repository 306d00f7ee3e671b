import type { Archive } from '../node/archive.js';
import type { StreamName } from '../format/constants.js';
import type { RunDecoder } from '../archive/run-decoder.js';
import { readAsRuns } from '../archive/read-as-runs.js';
import { archiveIdentity } from '../format/parents.js';
import { toHex } from '../format/digest.js';
import { UsageError } from '../errors.js';
import { SlabPool } from '../util/slab-pool.js';
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
  // One pool for all exports: what a connection's reads borrow goes back when their replies are sent.
  const memory = new SlabPool();
  for (const { name, archive, decoder } of archives) {
    if (archive.locked) throw new UsageError(`${archive.name} is encrypted: a password is needed to serve it`, { archive: archive.name });
    if (archives.length > 1) {
      if (seen.has(name)) throw new UsageError(`two archives would be served as ${name}: give them different file names`, { archive: archive.name });
      seen.add(name);
    }
    const identity = toHex(archiveIdentity(archive.headerBytes, archive.platform.blake3));
    const blockSize = archive.header.blockSize;
    // Reads longer than POOLED_MIN_BLOCKS blocks decode on the pool (when there is one).
    const pooled = (length: number): RunDecoder | undefined => (length > POOLED_MIN_BLOCKS * blockSize ? decoder : undefined);
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
        read: (offset, length, signal) => {
          const pool = pooled(length);
          return pool ? pooledRead(archive, stream, offset, length, pool, memory, signal) : view.read(offset, length, { signal });
        },
        extents: (offset, length, maxExtents, signal) => view.extents(offset, length, { maxExtents, signal }),
        readWithExtents: (offset, length, signal) => {
          const pool = pooled(length);
          if (!pool) return view.readWithExtents(offset, length, { signal });
          return Promise.all([pooledRead(archive, stream, offset, length, pool, memory, signal), view.extents(offset, length, { signal })]).then(([data, extents]) => ({ data, extents }));
        },
        recycle: (data) => memory.give(data),
      });
    }
  }
  return out;
}

/**
 * [offset, offset + length) decoded as runs on `decoder` (all in flight at once) into memory
 * borrowed from `memory` (given back through the export's `recycle`), or shared zeros.
 */
async function pooledRead(archive: Archive, stream: StreamName, offset: number, length: number, decoder: RunDecoder, memory: SlabPool, signal?: AbortSignal): Promise<Uint8Array> {
  const runBytes = Math.max(archive.header.blockSize, POOLED_RUN_BYTES);
  return (await readAsRuns(archive, stream, offset, length, { decoder, runBytes, signal, memory })) ?? zeros(length);
}

/** Zero bytes for an all-zero read: one shared buffer up to 4 MiB (callers never write into read results). */
function zeros(length: number): Uint8Array {
  return length <= ZEROS.length ? ZEROS.subarray(0, length) : new Uint8Array(length);
}
const ZEROS = new Uint8Array(4 << 20);
