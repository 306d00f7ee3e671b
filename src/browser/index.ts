/**
 * hexz in a web page (`hexz/browser`): open a .hxz archive on any static web server or bucket
 * by URL and read it at any offset, with every guarantee of the Node reader (hash-checked
 * blocks, encrypted archives unlocked with a password, thin chains followed by URL). No
 * `Buffer`, no `node:*`: the same reader core as Node, with WebAssembly decoders (loaded when an
 * archive needs them) and WebCrypto.
 *
 * The server must answer `Range: bytes=a-b` requests, and from another origin allow them with
 * CORS and expose `Content-Range` (and `ETag`) — see the README's "In the browser".
 *
 * @example
 * import { Archive, inspectArchive } from 'hexz/browser';
 * const a = await Archive.open('https://example.org/disk.hxz', { password });
 * console.log((await inspectArchive(a)).streams);
 * const mbr = await a.readAt('disk', 0, 512);
 */
export { Archive } from './archive.js';
export type { OpenOptions, PasswordOption } from '../archive/open-options.js';
export type { StreamView, StreamExtent } from '../archive/stream-view.js';
export { browserPlatform } from './platform.js';
export { readableStream, type RangeStreamOptions } from './read-stream.js';
export { inspectArchive } from './inspect.js';
export type { InspectReport, InspectStream, InspectSignature } from '../ops/inspect-report.js';
export type { InspectThin, InspectParent } from '../ops/inspect-parents.js';
export { streamMap, type StreamMap } from '../ops/stream-map.js';
export { listFiles, type ListFilesOptions, type FileListing } from '../ops/files/list-files.js';
export { readFile, type FileContent, type ReadFileOptions } from '../ops/files/read-file.js';
export { readDiskLayout } from '../ops/files/open-volume.js';
export type { DiskLayout, FileEntry, FileType, PartitionSummary, VolumeOptions } from '../ops/files/types.js';
export {
  HexzError, UsageError, NotAnArchiveError, CorruptArchiveError, CorruptImageError, UnsupportedError, StoreError, WrongKeyError,
  MissingParentError, AbortedError,
} from '../errors.js';
export { STREAM_NAMES, type StreamName } from '../format/constants.js';
export { toHex } from '../format/digest.js';
