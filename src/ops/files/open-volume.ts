/**
 * From an archive to an open filesystem: reads the disk stream's partition table, probes each
 * partition for its filesystem, picks the one asked for (or the only ext2/3/4 one) and opens it.
 */
import { UnsupportedError, UsageError } from '../../errors.js';
import { detectFilesystem, type FilesystemKind } from '../../fs/detect-filesystem.js';
import { Ext4Filesystem } from '../../fs/ext4/index.js';
import { readPartitions } from '../../fs/partition/partition-table.js';
import { subDevice } from '../../fs/sub-device.js';
import type { StreamName } from '../../format/constants.js';
import type { BlockDevice } from '../../fs/types.js';
import type { Archive } from '../../archive/archive.js';
import { formatBytes } from '../../util/size.js';
import type { DiskLayout, PartitionSummary, VolumeOptions } from './types.js';

/** The filesystems the file operations can read. */
const SUPPORTED: ReadonlySet<FilesystemKind> = new Set(['ext2', 'ext3', 'ext4']);
/** MBR type bytes of extended containers (they hold logical partitions, not a filesystem). */
const EXTENDED_TYPES = new Set(['0x05', '0x0f', '0x85']);

/** An opened filesystem of an archive's disk, with where it lies. */
export interface Volume {
  /** The whole disk's layout (every partition, with what it holds). */
  layout: DiskLayout;
  /** The partition opened. */
  partition: PartitionSummary;
  fs: Ext4Filesystem;
  /** The disk stream as a block device. */
  disk: BlockDevice;
  /** The archive and the stream the disk is. */
  archive: Archive;
  stream: StreamName;
  /** Name of the archive, for messages. */
  archiveName: string;
}

/**
 * Reads the partition table of `archive`'s disk stream and probes every partition (a few KiB
 * read each). Warnings (a damaged primary GPT read from its backup) go to `onWarning`.
 * @throws UsageError when the archive has no such stream; CorruptImageError for a damaged
 *   table; WrongKeyError for a locked encrypted archive; as the archive's reads throw.
 */
export async function readDiskLayout(archive: Archive, options: VolumeOptions = {}): Promise<{ layout: DiskLayout; disk: BlockDevice }> {
  const disk = archive.stream(options.stream ?? 'disk');
  const table = await readPartitions(disk, { onWarning: options.onWarning, signal: options.signal });
  const partitions: PartitionSummary[] = [];
  for (const p of table.partitions) {
    const extended = table.kind === 'mbr' && EXTENDED_TYPES.has(p.type);
    // An extended container starts with an EBR, not a filesystem: nothing to probe.
    const found = extended ? { kind: 'unknown' as const } : await detectFilesystem(subDevice(disk, p.offset, p.size), { signal: options.signal });
    const row: PartitionSummary = { number: p.number, offset: p.offset, size: p.size, type: p.type, filesystem: found.kind };
    if (p.typeName !== undefined) row.typeName = p.typeName;
    if (p.name !== undefined) row.name = p.name;
    if (found.label !== undefined && found.label !== '') row.label = found.label;
    if (found.uuid !== undefined) row.uuid = found.uuid;
    if (extended) row.extended = true;
    partitions.push(row);
  }
  return { layout: { table: table.kind, partitions }, disk };
}

/**
 * Opens the filesystem of partition `options.partition` of `archive`'s disk, or, without one,
 * of the only partition holding ext2/3/4. Unclean filesystems open with a warning (the journal
 * is not replayed).
 * @throws UsageError when the partition number does not exist, or several partitions hold
 *   ext2/3/4 and none was chosen (the message lists them); UnsupportedError when the chosen
 *   partition (or every one) holds another filesystem; CorruptImageError for a damaged table or
 *   superblock; as {@link readDiskLayout} and `Ext4Filesystem.open` throw.
 * @example
 * const vol = await openVolume(archive, { partition: 1, onWarning: console.warn });
 * const node = await vol.fs.lookup('/etc/os-release', { followFinal: true });
 */
export async function openVolume(archive: Archive, options: VolumeOptions = {}): Promise<Volume> {
  const { layout, disk } = await readDiskLayout(archive, options);
  const partition = choosePartition(layout, options.partition, archive.name);
  const fs = await Ext4Filesystem.open(subDevice(disk, partition.offset, partition.size), { onWarning: options.onWarning, signal: options.signal });
  return { layout, partition, fs, disk, archive, stream: options.stream ?? 'disk', archiveName: archive.name };
}

/**
 * `source` itself when it is an opened {@link Volume} (many calls over one filesystem open it
 * once: the partition table, superblock and metadata cache are reused), else
 * {@link openVolume}`(source, options)`.
 * @throws as {@link openVolume}.
 */
export async function volumeOf(source: Archive | Volume, options: VolumeOptions = {}): Promise<Volume> {
  return 'fs' in source && 'layout' in source ? source : openVolume(source, options);
}

/**
 * The partition to open: the one numbered `wanted`, else the only one holding ext2/3/4.
 * @throws UsageError / UnsupportedError as {@link openVolume} says.
 */
export function choosePartition(layout: DiskLayout, wanted: number | undefined, archive: string): PartitionSummary {
  const where = { archive, stage: 'partition' };
  if (wanted !== undefined) {
    const p = layout.partitions.find((x) => x.number === wanted);
    if (!p) throw new UsageError(`the disk has no partition ${wanted}; it has ${partitionList(layout)}`, where);
    if (!SUPPORTED.has(p.filesystem)) throw new UnsupportedError(`partition ${p.number} holds ${fsName(p)}: unsupported filesystem (ext2/3/4 are supported)`, where);
    return p;
  }
  const candidates = layout.partitions.filter((p) => SUPPORTED.has(p.filesystem));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) {
    throw new UnsupportedError(`no partition holds a supported filesystem (ext2/3/4); the disk has ${partitionList(layout)}`, where);
  }
  throw new UsageError(`${candidates.length} partitions hold ext2/3/4 filesystems: choose one with --partition N (the disk has ${partitionList(layout)})`, where);
}

function fsName(p: PartitionSummary): string {
  return p.extended ? 'an MBR extended container' : p.filesystem === 'unknown' ? 'no filesystem hexz recognises' : p.filesystem;
}

/** `partition 1 (ext4 "root", 22.0 MiB), partition 2 (vfat, 8.0 MiB)`, or `no partitions`. */
function partitionList(layout: DiskLayout): string {
  if (layout.partitions.length === 0) return 'no partitions';
  return layout.partitions.map((p) => {
    const label = p.label ? ` "${p.label}"` : '';
    const what = p.extended ? 'extended' : p.filesystem;
    return `${layout.table === 'none' ? 'the whole disk as partition 0' : `partition ${p.number}`} (${what}${label}, ${formatBytes(p.size)})`;
  }).join(', ');
}
