/**
 * Recognising sector 0 of a filesystem made on a whole disk, so a 0x55AA at byte 510 is not
 * mistaken for a partition table: FAT, NTFS and exFAT boot sectors carry that signature too, and
 * a LUKS or XFS header at byte 0 could hold it by chance.
 */
import { hasAscii, viewOf } from './bytes.js';

/**
 * Whether `sector` (≥ 512 bytes) is a FAT12/16/32 boot sector: an x86 jump, a sane BIOS parameter
 * block (sector size, cluster size, reserved sectors, FAT count, media byte, a sector count) and
 * the `FAT` file-system-type text at 0x36 (FAT12/16) or 0x52 (FAT32) that mkfs.fat and every
 * DOS/Windows format writes. The same checks as libblkid's, minus its root-directory reads.
 */
export function isFatBootSector(sector: Uint8Array): boolean {
  if (sector.length < 512) return false;
  const view = viewOf(sector);
  const jump = (sector[0] === 0xeb && sector[2] === 0x90) || sector[0] === 0xe9;
  const bytesPerSector = view.getUint16(11, true);
  const sectorsPerCluster = sector[13];
  const reserved = view.getUint16(14, true);
  const fats = sector[16];
  const media = sector[21];
  const total = view.getUint16(19, true) || view.getUint32(32, true);
  return jump
    && [512, 1024, 2048, 4096].includes(bytesPerSector)
    && sectorsPerCluster !== 0 && (sectorsPerCluster & (sectorsPerCluster - 1)) === 0
    && reserved >= 1
    && (fats === 1 || fats === 2)
    && (media === 0xf0 || media >= 0xf8)
    && total !== 0
    && (hasAscii(sector, 0x36, 'FAT') || hasAscii(sector, 0x52, 'FAT'));
}

/**
 * Whether sector 0 belongs to a filesystem or container that occupies the whole disk: FAT, NTFS
 * (`NTFS    ` at 3), exFAT (`EXFAT   ` at 3), LUKS (`LUKS\xba\xbe` at 0) or XFS (`XFSB` at 0).
 */
export function isFilesystemBootSector(sector: Uint8Array): boolean {
  return isFatBootSector(sector)
    || hasAscii(sector, 3, 'NTFS    ')
    || hasAscii(sector, 3, 'EXFAT   ')
    || (hasAscii(sector, 0, 'LUKS') && sector[4] === 0xba && sector[5] === 0xbe)
    || hasAscii(sector, 0, 'XFSB');
}
