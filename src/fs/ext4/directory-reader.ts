/**
 * Walks the records of a directory inode: block directories (linear or htree, both scanned
 * linearly block by block, holes skipped as the kernel's readdir does) and inline directories
 * (parent inode in the first 4 bytes of i_block, records in the rest and in system.data).
 * Directory blocks are fetched a mapped run at a time, one device read per run.
 */
import { CorruptImageError, UnsupportedError } from '../../errors.js';
import { fileRuns } from './block-run.js';
import { classifyDirBlock, decodeDirBlock, parseDirRecords, verifyDirBlock, type DirContext, type RawDirent } from './directory.js';
import { Incompat } from './features.js';
import { findSystemData } from './inline-data.js';
import { I_BLOCK_SIZE, InodeFlag, type Inode } from './inode.js';
import type { Ext4Volume } from './volume.js';

/** Directory blocks fetched per batch (bounds the memory of one step of a scan). */
const BLOCKS_PER_BATCH = 64;
/** Bytes before the records of an inline directory: the parent's inode number. */
const INLINE_DOTDOT_SIZE = 4;

/**
 * Every record of directory `inode` in on-disk order, `.` and `..` included (an inline
 * directory's are synthesized from its inode number and stored parent), a block's worth at a
 * time. The caller has checked that `inode` is a directory.
 * @throws CorruptImageError naming the directory and block; UnsupportedError for an encrypted
 *   directory; as the device throws.
 */
export async function* directoryRecords(vol: Ext4Volume, inode: Inode, signal?: AbortSignal): AsyncGenerator<RawDirent[]> {
  const sb = vol.sb;
  if (inode.flags & InodeFlag.ENCRYPT) {
    throw new UnsupportedError(`ext4: directory inode ${inode.ino} is encrypted`, { stage: 'ext4 directory' });
  }
  const ctx = (what: string): DirContext => ({
    what, filetype: (sb.incompat & Incompat.FILETYPE) !== 0, inodesCount: sb.inodesCount, blockSize: sb.blockSize,
  });

  if (inode.flags & InodeFlag.INLINE_DATA) {
    const what = `directory inode ${inode.ino} (inline)`;
    const dv = new DataView(inode.iBlock.buffer, inode.iBlock.byteOffset, 4);
    const parent = dv.getUint32(0, true);
    if (parent === 0 || parent > sb.inodesCount) throw new CorruptImageError(`ext4 ${what}: parent inode ${parent} is invalid`, { stage: 'ext4 directory' });
    yield [
      { ino: inode.ino, nameBytes: new Uint8Array([0x2e]), type: 'dir' },
      { ino: parent, nameBytes: new Uint8Array([0x2e, 0x2e]), type: 'dir' },
      ...parseDirRecords(inode.iBlock, INLINE_DOTDOT_SIZE, I_BLOCK_SIZE, ctx(what)),
    ];
    const extra = findSystemData(inode);
    if (extra && extra.value.length > 0) yield parseDirRecords(extra.value, 0, extra.value.length, ctx(`${what} system.data`));
    return;
  }

  const blocks = Math.ceil(inode.size / sb.blockSize);
  const indexed = (inode.flags & InodeFlag.INDEX) !== 0;
  for await (const run of fileRuns(vol, inode, 0, blocks, signal)) {
    if (run.pblk === null) continue;
    for (let done = 0; done < run.count; done += BLOCKS_PER_BATCH) {
      const n = Math.min(BLOCKS_PER_BATCH, run.count - done);
      const first = run.pblk + done;
      const firstIndex = run.lblk + done;
      const whatOf = (i: number) => `directory inode ${inode.ino} block ${firstIndex + i} (block ${first + i})`;
      const batch = await vol.cache.readRun(first, n, `directory inode ${inode.ino}`, {
        signal,
        verify: sb.hasMetadataCsum
          ? (bytes, i) => verifyDirBlock(bytes, classifyDirBlock(bytes, indexed, firstIndex + i, sb.blockSize), inode.csumSeed, whatOf(i))
          : undefined,
      });
      for (let i = 0; i < n; i++) {
        const kind = classifyDirBlock(batch[i], indexed, firstIndex + i, sb.blockSize);
        yield decodeDirBlock(batch[i], kind, sb.hasMetadataCsum, ctx(whatOf(i)));
      }
    }
  }
}
