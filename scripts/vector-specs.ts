/**
 * The golden test vectors: small archives whose bytes are pinned in test/vectors/. Shared by
 * scripts/make-vectors.ts (which writes them) and test/vectors.test.ts (which regenerates them
 * and compares), so a format change cannot slip through unnoticed.
 */
import { createHash } from 'node:crypto';
import type { PackOptions } from '../src/pack/pack.js';

/** Deterministic content: text, zeros, a duplicate and an incompressible block. */
export function vectorContent(seed: number, size: number, blockSize: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  const words = ['hexz', 'block', 'disk', 'memory', 'zero', 'index', 'page', 'snapshot', 'kernel', 'inode'];
  for (let at = 0; at < size; at += blockSize) {
    const end = Math.min(size, at + blockSize);
    const kind = (at / blockSize) % 4;
    if (kind === 0) {
      let text = '';
      while (text.length < end - at) text += `${words[rnd() % words.length]} `;
      out.set(new TextEncoder().encode(text.slice(0, end - at)), at);
    } else if (kind === 1) {
      // all zero: stored as a zero run
    } else if (kind === 2 && at >= 2 * blockSize) {
      out.copyWithin(at, 0, end - at); // duplicate of block 0 (prefix when short)
    } else {
      for (let i = at; i < end; i++) out[i] = rnd() & 0xff;
    }
  }
  return out;
}

const BS = 4096;

/** A copy of `data` with the given 4 KiB blocks overwritten by a pattern derived from their index. */
function edited(data: Uint8Array, blocks: number[]): Uint8Array {
  const out = data.slice();
  for (const b of blocks) for (let i = b * BS; i < Math.min(out.length, (b + 1) * BS); i++) out[i] = (i * 31 + b) & 0xff;
  return out;
}

/** One golden vector. */
export interface VectorSpec {
  name: string;
  /** Stream contents by name. */
  streams: { disk?: Uint8Array; memory?: Uint8Array };
  options: Pick<PackOptions, 'compression' | 'level' | 'blockSize' | 'dedup' | 'cdc' | 'profile' | 'trainDict'>;
  /** Version 4: encrypt with this password (cheap Argon2id costs, deterministic keys and salts). */
  password?: string;
  /** Version 4: sign with test/vectors/vector-signing.key, "signed at" = the creation time (§14). */
  signed?: boolean;
  /** Version 5: pack thin against this earlier vector (§15); its archive must come first. */
  parent?: string;
  /**
   * Version 8: not packed but committed (`hexz commit`, commitOverlay): an overlay on `parent`
   * takes these writes to its disk stream, then becomes the thin child (SLICE entries, §5).
   * `streams.disk` is the parent's disk with the writes applied.
   */
  commit?: { writes: VectorWrite[] };
}

/** One write of a committed vector: `bytes` at logical `offset` of the disk stream. */
export interface VectorWrite {
  offset: number;
  bytes: Uint8Array;
}

/** A write of `length` bytes at `offset`, byte i = (i * 37 + seed) mod 251 + 1: never zero, never a page of zeros. */
function patterned(offset: number, length: number, seed: number): VectorWrite {
  return { offset, bytes: Uint8Array.from({ length }, (_, i) => ((i * 37 + seed) % 251) + 1) };
}

/** `data` with `writes` applied, in order. */
function written(data: Uint8Array, writes: readonly VectorWrite[]): Uint8Array {
  const out = data.slice();
  for (const w of writes) out.set(w.bytes, w.offset);
  return out;
}

/** Argon2id costs of the encrypted vectors: the smallest legal ones, so tests stay fast. */
export const VECTOR_KDF = { memoryKiB: 64, iterations: 1, lanes: 1 };

/** Fixed metadata (§13), so vectors do not change with the package version. */
export const VECTOR_METADATA = { tool: 'hexz golden vector' };

/**
 * A deterministic stand-in for randomBytes (data key, salt, wrap nonce) for the encrypted vectors:
 * SHA-256 in counter mode over a fixed seed. Never use outside golden vectors.
 */
export function vectorRandom(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) {
      const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
      out.set(block.subarray(0, Math.min(32, n - at)), at);
    }
    return out;
  };
}

/** Every vector, in the order they are written. */
export function vectorSpecs(): VectorSpec[] {
  const mixed = vectorContent(7, 9 * BS + 123, BS);
  // Version 8: 16 KiB blocks (0 text, 1 zero, 2 = 0, 3 random, 4 text, 5 zero, 6 = 0, 7 random,
  // a 1000-byte text tail): a 4 KiB overlay page is a quarter of a block, so a commit slices.
  const BS16 = 16384;
  const mixed16 = vectorContent(23, 8 * BS16 + 1000, BS16);
  const writes = [
    patterned(1000, 300, 1), // block 0 (DATA), its page 0: SLICE [4096, 16384) of the block
    patterned(4 * BS16 + 9000, 200, 2), // block 4 (DATA), its page 2: two SLICEs, skip 0 and 12288
    patterned(5 * BS16 + 6000, 100, 3), // block 5 (ZERO), its page 1: zeros, a new block, zeros
    patterned(7 * BS16 - 100, 300, 4), // across blocks 6 (DEDUP) and 7 (DATA, raw): a page of each
    patterned(3 * BS16 + 100, 9000, 5), // block 3 (DATA, raw), three of its pages: re-cut whole
  ];
  return [
    { name: 'empty-disk', streams: { disk: new Uint8Array(0) }, options: { compression: 'zstd', blockSize: BS } },
    { name: 'one-byte-lz4', streams: { disk: Uint8Array.of(0x5a) }, options: { compression: 'lz4', blockSize: BS } },
    { name: 'mixed-zstd', streams: { disk: mixed }, options: { compression: 'zstd', level: 3, blockSize: BS } },
    { name: 'mixed-lz4', streams: { disk: mixed }, options: { compression: 'lz4', blockSize: BS } },
    { name: 'mixed-none-nodedup', streams: { disk: mixed }, options: { compression: 'none', blockSize: BS, dedup: false } },
    { name: 'two-streams-zstd', streams: { disk: mixed, memory: vectorContent(11, 5 * BS, BS) }, options: { compression: 'zstd', level: 1, blockSize: BS } },
    // Version 2: FastCDC (§3.2). The memory stream is the disk with 3 bytes inserted at the front,
    // so after the first chunk its chunks are DEDUP entries of the disk's.
    {
      name: 'cdc-shifted-zstd',
      streams: { disk: mixed, memory: Uint8Array.from([1, 2, 3, ...mixed]) },
      options: { compression: 'zstd', level: 3, cdc: { min: 256, avg: 1024, max: 4096 } },
    },
    // Version 3: the embedded profile trains a dictionary (§3.3) when libzstd is available; the
    // input is larger than `mixed` so that zstd has enough samples to train on.
    { name: 'profile-embedded', streams: { disk: vectorContent(19, 48 * BS + 77, BS) }, options: { profile: 'embedded' } },
    // Version 3: an explicit trained dictionary over 64 blocks of mixed content, two streams.
    {
      name: 'dict-zstd',
      streams: { disk: vectorContent(13, 64 * BS, BS), memory: vectorContent(17, 16 * BS + 5, BS) },
      options: { compression: 'zstd', level: 3, blockSize: BS, trainDict: true },
    },
    // Version 4: encryption (§12). Two streams with duplicates across them (keyed-hash dedup); signed (§14).
    {
      name: 'encrypted-zstd', password: 'correct horse battery staple', signed: true,
      streams: { disk: mixed, memory: vectorContent(11, 5 * BS, BS) }, options: { compression: 'zstd', level: 3, blockSize: BS },
    },
    // Version 4: a signed plain archive (§14).
    { name: 'signed-lz4', signed: true, streams: { disk: mixed }, options: { compression: 'lz4', blockSize: BS } },
    // Version 4: encryption with CDC and lz4; a non-ASCII password (NFC-normalized UTF-8).
    {
      name: 'encrypted-cdc-lz4', password: 'pässwörd',
      streams: { disk: mixed }, options: { compression: 'lz4', cdc: { min: 256, avg: 1024, max: 4096 } },
    },
    // Version 5: thin snapshots (§15). A child of mixed-zstd with two blocks changed, and a
    // grandchild with its memory stream, which refers to both (two slots).
    { name: 'thin-child', parent: 'mixed-zstd', streams: { disk: edited(mixed, [1, 5]) }, options: {} },
    { name: 'thin-grandchild', parent: 'thin-child', streams: { disk: edited(mixed, [1, 5, 8]), memory: mixed.slice(0, 3 * BS) }, options: {} },
    // Version 5: an encrypted thin child of encrypted-zstd (same password: one data key per chain).
    {
      name: 'thin-encrypted', parent: 'encrypted-zstd', password: 'correct horse battery staple',
      streams: { disk: edited(mixed, [0]), memory: vectorContent(11, 5 * BS, BS) }, options: {},
    },
    // Version 4: encryption with a trained dictionary (the dictionary is sealed too).
    {
      name: 'encrypted-dict-zstd', password: 'dictionary',
      streams: { disk: vectorContent(13, 64 * BS, BS) }, options: { compression: 'zstd', level: 3, blockSize: BS, trainDict: true },
    },
    // Version 8: `hexz commit` of an overlay on a 16 KiB-block parent: blocks written less than
    // half keep their clean parts as SLICE entries of the parent's stored blocks (§5).
    { name: 'mixed-16k-zstd', streams: { disk: mixed16 }, options: { compression: 'zstd', level: 3, blockSize: BS16 } },
    { name: 'commit-slices', parent: 'mixed-16k-zstd', commit: { writes }, streams: { disk: written(mixed16, writes) }, options: {} },
  ];
}

/** Fixed archive id and creation time, so vectors are byte-for-byte reproducible. */
export const VECTOR_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
export const VECTOR_CREATED_MS = Date.UTC(2026, 0, 1);
