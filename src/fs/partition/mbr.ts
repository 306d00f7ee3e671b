/**
 * Pure decoding of a DOS master boot record or extended boot record: the four 16-byte entries
 * at 0x1BE and the 0x55AA signature at 510. Bytes in, plain objects out; following the chain of
 * EBRs is in read-mbr.ts.
 */
import { MBR_GPT_PROTECTIVE } from './partition-types.js';
import { viewOf } from './bytes.js';

/** Bytes of an MBR/EBR sector (MBR sectors are 512 bytes whatever the disk's sector size). */
export const MBR_SECTOR_SIZE = 512;
/** Offset of the first of the four partition entries. */
const ENTRIES_OFFSET = 0x1be;
/** Offset of the 32-bit disk signature (the `label-id` sfdisk prints). */
const DISK_ID_OFFSET = 0x1b8;

/** One of the four entries of an MBR or EBR. */
export interface MbrEntry {
  /** 0-based slot (0..3). */
  slot: number;
  /** The status byte: 0x80 active, 0x00 inactive, anything else invalid. */
  status: number;
  /** Partition type byte. */
  type: number;
  /** First sector, relative to a base that depends on where the entry is (see read-mbr.ts). */
  start: number;
  /** Number of sectors. */
  count: number;
}

/** A decoded MBR/EBR sector. */
export interface MbrSector {
  /** Whether bytes 510–511 are 0x55 0xAA. */
  signature: boolean;
  /** The 32-bit disk signature at 0x1B8 (meaningful in an MBR, not in an EBR). */
  diskId: number;
  /** All four entries, empty ones included. */
  entries: MbrEntry[];
}

/**
 * Decodes the first 512 bytes of `sector`. Never throws; a sector shorter than 512 bytes decodes
 * as having no signature and no entries.
 */
export function decodeMbr(sector: Uint8Array): MbrSector {
  if (sector.length < MBR_SECTOR_SIZE) return { signature: false, diskId: 0, entries: [] };
  const view = viewOf(sector);
  const entries: MbrEntry[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const at = ENTRIES_OFFSET + slot * 16;
    entries.push({
      slot,
      status: sector[at],
      type: sector[at + 4],
      start: view.getUint32(at + 8, true),
      count: view.getUint32(at + 12, true),
    });
  }
  return { signature: sector[510] === 0x55 && sector[511] === 0xaa, diskId: view.getUint32(DISK_ID_OFFSET, true), entries };
}

/** Whether an entry describes nothing (type 0 or no sectors), as fdisk treats it. */
export function isEmptyEntry(e: MbrEntry): boolean {
  return e.type === 0 || e.count === 0;
}

/** Whether the MBR marks a GPT disk: signed and with a 0xEE entry (protective or hybrid, UEFI §5.2.3). */
export function isProtectiveMbr(mbr: MbrSector): boolean {
  return mbr.signature && mbr.entries.some((e) => e.type === MBR_GPT_PROTECTIVE && !isEmptyEntry(e));
}

/**
 * Whether every status byte is 0x00 or 0x80. Linux and libblkid take a signed sector whose status
 * bytes are anything else for a boot sector without a partition table, and so do we.
 */
export function hasValidStatusBytes(mbr: MbrSector): boolean {
  return mbr.entries.every((e) => e.status === 0 || e.status === 0x80);
}
