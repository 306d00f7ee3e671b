/**
 * A file's bytes and its map: reads assemble the requested range from the runs that cover it
 * (one device read per contiguous run, cut into pieces of at most {@link MAX_PIECE_BYTES}, a few
 * in flight at once; holes and unwritten extents are zeros without a read), and `fileExtents`
 * reports where each byte range lies on the device. Inline data and fast symlinks lie in the
 * inode itself and are reported there.
 */
import { UsageError } from '../../errors.js';
import { fileRuns } from './block-run.js';
import { decodeInlineData, type InlineData } from './inline-data.js';
import { I_BLOCK_OFFSET, I_BLOCK_SIZE, InodeFlag, type Inode } from './inode.js';
import type { FileExtent } from './types.js';
import type { Ext4Volume, LocatedInode } from './volume.js';

/** Largest single device read of file data. */
export const MAX_PIECE_BYTES = 8 << 20;
/** Pieces read concurrently (lets a decoding device work on several blocks at once). */
const PIECES_IN_FLIGHT = 4;
/** Largest read one call returns: a bigger request is a caller's mistake, not a reason to allocate. */
export const MAX_READ_BYTES = 1 << 30;

/** How an inode's bytes are stored. */
export type DataLayout = 'inline' | 'fast-symlink' | 'blocks' | 'none';

/**
 * Where `inode`'s bytes live. A symlink is fast (target in i_block) when it owns no blocks
 * besides an xattr block, as the kernel's ext4_inode_is_fast_symlink() decides.
 */
export function dataLayout(vol: Ext4Volume, inode: Inode): DataLayout {
  if (inode.type === 'chardev' || inode.type === 'blockdev' || inode.type === 'fifo' || inode.type === 'socket') return 'none';
  if (inode.flags & InodeFlag.INLINE_DATA) return 'inline';
  if (inode.type === 'symlink') {
    if (inode.flags & InodeFlag.EA_INODE) return inode.size < I_BLOCK_SIZE ? 'fast-symlink' : 'blocks';
    const xattrBlocks = inode.fileAcl ? vol.sb.clusterSize / 512 : 0;
    if (inode.blocks - xattrBlocks === 0) return 'fast-symlink';
  }
  return 'blocks';
}

/** Bytes held in the inode (inline data or a fast symlink's target), at most i_size of them. */
function inodeBytes(inode: Inode, layout: DataLayout): InlineData {
  if (layout === 'inline') return decodeInlineData(inode);
  const length = Math.min(inode.size, I_BLOCK_SIZE);
  return { bytes: inode.iBlock.slice(0, length), pieces: length > 0 ? [{ offset: 0, length, inodeOffset: I_BLOCK_OFFSET }] : [] };
}

/**
 * `length` bytes of the inode's data from byte `offset`, clipped at i_size; holes read as zeros.
 * @throws UsageError for a negative or non-integer range or one larger than
 *   {@link MAX_READ_BYTES}; CorruptImageError naming the inode; as the device throws.
 */
export async function readData(vol: Ext4Volume, inode: Inode, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new UsageError(`ext4: invalid read range offset ${offset} length ${length}`);
  }
  const end = Math.min(inode.size, offset + length);
  if (end <= offset) return new Uint8Array(0);
  if (end - offset > MAX_READ_BYTES) throw new UsageError(`ext4: a read of ${end - offset} bytes is too large (at most ${MAX_READ_BYTES}): read in pieces`);
  const layout = dataLayout(vol, inode);
  if (layout === 'none') return new Uint8Array(0);
  if (layout !== 'blocks') {
    const stored = inodeBytes(inode, layout).bytes;
    const out = new Uint8Array(end - offset);
    if (offset < stored.length) out.set(stored.subarray(offset, Math.min(end, stored.length)));
    return out;
  }

  const bs = vol.sb.blockSize;
  const out = new Uint8Array(end - offset);
  const inFlight: Promise<void>[] = [];
  for await (const run of fileRuns(vol, inode, Math.floor(offset / bs), Math.ceil(end / bs), signal)) {
    if (run.pblk === null) continue;
    const runStart = run.lblk * bs;
    const from = Math.max(offset, runStart);
    const to = Math.min(end, (run.lblk + run.count) * bs);
    for (let at = from; at < to; at += MAX_PIECE_BYTES) {
      const n = Math.min(MAX_PIECE_BYTES, to - at);
      const deviceOffset = run.pblk * bs + (at - runStart);
      const target = at - offset;
      if (inFlight.length >= PIECES_IN_FLIGHT) await inFlight.shift();
      const piece = vol.dev.read(deviceOffset, n, { signal }).then((bytes) => { out.set(bytes.subarray(0, n), target); });
      piece.catch(() => {}); // awaited below; keeps an early failure from being reported as unhandled
      inFlight.push(piece);
    }
  }
  await Promise.all(inFlight);
  return out;
}

/**
 * The inode's map in file order: where each byte range lies on the device, holes (and unwritten
 * extents) as `deviceOffset: null`, contiguous pieces merged, the last one ending at i_size.
 * @throws CorruptImageError naming the inode; as the device throws.
 */
export async function* fileExtents(vol: Ext4Volume, located: LocatedInode, signal?: AbortSignal): AsyncGenerator<FileExtent> {
  const { inode } = located;
  if (inode.size === 0) return;
  const layout = dataLayout(vol, inode);
  if (layout === 'none') return;
  if (layout !== 'blocks') {
    const { bytes, pieces } = inodeBytes(inode, layout);
    for (const p of pieces) yield { offset: p.offset, length: p.length, deviceOffset: located.deviceOffset + p.inodeOffset };
    if (bytes.length < inode.size) yield { offset: bytes.length, length: inode.size - bytes.length, deviceOffset: null };
    return;
  }
  const bs = vol.sb.blockSize;
  for await (const run of fileRuns(vol, inode, 0, Math.ceil(inode.size / bs), signal)) {
    const offset = run.lblk * bs;
    const length = Math.min(run.count * bs, inode.size - offset);
    yield { offset, length, deviceOffset: run.pblk === null ? null : run.pblk * bs };
  }
}
