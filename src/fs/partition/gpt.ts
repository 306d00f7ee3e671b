/**
 * Pure decoding of a GUID Partition Table (UEFI 2.10 §5.3): the header in one sector, the
 * partition entry array it points at, and the checks that turn entries into partitions. Bytes
 * in, plain objects out; the reads are in read-gpt.ts.
 */
import { CorruptImageError } from '../../errors.js';
import type { FsWarning } from '../types.js';
import { formatGuid, hasAscii, isZero, u64, viewOf } from './bytes.js';
import { crc32 } from './crc32.js';
import { checkNoOverlap } from './layout.js';
import { gptTypeName } from './partition-types.js';
import type { Partition } from './types.js';

/** "EFI PART", the header signature (§5.3.2). */
export const GPT_SIGNATURE = 'EFI PART';
/** Bytes of the header fields the spec defines (§5.3.2, table 5.5); the CRC covers `headerSize`. */
export const GPT_MIN_HEADER_SIZE = 92;
/** Smallest entry size the spec allows (§5.3.2: 128 × 2^n). */
export const GPT_MIN_ENTRY_SIZE = 128;
/** The most entry-array bytes this reader reads (the usual array is 16 KiB): keeps memory bounded. */
export const GPT_MAX_ENTRY_ARRAY_BYTES = 1 << 20;
/** Bytes of the UTF-16LE partition name in an entry (§5.3.3, 36 code units). */
const NAME_BYTES = 72;

/** A decoded, CRC-checked GPT header. LBAs are in units of the sector size it was read with. */
export interface GptHeader {
  /** The LBA it says it is at (checked to be where it was read). */
  lba: number;
  /** Where the other copy of the header is. */
  alternateLba: number;
  /** First and last LBA partitions may use (inclusive). */
  firstUsableLba: number;
  lastUsableLba: number;
  /** Disk GUID, upper-case 8-4-4-4-12. */
  diskGuid: string;
  /** First LBA of the partition entry array. */
  entriesLba: number;
  /** Number of entries and bytes per entry in the array. */
  entryCount: number;
  entrySize: number;
  /** CRC-32 of the entry array (`entryCount × entrySize` bytes). */
  entriesCrc: number;
}

/** One used entry of the partition entry array (§5.3.3). */
export interface GptEntry {
  /** 1-based index in the array (the Linux partition number). */
  number: number;
  typeGuid: string;
  uniqueGuid: string;
  /** First and last LBA, inclusive. */
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  /** The name cut at its first NUL; empty when unnamed. */
  name: string;
}

/**
 * Decodes and checks the GPT header in `sector` (one whole sector), read from `lba`.
 * @throws CorruptImageError naming the LBA and the defect: no signature, a header size outside
 *   92..sector size, a CRC mismatch, a wrong own LBA, an empty usable range, a bad entry size,
 *   an entry array over 1 MiB or past the end of the device (`deviceSize` bytes).
 */
export function decodeGptHeader(sector: Uint8Array, at: { lba: number; sectorSize: number; deviceSize: number }): GptHeader {
  const where = `GPT header at LBA ${at.lba}`;
  const fail = (what: string) => new CorruptImageError(`${where}: ${what}`, { offset: at.lba * at.sectorSize, stage: 'gpt' });
  if (sector.length < at.sectorSize || at.sectorSize < GPT_MIN_HEADER_SIZE) throw fail(`needs a ${at.sectorSize}-byte sector`);
  if (!hasAscii(sector, 0, GPT_SIGNATURE)) throw fail(`no '${GPT_SIGNATURE}' signature`);
  const view = viewOf(sector);
  const headerSize = view.getUint32(12, true);
  if (headerSize < GPT_MIN_HEADER_SIZE || headerSize > at.sectorSize) throw fail(`header size ${headerSize} is outside ${GPT_MIN_HEADER_SIZE}..${at.sectorSize}`);
  const stored = view.getUint32(16, true);
  const copy = sector.slice(0, headerSize);
  copy.fill(0, 16, 20); // the CRC is computed with its own field zeroed (§5.3.2)
  if (crc32(copy) !== stored) {
    throw new CorruptImageError(`GPT header CRC mismatch at LBA ${at.lba}`, { offset: at.lba * at.sectorSize, stage: 'gpt' });
  }
  const field = (offset: number, name: string) => u64(view, offset, `${where}: ${name}`);
  const header: GptHeader = {
    lba: field(24, 'own LBA'),
    alternateLba: field(32, 'alternate LBA'),
    firstUsableLba: field(40, 'first usable LBA'),
    lastUsableLba: field(48, 'last usable LBA'),
    diskGuid: formatGuid(sector, 56),
    entriesLba: field(72, 'entry array LBA'),
    entryCount: view.getUint32(80, true),
    entrySize: view.getUint32(84, true),
    entriesCrc: view.getUint32(88, true),
  };
  if (header.lba !== at.lba) throw fail(`says it is at LBA ${header.lba}`);
  if (header.firstUsableLba > header.lastUsableLba) {
    throw fail(`first usable LBA ${header.firstUsableLba} is after last usable LBA ${header.lastUsableLba}`);
  }
  if (header.entrySize < GPT_MIN_ENTRY_SIZE || header.entrySize % 8 !== 0) {
    throw fail(`partition entry size ${header.entrySize} is not a multiple of 8 of at least ${GPT_MIN_ENTRY_SIZE}`);
  }
  const arrayBytes = header.entryCount * header.entrySize;
  if (arrayBytes > GPT_MAX_ENTRY_ARRAY_BYTES) {
    throw fail(`${header.entryCount} partition entries of ${header.entrySize} bytes exceed the ${GPT_MAX_ENTRY_ARRAY_BYTES} bytes this reader accepts`);
  }
  const sectors = Math.floor(at.deviceSize / at.sectorSize);
  if (header.entriesLba >= sectors || header.entriesLba * at.sectorSize + arrayBytes > at.deviceSize) {
    throw fail(`partition entry array (LBA ${header.entriesLba}, ${arrayBytes} bytes) runs past the end of the disk (${at.deviceSize} bytes)`);
  }
  return header;
}

/**
 * Checks the entry array's CRC against `header` and decodes its used entries (those whose type
 * GUID is not all zero), numbered from 1 by position.
 * @throws CorruptImageError on a CRC mismatch, or an LBA past 2^53.
 */
export function decodeGptEntries(bytes: Uint8Array, header: GptHeader): GptEntry[] {
  if (bytes.length !== header.entryCount * header.entrySize || crc32(bytes) !== header.entriesCrc) {
    throw new CorruptImageError(`GPT partition entry array CRC mismatch (header at LBA ${header.lba})`, { stage: 'gpt' });
  }
  const view = viewOf(bytes);
  const utf16 = new TextDecoder('utf-16le');
  const entries: GptEntry[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const at = i * header.entrySize;
    if (isZero(bytes.subarray(at, at + 16))) continue;
    const number = i + 1;
    const nameBytes = bytes.subarray(at + 56, at + 56 + NAME_BYTES);
    let end = 0;
    while (end < NAME_BYTES && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
    entries.push({
      number,
      typeGuid: formatGuid(bytes, at),
      uniqueGuid: formatGuid(bytes, at + 16),
      firstLba: u64(view, at + 32, `GPT partition ${number}: first LBA`),
      lastLba: u64(view, at + 40, `GPT partition ${number}: last LBA`),
      attributes: view.getBigUint64(at + 48, true),
      name: utf16.decode(nameBytes.subarray(0, end)),
    });
  }
  return entries;
}

/**
 * Turns decoded entries into partitions (byte offsets and sizes), checking each lies inside the
 * disk and the header's usable range and that none overlap. Warns (not throws) when the header's
 * usable range runs past the disk but no partition does (an image cut in its free space).
 * @throws CorruptImageError naming the partition: first LBA after last, past the end of the disk,
 *   outside the usable range, overlapping another.
 */
export function gptPartitions(entries: GptEntry[], header: GptHeader, disk: { sectorSize: number; deviceSize: number }, onWarning?: FsWarning): Partition[] {
  const sectors = Math.floor(disk.deviceSize / disk.sectorSize);
  const fail = (message: string) => new CorruptImageError(message, { stage: 'gpt' });
  for (const e of entries) {
    if (e.firstLba > e.lastLba) throw fail(`GPT partition ${e.number}: first LBA ${e.firstLba} is after last LBA ${e.lastLba}`);
    if (e.lastLba >= sectors) {
      throw fail(`partition ${e.number} ends past the end of the disk (last LBA ${e.lastLba}, the disk has ${sectors} sectors of ${disk.sectorSize} bytes)`);
    }
    if (e.firstLba < header.firstUsableLba || e.lastLba > header.lastUsableLba) {
      throw fail(`GPT partition ${e.number} (LBA ${e.firstLba}..${e.lastLba}) lies outside the usable LBAs ${header.firstUsableLba}..${header.lastUsableLba}`);
    }
  }
  checkNoOverlap(entries.map((e) => ({ number: e.number, first: e.firstLba, last: e.lastLba })), 'LBA', 'gpt');
  if (header.lastUsableLba >= sectors) {
    onWarning?.(`GPT last usable LBA ${header.lastUsableLba} is past the end of the disk (${sectors} sectors): the image looks truncated`);
  }
  return entries.map((e) => {
    const p: Partition = {
      number: e.number,
      offset: e.firstLba * disk.sectorSize,
      size: (e.lastLba - e.firstLba + 1) * disk.sectorSize,
      type: e.typeGuid,
      uuid: e.uniqueGuid,
    };
    const typeName = gptTypeName(e.typeGuid);
    if (typeName) p.typeName = typeName;
    if (e.name) p.name = e.name;
    if (e.attributes !== 0n) p.attributes = `0x${e.attributes.toString(16).padStart(16, '0')}`;
    return p;
  });
}
