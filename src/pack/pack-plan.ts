import { defaultLevel, parseCodecName, validateLevel } from '../codec/registry.js';
import { Codec, DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE, type CodecId } from '../format/constants.js';
import { UsageError } from '../errors.js';
import { parseSize } from '../util/size.js';
import { DEFAULT_CHUNK_PARAMS, validateChunkParams, type ChunkParams } from '../chunk/chunk-params.js';
import { getProfile } from './profiles.js';
import type { ParentSettings } from './parent-chain.js';
import type { PackOptions } from './pack-options.js';

/** What a pack will do, resolved from its options and profile before any input is opened. */
export interface PackPlan {
  /** The profile the options started from, if any. */
  profile: ReturnType<typeof getProfile> | undefined;
  compression: 'zstd' | 'lz4' | 'none';
  codec: CodecId;
  level: number;
  /** Chunk bounds with content-defined chunking; null for fixed blocks. */
  cdc: ChunkParams | null;
  /** Header block size in bytes (with CDC: the smallest legal power of two holding the largest chunk). */
  blockSize: number;
  workers: number;
  /** Train a zstd dictionary (asked for, or the profile's). */
  wantDict: boolean;
  dedup: boolean;
}

/**
 * Resolves codec, level, chunking, block size, workers and dictionary from `options` and its
 * profile, checking them all (pure: no I/O). `cores` is the default worker count.
 * @throws UsageError for a bad or contradictory option.
 */
export function resolvePackPlan(options: PackOptions, cores: number): PackPlan {
  const profile = options.profile === undefined ? undefined : getProfile(options.profile);
  const compression = options.compression ?? profile?.compression ?? 'zstd';
  const codec = parseCodecName(compression);
  // A profile's level belongs to its codec; an explicit other codec gets its own default.
  const profileLevel = profile && profile.compression === compression ? profile.level : undefined;
  const level = validateLevel(codec, options.level ?? profileLevel ?? defaultLevel(codec));
  const cdc = resolveCdc(options.cdc, profile?.cdc);
  // With CDC the header's block size is the smallest legal power of two that holds the largest
  // chunk (§3.2); it is also the granularity at which holes are skipped.
  const blockSize = cdc ? Math.min(MAX_BLOCK_SIZE, Math.max(MIN_BLOCK_SIZE, 2 ** Math.ceil(Math.log2(cdc.max)))) : parseSize(options.blockSize ?? profile?.blockSize ?? DEFAULT_BLOCK_SIZE);
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new UsageError(`block size must be a power of two from 4K to 4M, got ${blockSize}`);
  }
  if (cdc && options.blockSize !== undefined) throw new UsageError('--block-size and --cdc exclude each other: CDC chunk sizes come from --min-chunk/--avg-chunk/--max-chunk');
  const workers = options.workers ?? cores;
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError(`workers must be from 1 to 256, got ${workers}`);
  if (!options.disk && !options.memory) throw new UsageError('nothing to pack: give a disk and/or a memory input');
  if (options.diskFormat !== undefined && options.diskFormat !== 'raw' && options.diskFormat !== 'qcow2') {
    throw new UsageError(`disk format must be raw or qcow2, got '${String(options.diskFormat)}'`);
  }
  if (options.diskFormat === 'qcow2' && options.disk !== undefined && typeof options.disk !== 'string') {
    throw new UsageError('a qcow2 disk must be given as a path, not a stream');
  }
  if (options.trainDict && codec !== Codec.ZSTD) throw new UsageError(`--train-dict needs zstd compression, not ${compression}`);
  // A profile's dictionary applies only when it is the profile's codec that is used.
  const profileDict = !!profile?.dictionary && options.trainDict === undefined && codec === Codec.ZSTD;
  const dedup = options.dedup ?? true;
  return { profile, compression, codec, level, cdc, blockSize, workers, wantDict: options.trainDict === true || profileDict, dedup };
}

/** Resolves the `cdc` option against the profile's chunking; null means fixed blocks. */
function resolveCdc(option: PackOptions['cdc'], fromProfile: ChunkParams | false | undefined): ChunkParams | null {
  if (option === false) return null;
  if (option === undefined) return fromProfile ? validateChunkParams(fromProfile) : null;
  const base = fromProfile || DEFAULT_CHUNK_PARAMS;
  if (option === true) return validateChunkParams({ ...base });
  const size = (v: number | string | undefined, d: number) => (v === undefined ? d : parseSize(v));
  return validateChunkParams({ min: size(option.min, base.min), avg: size(option.avg, base.avg), max: size(option.max, base.max) });
}

/** `options` with the parent's codec, level and chunking filled in where neither they nor a profile say. */
export function withParentSettings(options: PackOptions, p: ParentSettings): PackOptions {
  if (options.profile !== undefined) return options;
  const compression = options.compression ?? p.compression;
  const chunking = options.cdc === undefined && options.blockSize === undefined ? (p.cdc ? { cdc: p.cdc } : { blockSize: p.blockSize }) : {};
  return { ...options, compression, level: options.level ?? (compression === p.compression ? p.level : undefined), ...chunking };
}
