/**
 * hexz — library entry. Pack disk images and memory dumps into .hxz archives and read any
 * byte range back without unpacking the rest.
 */
export { Archive, type ArchiveInfo, type OpenOptions } from './node/archive.js';
export { ArchiveHandle, type Whence } from './archive/archive-handle.js';
export { StreamView, type StreamExtent, type ExtentOptions } from './archive/stream-view.js';
export { ArchiveWriter, type ArchiveWriterOptions, type StoredRef } from './pack/archive-writer.js';
export { pack, type PackInput, type PackOptions, type PackProgress, type PackResult, type PackStreamSummary } from './pack/pack.js';
export { openImage, detectImageFormat } from './image/open-image.js';
export type { DiskImage, ImageExtent, ImageFormat, OpenImageOptions } from './image/types.js';
export { FileSource } from './store/file-source.js';
export { MemorySource } from './store/memory-source.js';
export { CountingSource } from './store/counting-source.js';
export type { ByteSource, ReadOptions } from './store/types.js';
export * from './errors.js';
export { STREAM_NAMES, type StreamName, FORMAT_VERSION, HEADER_SIZE } from './format/constants.js';
export type { Header, StreamRecord, StreamStats, Extent } from './format/header.js';
export type { IndexEntry } from './format/entry.js';
export { parseSize, formatBytes } from './util/size.js';
export { exportQcow2, type ExportQcow2Options, type ExportQcow2Result } from './ops/export-qcow2.js';
export { Qcow2Writer, type Qcow2WriterOptions } from './image/qcow2-writer.js';
export { analyze, expectedChunkLength, type AnalyzeOptions, type AnalyzeReport, type AnalyzeCandidate } from './ops/analyze.js';
export { signArchive, type SignOptions, type SignResult } from './ops/sign.js';
export { checkSignature, type SignatureCheck } from './ops/check-signature.js';
export { verify, type VerifyOptions, type VerifyReport, type VerifySignatureReport } from './ops/verify.js';
export { generateKeyFiles, type KeyFiles } from './ops/generate-key-files.js';
export { generateSigningKeyPair, loadPrivateKey, loadPublicKey, fingerprint, type GeneratedKeyPair } from './crypto/signing.js';
export { rewriteFile } from './store/rewrite-file.js';
export { changePassword, type ChangePasswordOptions, type ChangePasswordResult } from './ops/passwd.js';
export { DEFAULT_KDF } from './crypto/key-envelope.js';
export type { KdfParams, EncryptionParams } from './format/encryption-params.js';
export { diffArchives, type DiffOptions, type DiffReport, type DiffSide, type StreamDiff } from './ops/diff.js';
export { lineage, type LineageOptions, type LineageReport, type LineageNode, type LineageParent, type LineageSkipped, type ParentStatus } from './ops/lineage.js';
export type { ByteRange } from './util/byte-ranges.js';
export { flatten, type FlattenOptions } from './ops/flatten.js';
export { rebase, type RebaseOptions } from './ops/rebase.js';
export type { RepackOptions, RepackResult } from './ops/repack-archive.js';
export { inspect, inspectArchive, type InspectOptions, type InspectReport, type InspectStream, type InspectSignature } from './ops/inspect.js';
export type { InspectParent, InspectThin } from './ops/inspect-parents.js';
export { extract, type ExtractOptions, type ExtractResult } from './ops/extract.js';
export { MAX_PARENTS, type ParentRecord } from './format/parents.js';
export type { ServeExport, ExportWriter } from './serve/serve-export.js';
export { archiveExports, type NamedArchive } from './serve/archive-exports.js';
export { startNbdServer, type NbdServer, type NbdServerOptions } from './serve/nbd/nbd-server.js';
export { startHttpServer, type HttpExportServer, type HttpServerOptions } from './serve/http/http-export-server.js';
export {
  listFiles, readFile, getFiles, diffFiles, openVolume, volumeOf, readDiskLayout, FILE_PIECE_BYTES,
  type Volume, type ListFilesOptions, type FileListing, type ReadFileOptions, type FileContent, type GetFilesOptions,
  type GetFilesResult, type RestoreCounts, type DiffFilesOptions, type FilesDiffReport, type FileChange, type FileSummary,
  type ChangeKind, type DiskLayout, type FileEntry, type GetProgress, type PartitionSummary, type VolumeOptions,
} from './ops/files/index.js';
