/**
 * Pure encoding of a GUID Partition Table (UEFI 2.10 §5.3) for 512-byte sectors: the protective
 * MBR, the primary header and entry array at the start of the disk, and the backup entry array
 * and header at its end (the inverse of gpt.ts). Everything between is the caller's: it returns
 * the two byte ranges to write, not a disk image, so a sparse image stays sparse.
 */
import { UsageError } from '../../errors.js';
import { parseGuid } from './bytes.js';
import { crc32 } from './crc32.js';
import { GPT_MIN_HEADER_SIZE, GPT_MIN_ENTRY_SIZE, GPT_SIGNATURE } from './gpt.js';
import { MBR_GPT_PROTECTIVE } from './partition-types.js';
import { encodeMbr, MBR_MAX_SECTORS } from './write-mbr.js';

/** Bytes per sector this writer lays out (4Kn disks are not written). */
export const GPT_SECTOR_SIZE = 512;
/** Entries in the array: 128, the minimum the spec lets an array hold (§5.3.2), as every tool writes. */
export const GPT_ENTRY_COUNT = 128;
/** Sectors of the entry array: 128 entries of 128 bytes. */
export const GPT_ENTRY_SECTORS = (GPT_ENTRY_COUNT * GPT_MIN_ENTRY_SIZE) / GPT_SECTOR_SIZE;
/** First LBA a partition may use: after the protective MBR, the header and the entry array. */
export const GPT_FIRST_USABLE_LBA = 2 + GPT_ENTRY_SECTORS;
/** Sectors at the end of the disk after the last usable LBA: the backup array and header. */
export const GPT_BACKUP_SECTORS = GPT_ENTRY_SECTORS + 1;
/** Header revision 1.0 (§5.3.2). */
const REVISION = 0x00010000;
/** UTF-16 code units of a partition name (§5.3.3: 72 bytes). */
export const GPT_NAME_LENGTH = 36;

/** One partition to write. LBAs are 512-byte sectors. */
export interface GptPartition {
  /** First and last LBA, inclusive. */
  firstLba: number;
  lastLba: number;
  /** Partition type GUID as 8-4-4-4-12 text (any case). */
  typeGuid: string;
  /** Unique partition GUID (Linux's PARTUUID) as 8-4-4-4-12 text. */
  uniqueGuid: string;
  /** The partition name, at most 36 UTF-16 code units; empty or absent writes none. */
  name?: string;
  /** The 64 attribute flags (§5.3.3), e.g. `1n << 2n` legacy BIOS bootable; 0 when absent. */
  attributes?: bigint | number;
}

/** What {@link encodeGpt} writes. */
export interface GptPlan {
  /** Disk size in bytes, a multiple of 512, at least 68 sectors. */
  diskSize: number;
  /** The disk GUID as 8-4-4-4-12 text. */
  diskGuid: string;
  /** The partitions, written to entries 1, 2, … in this order (entry number = Linux number). */
  partitions: readonly GptPartition[];
}

/** The bytes of a GPT: write `head` at byte 0 and `tail.bytes` at byte `tail.offset`. */
export interface EncodedGpt {
  /** LBA 0 up to the first usable LBA: protective MBR, primary header, primary entry array. */
  head: Uint8Array;
  /** The backup entry array and backup header, the disk's last 33 sectors; `offset` in bytes. */
  tail: { offset: number; bytes: Uint8Array };
}

/**
 * Encodes the GPT of `plan` with CRC-checked headers (92 bytes) and 128-entry arrays, primary
 * at LBA 1..33 and backup at the last 33 LBAs, usable LBAs 34..(sectors − 34), and a protective
 * MBR covering the disk (capped at 2^32 − 1 sectors as the spec says).
 * @throws UsageError for a disk size that is not a multiple of 512 or under 68 sectors, more than
 *   128 partitions, a GUID that does not parse, an all-zero type GUID, a partition outside the
 *   usable LBAs or overlapping another, a name over 36 UTF-16 code units or holding NUL, or
 *   attributes outside 0..2^64 − 1. Each message names the partition.
 * @example
 * const { head, tail } = encodeGpt({ diskSize: 64 << 20, diskGuid, partitions: [{ firstLba: 2048, lastLba: 131037, typeGuid, uniqueGuid, name: 'root' }] });
 */
export function encodeGpt(plan: GptPlan): EncodedGpt {
  const { diskSize, partitions } = plan;
  if (!Number.isSafeInteger(diskSize) || diskSize % GPT_SECTOR_SIZE !== 0) throw new UsageError(`GPT disk size ${diskSize} is not a multiple of ${GPT_SECTOR_SIZE} bytes`);
  const sectors = diskSize / GPT_SECTOR_SIZE;
  const lastUsable = sectors - 1 - GPT_BACKUP_SECTORS;
  if (lastUsable < GPT_FIRST_USABLE_LBA) throw new UsageError(`a ${diskSize}-byte disk is too small for a GPT (needs ${(GPT_FIRST_USABLE_LBA + 1 + GPT_BACKUP_SECTORS) * GPT_SECTOR_SIZE} bytes)`);
  if (partitions.length > GPT_ENTRY_COUNT) throw new UsageError(`a GPT holds at most ${GPT_ENTRY_COUNT} partitions, not ${partitions.length}`);
  const diskGuid = guidBytes(plan.diskGuid, 'disk GUID');

  const entries = new Uint8Array(GPT_ENTRY_COUNT * GPT_MIN_ENTRY_SIZE);
  partitions.forEach((p, i) => entries.set(encodeEntry(p, i + 1, lastUsable), i * GPT_MIN_ENTRY_SIZE));
  checkDisjoint(partitions);
  const entriesCrc = crc32(entries);

  const header = (lba: number, alternateLba: number, entriesLba: number) =>
    encodeHeader({ lba, alternateLba, lastUsable, diskGuid, entriesLba, entriesCrc });
  const head = new Uint8Array(GPT_FIRST_USABLE_LBA * GPT_SECTOR_SIZE);
  // The protective MBR keeps MBR-only tools from taking the disk for empty (§5.2.3).
  head.set(encodeMbr({ partitions: [{ type: MBR_GPT_PROTECTIVE, start: 1, count: Math.min(sectors - 1, MBR_MAX_SECTORS - 1) }] }));
  head.set(header(1, sectors - 1, 2), GPT_SECTOR_SIZE);
  head.set(entries, 2 * GPT_SECTOR_SIZE);

  const backupEntriesLba = sectors - GPT_BACKUP_SECTORS;
  const tail = new Uint8Array(GPT_BACKUP_SECTORS * GPT_SECTOR_SIZE);
  tail.set(entries);
  tail.set(header(sectors - 1, 1, backupEntriesLba), GPT_ENTRY_SECTORS * GPT_SECTOR_SIZE);
  return { head, tail: { offset: backupEntriesLba * GPT_SECTOR_SIZE, bytes: tail } };
}

/** One 512-byte header sector; the CRC is computed over the 92 header bytes with its field zero. */
function encodeHeader(h: { lba: number; alternateLba: number; lastUsable: number; diskGuid: Uint8Array; entriesLba: number; entriesCrc: number }): Uint8Array {
  const sector = new Uint8Array(GPT_SECTOR_SIZE);
  const view = new DataView(sector.buffer);
  for (let i = 0; i < GPT_SIGNATURE.length; i++) sector[i] = GPT_SIGNATURE.charCodeAt(i);
  view.setUint32(8, REVISION, true);
  view.setUint32(12, GPT_MIN_HEADER_SIZE, true);
  view.setBigUint64(24, BigInt(h.lba), true);
  view.setBigUint64(32, BigInt(h.alternateLba), true);
  view.setBigUint64(40, BigInt(GPT_FIRST_USABLE_LBA), true);
  view.setBigUint64(48, BigInt(h.lastUsable), true);
  sector.set(h.diskGuid, 56);
  view.setBigUint64(72, BigInt(h.entriesLba), true);
  view.setUint32(80, GPT_ENTRY_COUNT, true);
  view.setUint32(84, GPT_MIN_ENTRY_SIZE, true);
  view.setUint32(88, h.entriesCrc, true);
  view.setUint32(16, crc32(sector.subarray(0, GPT_MIN_HEADER_SIZE)), true);
  return sector;
}

/** One 128-byte entry (§5.3.3), checked against the usable range. */
function encodeEntry(p: GptPartition, number: number, lastUsable: number): Uint8Array {
  const which = `GPT partition ${number}`;
  const entry = new Uint8Array(GPT_MIN_ENTRY_SIZE);
  const view = new DataView(entry.buffer);
  const type = guidBytes(p.typeGuid, `${which}: type GUID`);
  // An all-zero type marks an unused entry (§5.3.3): the partition would vanish.
  if (type.every((b) => b === 0)) throw new UsageError(`${which}: the all-zero type GUID marks an unused entry`);
  entry.set(type, 0);
  entry.set(guidBytes(p.uniqueGuid, `${which}: unique GUID`), 16);
  if (!Number.isSafeInteger(p.firstLba) || !Number.isSafeInteger(p.lastLba) || p.firstLba > p.lastLba
    || p.firstLba < GPT_FIRST_USABLE_LBA || p.lastLba > lastUsable) {
    throw new UsageError(`${which} (LBA ${p.firstLba}..${p.lastLba}) is outside the usable LBAs ${GPT_FIRST_USABLE_LBA}..${lastUsable}`);
  }
  view.setBigUint64(32, BigInt(p.firstLba), true);
  view.setBigUint64(40, BigInt(p.lastLba), true);
  const attributes = BigInt(p.attributes ?? 0);
  if (attributes < 0n || attributes >= 1n << 64n) throw new UsageError(`${which}: attributes ${attributes} do not fit 64 bits`);
  view.setBigUint64(48, attributes, true);
  const name = p.name ?? '';
  if (name.length > GPT_NAME_LENGTH) throw new UsageError(`${which}: name '${name}' is ${name.length} UTF-16 code units; a GPT name holds ${GPT_NAME_LENGTH}`);
  if (name.includes('\0')) throw new UsageError(`${which}: name holds a NUL character`);
  // UTF-16LE code unit by code unit, so a surrogate pair is stored as the pair (as sgdisk does).
  for (let i = 0; i < name.length; i++) view.setUint16(56 + 2 * i, name.charCodeAt(i), true);
  return entry;
}

function guidBytes(text: string, what: string): Uint8Array {
  const bytes = parseGuid(text);
  if (!bytes) throw new UsageError(`${what} '${text}' is not a GUID (8-4-4-4-12 hex digits)`);
  return bytes;
}

function checkDisjoint(partitions: readonly GptPartition[]): void {
  const sorted = partitions.map((p, i) => ({ ...p, number: i + 1 })).sort((a, b) => a.firstLba - b.firstLba);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (b.firstLba <= a.lastLba) throw new UsageError(`GPT partitions ${Math.min(a.number, b.number)} and ${Math.max(a.number, b.number)} overlap`);
  }
}
