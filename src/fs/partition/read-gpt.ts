/**
 * Reads a GPT through a BlockDevice: the primary header at LBA 1 and its entry array, falling
 * back to the backup at the last LBA when the primary is damaged (as Linux and sgdisk do), and
 * checking the backup when the primary is good so a damaged one is reported.
 */
import { CorruptImageError } from '../../errors.js';
import type { BlockDevice, FsWarning } from '../types.js';
import { hasAscii, readExact } from './bytes.js';
import { decodeGptEntries, decodeGptHeader, GPT_SIGNATURE, gptPartitions, type GptEntry, type GptHeader } from './gpt.js';
import type { PartitionTable, ReadPartitionsOptions } from './types.js';

/** Logical sector sizes a GPT is looked for with: 512 (nearly every image) and 4096 (4Kn disks). */
export const GPT_SECTOR_SIZES = [512, 4096] as const;

/** Options of {@link readGpt}. */
export interface ReadGptOptions extends ReadPartitionsOptions {
  /**
   * The logical sector size in bytes. Unset: 512 when LBA 1 at byte 512 has the signature, else
   * 4096 when byte 4096 has it, else both are tried for the backup header.
   */
  sectorSize?: 512 | 4096;
}

interface Gpt {
  header: GptHeader;
  entries: GptEntry[];
}

/**
 * Reads the GPT of `dev`. Reads are small: two sectors and two entry arrays (≤ 1 MiB each,
 * usually 16 KiB). With a good primary the backup is read only when `onWarning` is given (to
 * report it misplaced, damaged or different); without a listener one header and array suffice.
 * @throws CorruptImageError when neither header (with its entry array) is usable, naming both
 *   defects; or when the table read is inconsistent (a partition past the end of the disk,
 *   outside the usable range, overlapping another). StoreError/AbortedError from the device.
 * @example
 * const table = await readGpt(dev, { onWarning: (m) => console.warn(m) });
 */
export async function readGpt(dev: BlockDevice, options: ReadGptOptions = {}): Promise<PartitionTable> {
  const { signal, onWarning } = options;
  const sizes = options.sectorSize ? [options.sectorSize] : await probeSectorSizes(dev, signal);
  const failures: string[] = [];
  for (const sectorSize of sizes) {
    const sectors = Math.floor(dev.size / sectorSize);
    const primary = await tryLoadGpt(dev, 1, sectorSize, signal);
    if (!(primary instanceof CorruptImageError)) {
      await checkBackup(dev, primary.header, sectorSize, signal, onWarning);
      return toTable(primary, sectorSize, dev.size, onWarning);
    }
    const backup = await tryLoadGpt(dev, sectors - 1, sectorSize, signal);
    if (!(backup instanceof CorruptImageError)) {
      onWarning?.(`the primary GPT is damaged (${primary.message}); using the backup GPT at LBA ${sectors - 1}`);
      return toTable(backup, sectorSize, dev.size, onWarning);
    }
    const unit = sizes.length > 1 ? ` (${sectorSize}-byte sectors)` : '';
    failures.push(`primary: ${primary.message}; backup: ${backup.message}${unit}`);
  }
  throw new CorruptImageError(`both GPT headers are damaged: ${failures.join(' | ')}`, { stage: 'gpt' });
}

/** Which sector sizes to try, from where the signature of LBA 1 is. */
async function probeSectorSizes(dev: BlockDevice, signal?: AbortSignal): Promise<number[]> {
  const head = await readExact(dev, 0, Math.min(dev.size, 4096 + 8), signal);
  if (hasAscii(head, 512, GPT_SIGNATURE)) return [512];
  if (hasAscii(head, 4096, GPT_SIGNATURE)) return [4096];
  return [...GPT_SECTOR_SIZES];
}

/**
 * Reads and decodes the header at `lba` and its entry array; a defect of either is returned
 * (not thrown) as a CorruptImageError, so the caller can try the other copy. Device errors throw.
 */
async function tryLoadGpt(dev: BlockDevice, lba: number, sectorSize: number, signal?: AbortSignal): Promise<Gpt | CorruptImageError> {
  try {
    return await loadGpt(dev, lba, sectorSize, signal);
  } catch (err) {
    if (err instanceof CorruptImageError) return err;
    throw err;
  }
}

async function loadGpt(dev: BlockDevice, lba: number, sectorSize: number, signal?: AbortSignal): Promise<Gpt> {
  if (lba < 1 || (lba + 1) * sectorSize > dev.size) {
    throw new CorruptImageError(`GPT header at LBA ${lba}: past the end of the disk (${dev.size} bytes)`, { stage: 'gpt' });
  }
  const sector = await readExact(dev, lba * sectorSize, sectorSize, signal);
  const header = decodeGptHeader(sector, { lba, sectorSize, deviceSize: dev.size });
  const bytes = header.entryCount === 0
    ? new Uint8Array(0)
    : await readExact(dev, header.entriesLba * sectorSize, header.entryCount * header.entrySize, signal);
  return { header, entries: decodeGptEntries(bytes, header) };
}

/** Warns when the backup copy named by a good primary is misplaced, missing, damaged or different. */
async function checkBackup(dev: BlockDevice, primary: GptHeader, sectorSize: number, signal: AbortSignal | undefined, onWarning?: FsWarning): Promise<void> {
  if (!onWarning) return; // the backup only matters for what it would tell the caller
  const last = Math.floor(dev.size / sectorSize) - 1;
  const alt = primary.alternateLba;
  if (alt <= 1 || alt > last) {
    onWarning(`the primary GPT names LBA ${alt} for its backup, outside the disk's LBAs 2..${last}; no backup GPT checked`);
    return;
  }
  if (alt !== last) onWarning(`the backup GPT header is at LBA ${alt}, not at the last LBA ${last} (was the disk resized?)`);
  const backup = await tryLoadGpt(dev, alt, sectorSize, signal);
  if (backup instanceof CorruptImageError) onWarning(`the backup GPT is damaged (${backup.message}); using the primary`);
  else if (backup.header.entriesCrc !== primary.entriesCrc || backup.header.diskGuid !== primary.diskGuid) {
    onWarning(`the backup GPT at LBA ${alt} differs from the primary; using the primary`);
  }
}

/** Partitions of a decoded GPT (throws CorruptImageError for an impossible layout). */
function toTable(gpt: Gpt, sectorSize: number, deviceSize: number, onWarning?: FsWarning): PartitionTable {
  const partitions = gptPartitions(gpt.entries, gpt.header, { sectorSize, deviceSize }, onWarning);
  return { kind: 'gpt', sectorSize, diskGuid: gpt.header.diskGuid, partitions };
}
