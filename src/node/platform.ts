import type { ReaderPlatform } from '../archive/reader-platform.js';
import { CodecSet } from '../codec/registry.js';
import { keyedBlake3 } from '../crypto/content-hash.js';
import { blake3 } from '../hash/blake3.js';
import { parentOf } from '../store/locations.js';
import { openSource } from '../store/open-source.js';
import { lazyWorkerDecoder } from './lazy-pool.js';

/**
 * The reader core's platform under Node: native BLAKE3 (@napi-rs/blake-hash) and zstd
 * (zstd-napi), lz4, node:crypto AES-GCM and HKDF, Argon2id (@node-rs/argon2), decode on worker
 * threads, files, HTTP and S3 sources, and parents searched in directories and URLs.
 */
export const nodePlatform: ReaderPlatform = {
  blake3,
  codecs: (dictionary) => new CodecSet(dictionary),
  // Imported by the first encrypted archive: reading plain ones never loads node:crypto.
  crypto: {
    unlock: async (header, password, limits) => (await import('../crypto/key-envelope.js')).unlockEnvelope(header.encryption!, password, header.archiveId, limits),
    opener: async (dataKey, header) => {
      const [{ ArchiveCipher }, { deriveArchiveKeys }] = await Promise.all([import('../crypto/archive-cipher.js'), import('../crypto/archive-keys.js')]);
      return new ArchiveCipher(deriveArchiveKeys(dataKey, header.archiveId, header.version), header.archiveId);
    },
    headerTagMatches: async (headerBytes, keys) => (await import('../crypto/header-tag.js')).headerTagMatches(headerBytes, keys),
    keyedHash: keyedBlake3,
  },
  decoder: ({ workers, dictionary, keys }) => lazyWorkerDecoder(workers, { dictionary, hashKey: keys?.hashKey, objectKey: keys?.objectKey }),
  openSource,
  parentOf,
  async findParent(record, search) {
    // Only thin archives have parents to look for.
    const { resolveParent } = await import('./parent-resolver.js');
    const { path, archive } = await resolveParent(record, {
      baseDir: search.baseDir, searchDirs: search.searchDirs, sourceOptions: search.sourceOptions, open: search.open,
    }, search.child);
    return { location: path, archive };
  },
};
