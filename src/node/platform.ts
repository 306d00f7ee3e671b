import type { ReaderPlatform } from '../archive/reader-platform.js';
import { CodecSet } from '../codec/registry.js';
import { ArchiveCipher } from '../crypto/archive-cipher.js';
import { deriveArchiveKeys } from '../crypto/archive-keys.js';
import { keyedBlake3 } from '../crypto/content-hash.js';
import { headerTagMatches } from '../crypto/header-tag.js';
import { unlockEnvelope } from '../crypto/key-envelope.js';
import { blake3 } from '../hash/blake3.js';
import { parentOf } from '../store/locations.js';
import { openSource } from '../store/open-source.js';
import { WorkerPool } from '../workers/worker-pool.js';
import { resolveParent } from './parent-resolver.js';

/**
 * The reader core's platform under Node: native BLAKE3 (@napi-rs/blake-hash) and zstd
 * (zstd-napi), lz4, node:crypto AES-GCM and HKDF, Argon2id (@node-rs/argon2), decode on worker
 * threads, files, HTTP and S3 sources, and parents searched in directories and URLs.
 */
export const nodePlatform: ReaderPlatform = {
  blake3,
  codecs: (dictionary) => new CodecSet(dictionary),
  crypto: {
    unlock: (header, password, limits) => unlockEnvelope(header.encryption!, password, header.archiveId, limits),
    opener: (dataKey, header) => new ArchiveCipher(deriveArchiveKeys(dataKey, header.archiveId, header.version), header.archiveId),
    headerTagMatches,
    keyedHash: keyedBlake3,
  },
  decoder: ({ workers, dictionary, keys }) => new WorkerPool(workers, { dictionary, hashKey: keys?.hashKey, objectKey: keys?.objectKey }),
  openSource,
  parentOf,
  async findParent(record, search) {
    const { path, archive } = await resolveParent(record, {
      baseDir: search.baseDir, searchDirs: search.searchDirs, sourceOptions: search.sourceOptions, open: search.open,
    }, search.child);
    return { location: path, archive };
  },
};
