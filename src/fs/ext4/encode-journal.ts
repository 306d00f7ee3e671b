/**
 * The superblock of an empty internal jbd2 journal (the kernel's include/linux/jbd2.h,
 * journal_superblock_t; big-endian), as mke2fs writes it: version 2, clean (s_start 0), no
 * journal features, owned by the filesystem's UUID. The rest of the journal is zeros.
 */

/** JBD2_MAGIC_NUMBER. */
const JBD2_MAGIC = 0xc03b3998;
/** JBD2_SUPERBLOCK_V2. */
const SUPERBLOCK_V2 = 4;

/**
 * Encodes the journal's first block.
 * @param blocks the journal's length in filesystem blocks (s_maxlen).
 */
export function encodeJournalSuperblock(blockSize: number, blocks: number, uuid: Uint8Array): Uint8Array {
  const b = new Uint8Array(blockSize);
  const dv = new DataView(b.buffer);
  dv.setUint32(0x0, JBD2_MAGIC);
  dv.setUint32(0x4, SUPERBLOCK_V2);
  dv.setUint32(0xc, blockSize);
  dv.setUint32(0x10, blocks);
  dv.setUint32(0x14, 1); // s_first: the log starts after this block
  dv.setUint32(0x18, 1); // s_sequence
  b.set(uuid, 0x30);
  dv.setUint32(0x40, 1); // s_nr_users
  return b;
}

/**
 * Journal length in blocks for a filesystem of `blocks` blocks, as e2fsprogs'
 * ext2fs_default_journal_size(): none below 2048 blocks, then 1024 blocks up to 1 GiB.
 */
export function defaultJournalBlocks(blocks: number): number {
  if (blocks < 2048) return 0;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}
