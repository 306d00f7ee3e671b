/**
 * Lays out the partitions `hexz build` creates: byte offsets and sizes aligned to 1 MiB, the disk
 * size when none is given, type codes from names (partition-types.ts) and deterministic GUIDs.
 * Pure: the GUID bytes come from a `derive` callback (a keyed hash in the caller), so the same
 * spec and seed always give the same disk. The result feeds encodeGpt / encodeMbr directly.
 */
import { UsageError } from '../../errors.js';
import { formatBytes } from '../../util/size.js';
import { formatUuid } from './bytes.js';
import { gptTypeFor, MBR_EXTENDED_TYPES, MBR_GPT_PROTECTIVE, mbrTypeFor, mbrTypeText } from './partition-types.js';
import type { PartitionTableKind } from './types.js';
import { GPT_BACKUP_SECTORS, GPT_ENTRY_COUNT, GPT_NAME_LENGTH, GPT_SECTOR_SIZE, type GptPartition } from './write-gpt.js';
import { MBR_MAX_SECTORS, type MbrPartition } from './write-mbr.js';

/**
 * Partition alignment: 1 MiB, what fdisk, sgdisk and parted use, a multiple of every erase block
 * and RAID stripe in common use. The first partition starts here too.
 */
export const PARTITION_ALIGNMENT = 1 << 20;
const SECTOR = GPT_SECTOR_SIZE;

/** One partition asked for. */
export interface PartitionRequest {
  /** Bytes (rounded up to whole 512-byte sectors). Absent: fill the rest of the disk (last partition only). */
  size?: number;
  /**
   * GPT: an alias (`linux`, `esp`, `swap`, `linux-home`, `bios-boot`, `linux-root-x86-64`,
   * `msdata`, …) or a type GUID. MBR: an alias or a type byte (`0x83`, `83`). Ignored for `none`.
   */
  type?: string;
  /** GPT partition name (≤ 36 UTF-16 code units); MBR has no names. */
  label?: string;
  /** Bytes the partition must at least have (its contents): the size a fill partition gets on an auto-sized disk. */
  minSize?: number;
}

/** Options of {@link planPartitions}. */
export interface PlanPartitionsOptions {
  table: PartitionTableKind;
  /** Disk size in bytes (a multiple of 512). Absent: the partitions' aligned sizes plus the table's overhead, rounded up to 1 MiB. */
  diskSize?: number;
  partitions: readonly PartitionRequest[];
  /**
   * Returns at least 16 pseudo-random bytes for a purpose name, deterministically (a keyed hash
   * of a seed). Names used: `gpt-disk-guid`, `gpt-partition-N-guid` (N from 1), `mbr-disk-id`.
   */
  derive: (purpose: string) => Uint8Array;
}

/** Where a partition is; offsets and sizes in bytes. */
export interface PlannedPartition {
  /** Linux's partition number (1..; 0 for the whole-disk pseudo-partition of `none`). */
  number: number;
  offset: number;
  size: number;
}
/** A GPT partition: its place, and the entry encodeGpt writes (type and unique GUID upper-case). */
export interface PlannedGptPartition extends PlannedPartition, GptPartition {}
/** An MBR partition: its place, and the entry encodeMbr writes. */
export interface PlannedMbrPartition extends PlannedPartition, MbrPartition {}

/** The layout: pass a GPT plan to encodeGpt, an MBR plan to encodeMbr. Sizes in bytes. */
export type PartitionPlan =
  | { table: 'gpt'; diskSize: number; diskGuid: string; partitions: PlannedGptPartition[] }
  | { table: 'mbr'; diskSize: number; diskId: number; partitions: PlannedMbrPartition[] }
  | { table: 'none'; diskSize: number; partitions: PlannedPartition[] };

/**
 * Lays out `options.partitions` in order, each starting on a 1 MiB boundary (the first at
 * 1 MiB). A GPT keeps its last 33 sectors for the backup table. A partition without a size fills
 * the disk up to the last 1 MiB boundary that fits. With `table: 'none'` the one partition is the
 * whole disk; its `size`/`minSize` are then lower bounds (the disk size when none is given).
 * @throws UsageError naming the partition: a size that is not a positive byte count, a non-last
 *   partition without a size, sizes that do not fit the disk, a fill partition smaller than its
 *   `minSize`, an unknown type name (the message lists the known ones) or one the table has no
 *   code for, a name on an MBR partition or over 36 code units, more partitions than the table
 *   holds (GPT 128, MBR 4, none 1), an MBR partition past 2 TiB.
 * @example
 * const plan = planPartitions({ table: 'gpt', partitions: [{ type: 'esp', size: 100 << 20, label: 'EFI' }, { type: 'linux', minSize: 1 << 30 }], derive });
 * if (plan.table === 'gpt') { const { head, tail } = encodeGpt(plan); }
 */
export function planPartitions(options: PlanPartitionsOptions): PartitionPlan {
  const { table, partitions } = options;
  const diskSize = options.diskSize === undefined ? undefined : byteCount(options.diskSize, 'disk size');
  if (diskSize !== undefined && diskSize % SECTOR !== 0) throw new UsageError(`disk size ${diskSize} is not a multiple of ${SECTOR} bytes`);
  const max = table === 'gpt' ? GPT_ENTRY_COUNT : table === 'mbr' ? 4 : 1;
  if (partitions.length === 0) throw new UsageError('no partitions to lay out');
  if (partitions.length > max) {
    throw new UsageError(table === 'none' ? `table "none" holds exactly one partition (the whole disk), not ${partitions.length}`
      : `a${table === 'mbr' ? 'n MBR' : ' GPT'} holds at most ${max} partitions, not ${partitions.length}`);
  }
  if (table === 'none') return wholeDisk(partitions[0], diskSize);

  const places = layOut(partitions, diskSize, table === 'gpt' ? GPT_BACKUP_SECTORS * SECTOR : 0);
  if (table === 'gpt') {
    return {
      table, diskSize: places.diskSize, diskGuid: guid(options.derive, 'gpt-disk-guid'),
      partitions: places.partitions.map((at, i) => ({
        ...at, firstLba: at.offset / SECTOR, lastLba: (at.offset + at.size) / SECTOR - 1,
        typeGuid: resolve(at.number, () => gptTypeFor(partitions[i].type ?? missingType())),
        uniqueGuid: guid(options.derive, `gpt-partition-${at.number}-guid`),
        ...gptName(partitions[i].label, at.number),
      })),
    };
  }
  return {
    table, diskSize: places.diskSize, diskId: new DataView(derived(options.derive, 'mbr-disk-id').buffer).getUint32(0, true),
    partitions: places.partitions.map((at, i) => {
      if (partitions[i].label !== undefined) throw new UsageError(`partition ${at.number}: MBR partitions have no names (label is GPT only)`);
      if ((at.offset + at.size) / SECTOR > MBR_MAX_SECTORS) throw new UsageError(`partition ${at.number} ends past 2 TiB, the most an MBR addresses; use a GPT`);
      return { ...at, type: mbrType(partitions[i].type, at.number), start: at.offset / SECTOR, count: at.size / SECTOR };
    }),
  };
}

/** Offsets and sizes of partitions 1.., each on a 1 MiB boundary, and the disk size; `reserve` bytes stay free at the end. */
function layOut(requests: readonly PartitionRequest[], diskSize: number | undefined, reserve: number): { diskSize: number; partitions: PlannedPartition[] } {
  const out: PlannedPartition[] = [];
  let end = PARTITION_ALIGNMENT; // the first 1 MiB holds the table (and, by custom, a boot loader's core image)
  requests.forEach((r, i) => {
    const number = i + 1;
    const offset = alignUp(end, PARTITION_ALIGNMENT);
    const minSize = r.minSize === undefined ? 0 : byteCount(r.minSize, `partition ${number}: minimum size`);
    let size: number;
    if (r.size !== undefined) {
      size = alignUp(byteCount(r.size, `partition ${number}: size`), SECTOR);
      if (size === 0) throw new UsageError(`partition ${number}: size 0`);
      if (size < minSize) throw new UsageError(`partition ${number}: ${formatBytes(size)} is smaller than the ${formatBytes(minSize)} its contents need`);
    } else if (i !== requests.length - 1) {
      throw new UsageError(`partition ${number} has no size; only the last partition may omit it (to fill the disk)`);
    } else if (diskSize !== undefined) {
      // Down to a 1 MiB boundary, so an explicit disk size gives the layout an auto one would.
      size = Math.floor((diskSize - reserve - offset) / PARTITION_ALIGNMENT) * PARTITION_ALIGNMENT;
      if (size <= 0 || size < minSize) {
        throw new UsageError(`partition ${number} fills the rest of the disk, but only ${formatBytes(Math.max(0, size))} is left of ${formatBytes(diskSize)}${minSize ? ` and its contents need ${formatBytes(minSize)}` : ''}`);
      }
    } else if (minSize > 0) {
      size = alignUp(minSize, PARTITION_ALIGNMENT);
    } else {
      throw new UsageError(`partition ${number} has no size and the disk has none: give the disk a size or the partition one`);
    }
    out.push({ number, offset, size });
    end = offset + size;
  });
  const needed = end + reserve;
  if (diskSize === undefined) return { diskSize: alignUp(alignUp(end, PARTITION_ALIGNMENT) + reserve, PARTITION_ALIGNMENT), partitions: out };
  if (needed > diskSize) {
    throw new UsageError(`the partitions need ${formatBytes(needed)} (${needed} bytes with alignment${reserve ? ' and the backup GPT' : ''}) but the disk is ${formatBytes(diskSize)} (${diskSize} bytes)`);
  }
  return { diskSize, partitions: out };
}

/** `none`: one pseudo-partition 0 covering the disk, which is at least as large as the request. */
function wholeDisk(r: PartitionRequest, diskSize: number | undefined): PartitionPlan {
  const need = Math.max(r.size === undefined ? 0 : byteCount(r.size, 'partition 1: size'), r.minSize === undefined ? 0 : byteCount(r.minSize, 'partition 1: minimum size'));
  if (diskSize === undefined && need === 0) throw new UsageError('table "none": give the disk or its partition a size');
  const size = diskSize ?? alignUp(need, PARTITION_ALIGNMENT);
  if (need > size) throw new UsageError(`table "none": the partition needs ${formatBytes(need)} but the disk is ${formatBytes(size)}`);
  return { table: 'none', diskSize: size, partitions: [{ number: 0, offset: 0, size }] };
}

function mbrType(text: string | undefined, number: number): number {
  const type = resolve(number, () => mbrTypeFor(text ?? missingType()));
  // 0 marks an empty slot; an extended one needs EBRs this writer does not make; 0xEE means "GPT here".
  if (type === 0 || type === MBR_GPT_PROTECTIVE || MBR_EXTENDED_TYPES.has(type)) {
    throw new UsageError(`partition ${number}: MBR type ${mbrTypeText(type)} cannot be written (empty, GPT-protective or extended)`);
  }
  return type;
}

function gptName(label: string | undefined, number: number): { name?: string } {
  if (label === undefined || label === '') return {};
  if (label.length > GPT_NAME_LENGTH) throw new UsageError(`partition ${number}: label '${label}' is longer than the ${GPT_NAME_LENGTH} UTF-16 code units a GPT name holds`);
  return { name: label };
}

/** Runs a type lookup, naming the partition in its UsageError. */
function resolve<T>(number: number, lookup: () => T): T {
  try {
    return lookup();
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`partition ${number}: ${err.message}`, {}, { cause: err });
    throw err;
  }
}

function missingType(): never {
  throw new UsageError('no partition type given');
}

/** 16 derived bytes as an RFC 4122 version 4 GUID text (upper-case, as sgdisk prints), so tools take it for a random one. */
function guid(derive: PlanPartitionsOptions['derive'], purpose: string): string {
  const b = derived(derive, purpose);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return formatUuid(b).toUpperCase();
}

function derived(derive: PlanPartitionsOptions['derive'], purpose: string): Uint8Array {
  const bytes = derive(purpose);
  if (!(bytes instanceof Uint8Array) || bytes.length < 16) throw new UsageError(`derive('${purpose}') returned fewer than 16 bytes`);
  return bytes.slice(0, 16);
}

function byteCount(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${what} ${n} is not a byte count`);
  return n;
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
