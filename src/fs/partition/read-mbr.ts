/**
 * Reads a DOS (MBR) partition table through a BlockDevice: the four primary entries, then the
 * chain of extended boot records inside each extended partition, numbering logical partitions
 * 5, 6, … as Linux does. Sectors are 512 bytes (MBR on 4096-byte-sector disks is not supported).
 */
import { CorruptImageError } from '../../errors.js';
import type { BlockDevice } from '../types.js';
import { isZero, readExact } from './bytes.js';
import { checkNoOverlap, type SectorRange } from './layout.js';
import { decodeMbr, isEmptyEntry, MBR_SECTOR_SIZE, type MbrEntry } from './mbr.js';
import { MBR_EXTENDED_TYPES, mbrTypeName, mbrTypeText } from './partition-types.js';
import type { Partition, PartitionTable, ReadPartitionsOptions } from './types.js';

/** Most logical partitions read (Linux's own limit per disk is lower in practice). */
export const MAX_LOGICAL_PARTITIONS = 128;
/** Most EBRs visited, counting ones that hold only a link: bounds the reads of any chain. */
const MAX_EBRS = 2 * MAX_LOGICAL_PARTITIONS;

const fail = (message: string, sector?: number) =>
  new CorruptImageError(message, { stage: 'mbr', ...(sector === undefined ? {} : { offset: sector * MBR_SECTOR_SIZE }) });

/**
 * Reads the MBR at sector 0 of `dev` and the EBR chains of its extended partitions. Reads one
 * sector per EBR, at most 256 of them.
 * @throws CorruptImageError for no 0x55AA signature, a partition over sector 0 or past the end of
 *   the disk, overlapping partitions, a logical partition outside its extended one, an EBR chain
 *   that loops, leaves its extended partition or holds more than 128 logical partitions.
 *   StoreError/AbortedError from the device.
 */
export async function readMbr(dev: BlockDevice, options: ReadPartitionsOptions = {}): Promise<PartitionTable> {
  const { signal, onWarning } = options;
  const disk = Math.floor(dev.size / MBR_SECTOR_SIZE);
  if (disk < 1) throw fail(`a ${dev.size}-byte device cannot hold an MBR`);
  const mbr = decodeMbr(await readExact(dev, 0, MBR_SECTOR_SIZE, signal));
  if (!mbr.signature) throw fail('no MBR signature (0x55AA at byte 510)', 0);

  const partitions: Partition[] = [];
  const primaries: SectorRange[] = [];
  for (const e of mbr.entries) {
    if (isEmptyEntry(e)) continue;
    const number = e.slot + 1;
    if (e.start === 0) throw fail(`MBR partition ${number} starts at sector 0, over the partition table`, 0);
    const last = e.start + e.count - 1;
    if (last >= disk) {
      throw fail(`partition ${number} ends past the end of the disk (last sector ${last}, the disk has ${disk} sectors of 512 bytes)`, 0);
    }
    primaries.push({ number, first: e.start, last });
    partitions.push({ ...describe(e, number, e.start), bootable: e.status === 0x80 });
  }
  checkNoOverlap(primaries, 'sectors', 'mbr');

  let nextNumber = 5;
  for (const ext of primaries) {
    const entry = mbr.entries[ext.number - 1];
    if (!MBR_EXTENDED_TYPES.has(entry.type)) continue;
    const logicals = await readLogicals(dev, ext, nextNumber, signal, onWarning);
    nextNumber += logicals.length;
    if (nextNumber - 5 > MAX_LOGICAL_PARTITIONS) throw fail(`more than ${MAX_LOGICAL_PARTITIONS} logical partitions`);
    partitions.push(...logicals);
  }
  return { kind: 'mbr', sectorSize: MBR_SECTOR_SIZE, diskId: `0x${mbr.diskId.toString(16).padStart(8, '0')}`, partitions };
}

/**
 * Follows the EBR chain of the extended partition `ext`. Each EBR's first data entry is a logical
 * partition (its start relative to the EBR) and its first extended entry links to the next EBR
 * (relative to the extended partition's start), as libfdisk reads them.
 */
async function readLogicals(dev: BlockDevice, ext: SectorRange, firstNumber: number, signal?: AbortSignal, onWarning?: (m: string) => void): Promise<Partition[]> {
  const logicals: Partition[] = [];
  const ranges: SectorRange[] = [];
  const visited = new Set<number>();
  let ebr: number | undefined = ext.first;
  while (ebr !== undefined) {
    if (visited.has(ebr)) throw fail(`the EBR chain of extended partition ${ext.number} loops back to sector ${ebr}`, ebr);
    if (visited.size >= MAX_EBRS) throw fail(`the EBR chain of extended partition ${ext.number} is longer than ${MAX_EBRS} records`, ebr);
    visited.add(ebr);
    const sector = await readExact(dev, ebr * MBR_SECTOR_SIZE, MBR_SECTOR_SIZE, signal);
    const record = decodeMbr(sector);
    if (!record.signature) {
      // An extended partition without logicals often has a zeroed first EBR: silently the end.
      if (!isZero(sector)) onWarning?.(`the EBR at sector ${ebr} has no 0x55AA signature; ignoring the rest of extended partition ${ext.number}`);
      break;
    }
    const data = record.entries.find((e) => !isEmptyEntry(e) && !MBR_EXTENDED_TYPES.has(e.type));
    const link = record.entries.find((e) => !isEmptyEntry(e) && MBR_EXTENDED_TYPES.has(e.type));
    if (data) {
      const number = firstNumber + logicals.length;
      if (logicals.length >= MAX_LOGICAL_PARTITIONS) throw fail(`more than ${MAX_LOGICAL_PARTITIONS} logical partitions`, ebr);
      if (data.start === 0) throw fail(`logical partition ${number} starts on its own EBR (sector ${ebr})`, ebr);
      const first = ebr + data.start;
      const last = first + data.count - 1;
      if (last > ext.last) {
        throw fail(`logical partition ${number} (sectors ${first}..${last}) lies outside extended partition ${ext.number} (sectors ${ext.first}..${ext.last})`, ebr);
      }
      ranges.push({ number, first, last });
      logicals.push({ ...describe(data, number, first), logical: true });
    }
    const here = ebr;
    ebr = link ? ext.first + link.start : undefined;
    if (ebr !== undefined && ebr > ext.last) {
      throw fail(`the EBR at sector ${here} links to sector ${ebr}, outside extended partition ${ext.number} (sectors ${ext.first}..${ext.last})`, here);
    }
  }
  checkNoOverlap(ranges, 'sectors', 'mbr');
  return logicals;
}

/** The fields every MBR partition has. */
function describe(e: MbrEntry, number: number, first: number): Partition {
  const p: Partition = { number, offset: first * MBR_SECTOR_SIZE, size: e.count * MBR_SECTOR_SIZE, type: mbrTypeText(e.type) };
  const typeName = mbrTypeName(e.type);
  if (typeName) p.typeName = typeName;
  return p;
}
