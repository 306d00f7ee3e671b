import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Digest32 } from '../format/digest.js';
import { wrapIoError } from '../errors.js';
import { liveTempFiles } from '../store/live-temp-files.js';
import { syncDir } from '../store/sync-dir.js';
import { tempPathFor } from '../store/temp-path.js';
import { encodeOverlaySlot, OVERLAY_HEADER_CHECKSUM_OFFSET, OVERLAY_HEADER_SIZE, OVERLAY_PAGE_SIZE, slotOffset } from './overlay-format.js';
import { OverlayMap, ZERO_PAGES } from './overlay-map.js';
import { encodeRecord, MAX_DATA_RECORD_PAGES, MAX_ZERO_RECORD_PAGES, RECORD_HEADER_SIZE, RecordKind } from './overlay-record.js';
import { preadFully, pwriteFully } from './overlay-file-io.js';

/** Records are gathered into writes of about this many bytes. */
const WRITE_BATCH = 4 << 20;

/** What compaction needs of the overlay it rewrites. */
export interface CompactionInput {
  /** The overlay file (replaced atomically). */
  path: string;
  /** Its header page: the fixed part is copied unchanged. */
  headerPage: Uint8Array;
  /** Its page maps (STREAM_NAMES order; undefined for absent streams). */
  maps: (OverlayMap | undefined)[];
  /** The current file, data pages are copied from it. */
  source: FileHandle;
  /** Sequence number of the first record written (records keep counting up across compactions). */
  firstSequence: number;
  /** Permission bits of the new file. */
  mode: number;
  digest: Digest32;
}

/** The compacted overlay, already renamed into place. */
export interface CompactionResult {
  /** The new file, open for reading and writing. */
  fh: FileHandle;
  headerPage: Uint8Array;
  maps: (OverlayMap | undefined)[];
  /** End of its log (all of it flushed). */
  end: number;
  records: number;
  /** Sequence of its last record (firstSequence − 1 when there is none). */
  lastSequence: number;
}

/**
 * Rewrites an overlay with only its live pages: for each stream in page order, adjacent data
 * pages become DATA records of up to 8 MiB and zero runs ZERO records, in a temporary file
 * beside it, whose slot A declares the whole log flushed; then fsync, rename over the overlay,
 * fsync the directory. A crash leaves the old file or the new one (and maybe a temporary file,
 * removed by the next writer's open), never a mix. The caller holds the overlay's write lock.
 * @throws StoreError when writing fails; the overlay is then left as it was.
 * @throws CorruptArchiveError when the old file is shorter than its map says.
 */
export async function compactOverlay(input: CompactionInput): Promise<CompactionResult> {
  const { path, digest } = input;
  const temp = tempPathFor(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(temp, 'wx+', input.mode & 0o777);
    liveTempFiles.add(temp);
    const out = fh;
    const maps = input.maps.map((m) => (m ? new OverlayMap(OVERLAY_PAGE_SIZE) : undefined));
    let pos = OVERLAY_HEADER_SIZE;
    let sequence = input.firstSequence;
    let records = 0;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    let batchStart = pos;
    const flushBatch = async () => {
      if (!batchBytes) return;
      await pwriteFully(out, batch.length === 1 ? batch[0] : Buffer.concat(batch), batchStart, temp);
      batch = [];
      batchBytes = 0;
      batchStart = pos;
    };
    const append = async (stream: number, kind: number, page: number, count: number, payload?: Uint8Array) => {
      const bytes = encodeRecord({ kind: kind as 1 | 2, stream, page, count, sequence: sequence++ }, payload, digest);
      maps[stream]!.set(page, count, kind === RecordKind.DATA ? pos + RECORD_HEADER_SIZE : ZERO_PAGES);
      batch.push(bytes);
      batchBytes += bytes.length;
      pos += bytes.length;
      records++;
      if (batchBytes >= WRITE_BATCH) await flushBatch();
    };
    for (const [stream, map] of input.maps.entries()) {
      if (!map) continue;
      // Data runs that touch in page order are gathered into one record, whatever their places in the old file.
      let pending: { page: number; count: number; parts: { offset: number; count: number }[] } | undefined;
      const emit = async () => {
        if (!pending) return;
        const payload = new Uint8Array(pending.count * OVERLAY_PAGE_SIZE);
        let at = 0;
        for (const part of pending.parts) {
          await preadFully(input.source, payload.subarray(at, at + part.count * OVERLAY_PAGE_SIZE), part.offset, path);
          at += part.count * OVERLAY_PAGE_SIZE;
        }
        await append(stream, RecordKind.DATA, pending.page, pending.count, payload);
        pending = undefined;
      };
      for (const run of map.runs()) {
        if (run.offset === ZERO_PAGES) {
          await emit();
          for (let p = run.page; p < run.page + run.count; p += MAX_ZERO_RECORD_PAGES) {
            await append(stream, RecordKind.ZERO, p, Math.min(MAX_ZERO_RECORD_PAGES, run.page + run.count - p));
          }
          continue;
        }
        let page = run.page;
        let offset = run.offset;
        let left = run.count;
        while (left > 0) {
          if (pending && pending.page + pending.count !== page) await emit();
          pending ??= { page, count: 0, parts: [] };
          const take = Math.min(left, MAX_DATA_RECORD_PAGES - pending.count);
          pending.parts.push({ offset, count: take });
          pending.count += take;
          page += take;
          offset += take * OVERLAY_PAGE_SIZE;
          left -= take;
          if (pending.count === MAX_DATA_RECORD_PAGES) await emit();
        }
      }
      await emit();
    }
    await flushBatch();
    const headerPage = new Uint8Array(OVERLAY_HEADER_SIZE);
    headerPage.set(input.headerPage.subarray(0, OVERLAY_HEADER_CHECKSUM_OFFSET + 32));
    headerPage.set(encodeOverlaySlot({ sequence: 1, flushedEnd: pos, lastRecord: sequence - 1, flushedMs: Date.now() }, digest), slotOffset(1));
    await pwriteFully(out, headerPage, 0, temp);
    await out.sync();
    await rename(temp, path);
    liveTempFiles.delete(temp);
    await syncDir(dirname(path));
    return { fh: out, headerPage, maps, end: pos, records, lastSequence: sequence - 1 };
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    liveTempFiles.delete(temp);
    throw wrapIoError(err, path, 'compact overlay');
  }
}
