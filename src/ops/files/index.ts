/**
 * Files inside disk archives: the partitions of an archive's disk, listings, file content,
 * restoring files to the host, and file-by-file differences between two snapshots.
 */
export { openVolume, volumeOf, readDiskLayout, choosePartition, type Volume } from './open-volume.js';
export { listFiles, type ListFilesOptions, type FileListing } from './list-files.js';
export { readFile, FILE_PIECE_BYTES, type FileContent, type ReadFileOptions } from './read-file.js';
export { getFiles, type GetFilesOptions, type GetFilesResult } from './get-files.js';
export type { RestoreCounts } from './restore-node.js';
export { diffFiles, type DiffFilesOptions, type FilesDiffReport, type FileChange, type FileSummary, type ChangeKind } from './diff-files.js';
export type { DiskLayout, FileEntry, FileType, GetProgress, PartitionSummary, Timestamp, VolumeOptions } from './types.js';
