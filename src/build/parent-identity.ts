/**
 * What a rebuild inherits from its parent archive: each partition's filesystem UUID and
 * directory hash seed. ext4 seeds every metadata checksum with the UUID, so a rebuild that kept
 * the old UUID rewrites only the metadata that changed, and a thin child stays small.
 */
import { readDiskLayout } from '../ops/files/open-volume.js';
import type { Archive } from '../node/archive.js';
import { EXT4_MAGIC, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from '../fs/ext4/superblock.js';

/** A partition's filesystem identity. */
export interface FsIdentity {
  uuid: Uint8Array;
  hashSeed: Uint8Array;
}

/**
 * The ext2/3/4 identities of `parent`'s disk partitions, by partition position (0-based, in
 * table order); positions without an ext filesystem are undefined. Never throws for a parent
 * that is not a disk of ours: it just yields nothing to inherit.
 */
export async function parentIdentities(parent: Archive): Promise<(FsIdentity | undefined)[]> {
  try {
    if (!parent.streams.includes('disk')) return [];
    const { layout, disk } = await readDiskLayout(parent);
    const out: (FsIdentity | undefined)[] = [];
    for (const p of layout.partitions) {
      if (!['ext2', 'ext3', 'ext4'].includes(p.filesystem)) {
        out.push(undefined);
        continue;
      }
      const sb = await disk.read(p.offset + SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
      const dv = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
      out.push(dv.getUint16(0x38, true) === EXT4_MAGIC ? { uuid: sb.slice(0x68, 0x78), hashSeed: sb.slice(0xec, 0xfc) } : undefined);
    }
    return out;
  } catch {
    return [];
  }
}
