/**
 * Pure encoding of a DOS master boot record: up to four primary entries, the disk signature and
 * 0x55AA, in one 512-byte sector (the inverse of mbr.ts). The boot-code area is left zero: a
 * built image boots through its own loader, which installs its code there. Also encodes the
 * protective MBR of a GPT disk (write-gpt.ts), so the CHS rules live in one place.
 */
import { UsageError } from '../../errors.js';
import { MBR_SECTOR_SIZE } from './mbr.js';

/**
 * Sectors an MBR entry can reach: its start and count are 32-bit, and fdisk refuses a partition
 * ending past 2^32 sectors (2 TiB at 512 bytes) because LBA-addressing tools wrap there.
 */
export const MBR_MAX_SECTORS = 2 ** 32;
/** Offset of the first of the four 16-byte entries. */
const ENTRIES_OFFSET = 0x1be;
/** Offset of the 32-bit disk signature (the `label-id` sfdisk prints). */
const DISK_ID_OFFSET = 0x1b8;
/**
 * The geometry fdisk assumes for a disk that reports none (every image file): 255 heads of
 * 63 sectors. CHS fields are only read by very old BIOSes; filling them as fdisk does keeps
 * `sfdisk --verify` from reporting physical/logical mismatches.
 */
const HEADS = 255;
const SECTORS_PER_TRACK = 63;
/** Cylinders a CHS field can hold (10 bits); past them fdisk writes 1023/254/63 (FE FF FF). */
const MAX_CYLINDERS = 1024;

/** One primary partition to write. */
export interface MbrPartition {
  /** Partition type byte (1..255), e.g. 0x83 Linux, 0xEE GPT protective. */
  type: number;
  /** First sector (LBA, 512-byte units), at least 1 (sector 0 is the MBR). */
  start: number;
  /** Number of sectors, at least 1. */
  count: number;
  /** Sets the active flag (0x80) some BIOSes boot from. */
  bootable?: boolean;
}

/** What {@link encodeMbr} writes. */
export interface MbrPlan {
  /** The 32-bit disk signature (Linux's PARTUUID prefix); 0 when absent. */
  diskId?: number;
  /** Up to four partitions, written to slots 1..4 in this order. */
  partitions: readonly MbrPartition[];
}

/**
 * The 512 bytes of sector 0 holding `plan`'s partitions.
 * @throws UsageError for more than four partitions, a type outside 1..255, a start before
 *   sector 1 or a count of 0, a partition ending past 2^32 sectors (2 TiB), overlapping
 *   partitions, or a disk signature that is not a 32-bit unsigned integer.
 * @example
 * const sector0 = encodeMbr({ diskId: 0x1234abcd, partitions: [{ type: 0x83, start: 2048, count: 204800, bootable: true }] });
 */
export function encodeMbr(plan: MbrPlan): Uint8Array {
  const { partitions } = plan;
  if (partitions.length > 4) throw new UsageError(`an MBR holds at most 4 primary partitions, not ${partitions.length}`);
  const diskId = plan.diskId ?? 0;
  if (!Number.isInteger(diskId) || diskId < 0 || diskId > 0xffffffff) throw new UsageError(`MBR disk signature ${diskId} is not a 32-bit unsigned integer`);
  partitions.forEach(checkEntry);
  checkDisjoint(partitions);

  const sector = new Uint8Array(MBR_SECTOR_SIZE);
  const view = new DataView(sector.buffer);
  view.setUint32(DISK_ID_OFFSET, diskId, true);
  partitions.forEach((p, slot) => {
    const at = ENTRIES_OFFSET + slot * 16;
    sector[at] = p.bootable ? 0x80 : 0x00;
    sector.set(chs(p.start), at + 1);
    sector[at + 4] = p.type;
    sector.set(chs(p.start + p.count - 1), at + 5);
    view.setUint32(at + 8, p.start, true);
    view.setUint32(at + 12, p.count, true);
  });
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/**
 * The three CHS bytes (head, sector | cylinder bits 8–9 << 6, cylinder bits 0–7) of `lba` under
 * fdisk's 255×63 geometry; 0xFE 0xFF 0xFF for an LBA past cylinder 1023, as fdisk writes.
 */
export function chs(lba: number): Uint8Array {
  let cylinder = Math.floor(lba / (HEADS * SECTORS_PER_TRACK));
  let head = Math.floor(lba / SECTORS_PER_TRACK) % HEADS;
  let sector = (lba % SECTORS_PER_TRACK) + 1;
  if (cylinder >= MAX_CYLINDERS) [cylinder, head, sector] = [MAX_CYLINDERS - 1, HEADS - 1, SECTORS_PER_TRACK];
  return Uint8Array.of(head, sector | ((cylinder >> 2) & 0xc0), cylinder & 0xff);
}

function checkEntry(p: MbrPartition, i: number): void {
  const which = `MBR partition ${i + 1}`;
  if (!Number.isInteger(p.type) || p.type < 1 || p.type > 0xff) throw new UsageError(`${which}: type ${p.type} is not a byte 0x01..0xff`);
  if (!Number.isSafeInteger(p.start) || p.start < 1) throw new UsageError(`${which}: start sector ${p.start} must be at least 1 (sector 0 holds the MBR)`);
  if (!Number.isSafeInteger(p.count) || p.count < 1) throw new UsageError(`${which}: sector count ${p.count} must be at least 1`);
  if (p.start + p.count > MBR_MAX_SECTORS) {
    throw new UsageError(`${which} ends at sector ${p.start + p.count - 1}, past the 2 TiB (2^32 sectors) an MBR can address; use a GPT`);
  }
}

/** Two entries claiming one sector would be a table no tool accepts. */
function checkDisjoint(partitions: readonly MbrPartition[]): void {
  const sorted = partitions.map((p, i) => ({ ...p, number: i + 1 })).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.start < a.start + a.count) throw new UsageError(`MBR partitions ${Math.min(a.number, b.number)} and ${Math.max(a.number, b.number)} overlap`);
  }
}
