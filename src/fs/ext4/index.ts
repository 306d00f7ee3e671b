/**
 * The ext2/ext3/ext4 reader's public surface: {@link Ext4Filesystem} and the types it hands out.
 */
export { Ext4Filesystem, DEFAULT_METADATA_CACHE_BYTES, MAX_DIR_ENTRIES } from './ext4-filesystem.js';
export { MAX_SYMLINK_HOPS } from './path-lookup.js';
export { MAX_PIECE_BYTES, MAX_READ_BYTES } from './file-data.js';
export type {
  DirEntry, Ext4Features, Ext4Info, Ext4OpenOptions, FileExtent, FileType, FsNode, LookupOptions, ReadOptions, Timestamp,
} from './types.js';
