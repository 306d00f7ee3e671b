/**
 * What a partition-table reader returns: a table kind and its partitions, each located by byte
 * offset and size on the device it was read from (hand those to `subDevice`). Plain data (no
 * bigint, no bytes) so a CLI can print it as JSON.
 */
import type { FsWarning } from '../types.js';

/** Which kind of table a disk has; `none` is a filesystem on the whole disk (or nothing known). */
export type PartitionTableKind = 'gpt' | 'mbr' | 'none';

/** One partition, as Linux would expose it. */
export interface Partition {
  /**
   * The number Linux gives it (`/dev/sdaN`): GPT, the 1-based index of its entry in the entry
   * array (empty entries keep their numbers); MBR, 1–4 for the primary slots and 5, 6, … for the
   * logical partitions in chain order; `none`, 0 for the whole-disk pseudo-partition (0 because
   * no real partition has it and Linux leaves the whole disk unnumbered).
   */
  number: number;
  /** Byte offset on the device. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /**
   * GPT: the type GUID, upper-case 8-4-4-4-12 (as `sgdisk` and `sfdisk` print it). MBR: the type
   * byte as `0x83` (two lower-case hex digits). `none`: `none`.
   */
  type: string;
  /** A human name of `type` when it is a well-known one (`Linux filesystem`, `EFI System`). */
  typeName?: string;
  /** GPT: the partition name (decoded from UTF-16LE, cut at the first NUL); absent when empty. */
  name?: string;
  /** GPT: the unique partition GUID, upper-case 8-4-4-4-12. */
  uuid?: string;
  /** GPT: the 64-bit attribute flags as `0x` and 16 hex digits; absent when all zero. */
  attributes?: string;
  /** MBR: the active (0x80) flag. */
  bootable?: boolean;
  /** MBR: true for a logical partition inside an extended one. */
  logical?: boolean;
}

/** A disk's partition table. */
export interface PartitionTable {
  kind: PartitionTableKind;
  /** The logical sector size in bytes the table was read with (512 or 4096; 512 for `none`). */
  sectorSize: number;
  /** GPT: the disk GUID, upper-case 8-4-4-4-12. */
  diskGuid?: string;
  /** MBR: the 32-bit disk signature at byte 440 as `0x` and 8 lower-case hex digits (sfdisk's `id`). */
  diskId?: string;
  /**
   * The partitions in table order (GPT by entry number; MBR the primaries, then the logicals).
   * MBR extended containers are listed too (as sfdisk does), typed 0x05/0x0f/0x85. For `none`,
   * one pseudo-partition number 0 covering the whole device (none when the device is empty).
   */
  partitions: Partition[];
}

/** Options of the partition-table readers. */
export interface ReadPartitionsOptions {
  /** Called with what was damaged but could be read past (a bad primary GPT, a bad backup). */
  onWarning?: FsWarning;
  /** Cancels the reads. */
  signal?: AbortSignal;
}
