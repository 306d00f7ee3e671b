/**
 * Section 2: bytes `readFile` reads from the archive for one file, beside the least any reader
 * must fetch: the stored (compressed) bytes of the archive entries holding the file's data, plus
 * those holding the metadata on the way to it (GPT, superblock, group descriptors, the inode
 * blocks, directory blocks and map blocks debugfs names).
 */
import type { OpenOptions } from '../../dist/index.js';
import { shiftRanges, storedBytesCovering } from './covering-entries.js';
import type { FilesContext } from './files-context.js';
import type { Target } from './files-setup.js';
import { shortPath, sizeText } from './files-cat.js';
import { log } from './log.js';
import { RangeLogSource, splitByRegion } from './range-log-source.js';

/** The primary GPT: protective MBR, header, 128 entries of 128 bytes (LBA 0-33). */
const GPT_BYTES = 34 * 512;

/** What one counted read of a file fetched. */
interface Counted { bytesRead: number; requests: number; blockBytes: number; otherBytes: number; otherReads: number }

export async function bytesRead(c: FilesContext, t: Target): Promise<void> {
  log(`bytes read for ${t.path} ...`);
  // As the CLI reads a local file (FileSource.local: index nodes paged in as needed); a wrapped
  // source is not "local", so that default is passed explicitly.
  const asCli = await countedRead(c, t, { preloadIndexBytes: 0 });
  // What a reader of a remote copy does by default: the whole index (if under 4 MiB) at open.
  const asRemote = await countedRead(c, t, {});
  const ref = await reference(c, t);
  c.results.raw[`bytesRead ${t.path}`] = { asCli, asRemote, reference: ref };
  c.results.add({
    group: 'bytes read from the archive for one file (in process, CountingSource)',
    measure: `readFile ${shortPath(t.path)} (${sizeText(t.size)})`, hexz: asCli.bytesRead, unit: 'B',
    peer: 'stored bytes of its blocks + its metadata blocks', peerValue: ref.total, better: 'lower', target: '<= 2.00x',
    met: asCli.bytesRead <= 2 * ref.total,
  });
  c.results.note(`bytes read, ${t.path}: ${asCli.bytesRead} bytes in ${asCli.requests} requests = ${asCli.blockBytes} of stored blocks + ${asCli.otherBytes} of archive header and index nodes (${asCli.otherReads} reads outside the data region); the reference is ${ref.data} stored bytes of the ${ref.dataEntries} entries holding the file's data (${ref.dataExtents} extents) + ${ref.metadata} of the ${ref.metadataEntries} other entries holding its metadata (archive header and index not counted in it). Opened as a remote reader would (index preloaded): ${asRemote.bytesRead} bytes.`);
}

/** Opens a fresh archive over a counting source, reads the whole file, and says what was read. */
async function countedRead(c: FilesContext, t: Target, options: OpenOptions): Promise<Counted> {
  const { lib } = c;
  const logged = new RangeLogSource(await lib.FileSource.open(c.v1));
  const counting = new lib.CountingSource(logged);
  try {
    const a = await lib.Archive.open(counting, options);
    try {
      let n = 0;
      for await (const chunk of (await lib.readFile(a, t.path)).chunks) n += chunk.length;
      if (n !== t.size) throw new Error(`readFile ${t.path}: ${n} bytes, expected ${t.size}`);
    } finally {
      await a.close();
    }
    const split = splitByRegion(logged.ranges, a.header.data);
    return { bytesRead: counting.bytesRead, requests: counting.requests, blockBytes: split.inside, otherBytes: split.outside, otherReads: split.outsideReads };
  } finally {
    await counting.close();
  }
}

/** Stored bytes of the entries covering the file's data, then of the further ones covering its metadata. */
async function reference(c: FilesContext, t: Target) {
  const a = await c.lib.Archive.open(c.v1);
  try {
    const seen = new Set<string>();
    const off = c.partition.offset;
    const data = await storedBytesCovering(a, shiftRanges(t.foot.data, off), seen);
    const meta = await storedBytesCovering(a, [{ offset: 0, length: GPT_BYTES }, ...shiftRanges(t.foot.metadata, off)], seen);
    return {
      data: data.bytes, dataEntries: data.entries, dataExtents: t.foot.data.length,
      metadata: meta.bytes, metadataEntries: meta.entries, total: data.bytes + meta.bytes,
    };
  } finally {
    await a.close();
  }
}
