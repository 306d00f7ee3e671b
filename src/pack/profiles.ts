import type { ProfileName } from '../format/constants.js';
import { UsageError } from '../errors.js';
import type { ChunkParams } from '../chunk/chunk-params.js';

/** The settings a profile presets; every one can be overridden by an explicit option. */
export interface ProfileSettings {
  compression: 'zstd' | 'lz4' | 'none';
  level: number;
  /** Fixed block size in bytes (ignored when `cdc` is set). */
  blockSize: number;
  /** Content-defined chunk bounds in bytes, or false for fixed blocks. */
  cdc: ChunkParams | false;
  /** Train a zstd dictionary when the system libzstd is available (zstd only; see PackOptions.trainDict). */
  dictionary?: boolean;
}

const K = 1024;
const M = 1024 * K;

/**
 * The `--profile` presets (README "Profiles" documents the same table). Chosen for the data each
 * name suggests: ML checkpoints are large and mostly incompressible, so big lz4 blocks keep reads
 * fast; EDA design trees are re-saved with small edits, so CDC keeps dedup across shifts;
 * embedded firmware images are small and repetitive, so small blocks with a strong level and a
 * trained dictionary (which recovers what 4 KiB blocks lose by not seeing each other);
 * archival trades pack time for size with large CDC chunks and a high zstd level.
 */
export const PROFILES: Record<Exclude<ProfileName, 'custom'>, ProfileSettings> = {
  generic: { compression: 'zstd', level: 3, blockSize: 64 * K, cdc: false },
  ml: { compression: 'lz4', level: 0, blockSize: 1 * M, cdc: false },
  eda: { compression: 'zstd', level: 6, blockSize: 64 * K, cdc: { min: 16 * K, avg: 64 * K, max: 256 * K } },
  embedded: { compression: 'zstd', level: 12, blockSize: 4 * K, cdc: false, dictionary: true },
  archival: { compression: 'zstd', level: 19, blockSize: 256 * K, cdc: { min: 64 * K, avg: 256 * K, max: 1 * M } },
};

/**
 * Looks up a profile by name.
 * @throws UsageError naming the valid profiles when `name` is not one.
 */
export function getProfile(name: string): ProfileSettings & { name: Exclude<ProfileName, 'custom'> } {
  if (!Object.hasOwn(PROFILES, name)) throw new UsageError(`unknown profile '${name}' (use one of: ${Object.keys(PROFILES).join(', ')})`);
  const key = name as Exclude<ProfileName, 'custom'>;
  return { name: key, ...PROFILES[key] };
}
