/**
 * The entry point of partition-table reading: decides whether a disk has a GPT, an MBR or no
 * table at all (a filesystem on the whole disk), then reads it. Pure code over a BlockDevice.
 */
import { CorruptImageError, UsageError } from '../../errors.js';
import type { BlockDevice } from '../types.js';
import { isFilesystemBootSector } from './boot-sector.js';
import { hasAscii, readExact } from './bytes.js';
import { GPT_SIGNATURE } from './gpt.js';
import { decodeMbr, hasValidStatusBytes, isEmptyEntry, isProtectiveMbr, MBR_SECTOR_SIZE } from './mbr.js';
import { readGpt } from './read-gpt.js';
import { readMbr } from './read-mbr.js';
import type { PartitionTable, ReadPartitionsOptions } from './types.js';

/**
 * Reads the partition table of `dev`:
 * - GPT when sector 0 is a protective (or hybrid) MBR, or when LBA 1 holds a valid GPT header
 *   (sectors of 512 bytes, or 4096 when the header is at byte 4096); a damaged primary falls back
 *   to the backup with a warning.
 * - MBR when sector 0 ends in 0x55AA, is not a FAT/NTFS/exFAT boot sector, and every entry's
 *   status byte is 0x00 or 0x80 (else it is boot code, as Linux and libblkid decide).
 * - `none` otherwise (ext4 on the whole disk has no signature at 510; a bare LVM PV with an empty
 *   MBR is `none` too, like libblkid): one pseudo-partition number 0 covering the device.
 *
 * Reads at most a few KiB from the start, 1 MiB of GPT entries per header and 256 EBR sectors.
 * @throws CorruptImageError for a table that is there but damaged or impossible (both GPT headers
 *   bad, a partition past the end of the disk, overlapping partitions, an EBR loop…); the message
 *   names the defect. StoreError/AbortedError from the device; UsageError for a device whose
 *   size is not a safe integer. Never another kind of error.
 * @example
 * const table = await readPartitions(dev, { onWarning: (m) => console.warn(`warning: ${m}`) });
 * for (const p of table.partitions) console.log(p.number, p.offset, p.size, p.typeName ?? p.type);
 */
export async function readPartitions(dev: BlockDevice, options: ReadPartitionsOptions = {}): Promise<PartitionTable> {
  if (!Number.isSafeInteger(dev.size) || dev.size < 0) throw new UsageError(`device size ${dev.size} is not a byte count`);
  if (dev.size < MBR_SECTOR_SIZE) return wholeDisk(dev.size);
  const head = await readExact(dev, 0, Math.min(dev.size, 4096 + MBR_SECTOR_SIZE), options.signal);
  const sector0 = head.subarray(0, MBR_SECTOR_SIZE);
  const mbr = decodeMbr(sector0);
  const gptAt = hasAscii(head, 512, GPT_SIGNATURE) ? 512 : hasAscii(head, 4096, GPT_SIGNATURE) ? 4096 : undefined;

  if (isProtectiveMbr(mbr)) return readGpt(dev, { ...options, sectorSize: gptAt });
  if (gptAt !== undefined) {
    // Linux ignores a GPT without a protective MBR; we take it when its header and entries check
    // out (a CRC-valid header does not appear by chance) and otherwise read on as if it were not there.
    try {
      const table = await readGpt(dev, { ...options, sectorSize: gptAt });
      options.onWarning?.('the disk has a GPT but no protective MBR');
      return table;
    } catch (err) {
      if (!(err instanceof CorruptImageError)) throw err;
      options.onWarning?.(`ignoring a damaged GPT with no protective MBR (${err.message})`);
    }
  }
  if (!mbr.signature || isFilesystemBootSector(sector0) || !hasValidStatusBytes(mbr)) return wholeDisk(dev.size);
  if (mbr.entries.every(isEmptyEntry) && hasAscii(head, 512, 'LABELONE')) return wholeDisk(dev.size);
  return readMbr(dev, options);
}

/** The table of a disk without one: a single pseudo-partition 0 covering it (none when empty). */
export function wholeDisk(size: number): PartitionTable {
  return {
    kind: 'none',
    sectorSize: MBR_SECTOR_SIZE,
    partitions: size > 0 ? [{ number: 0, offset: 0, size, type: 'none' }] : [],
  };
}
