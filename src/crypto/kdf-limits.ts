import type { KdfParams } from '../format/encryption-params.js';
import { UnsupportedError, UsageError } from '../errors.js';
import { formatBytes, parseSize } from '../util/size.js';

/**
 * What a reader agrees to spend on an archive's password derivation. The Argon2id costs come
 * from the header, which anyone can write: without a bound of the reader's own, a crafted
 * archive asks for 4 GiB of memory or 256 passes over 1 GiB and a plain `open` hangs or runs
 * the machine out of memory before the password is even checked.
 */
export interface KdfLimits {
  /** Most Argon2id memory, in KiB. */
  memoryKiB: number;
  /** Most total work, in KiB × iterations (memory swept per pass, times passes). */
  workKiB: number;
}

/** Default limits: 1 GiB of memory and 4 GiB of total work (about 5 s on 2 cores); the default costs (64 MiB × 3) use 1/16 and 1/21 of them. */
export const DEFAULT_KDF_LIMITS: Readonly<KdfLimits> = { memoryKiB: 1 << 20, workKiB: 4 << 20 };

/** Environment variables that raise (or lower) the limits: sizes such as `2G`. */
export const KDF_LIMIT_ENV = { memory: 'HEXZ_KDF_MAX_MEMORY', work: 'HEXZ_KDF_MAX_WORK' } as const;

/**
 * The limits in force: {@link DEFAULT_KDF_LIMITS}, each replaced by its environment variable
 * when set ({@link KDF_LIMIT_ENV}).
 * @throws UsageError when a variable is not a size.
 */
export function kdfLimitsFromEnv(env: Record<string, string | undefined> = typeof process === 'undefined' ? {} : process.env): KdfLimits {
  const read = (name: string, fallback: number) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const bytes = parseSize(text);
    if (bytes < 1024) throw new UsageError(`${name}=${text} is below 1 KiB`);
    return Math.floor(bytes / 1024);
  };
  return { memoryKiB: read(KDF_LIMIT_ENV.memory, DEFAULT_KDF_LIMITS.memoryKiB), workKiB: read(KDF_LIMIT_ENV.work, DEFAULT_KDF_LIMITS.workKiB) };
}

/**
 * Refuses Argon2id costs above `limits` before any memory is allocated for them.
 * @throws UnsupportedError naming the cost, the limit and how to raise it.
 */
export function checkKdfCost(p: KdfParams, limits: KdfLimits): void {
  const kib = (n: number) => formatBytes(n * 1024);
  if (p.memoryKiB > limits.memoryKiB) {
    throw new UnsupportedError(`the password derivation asks for ${kib(p.memoryKiB)} of memory, above this reader's limit of ${kib(limits.memoryKiB)} (raise it with ${KDF_LIMIT_ENV.memory} or the kdfLimits option if you trust this archive)`, { stage: 'key' });
  }
  const work = p.memoryKiB * p.iterations;
  if (work > limits.workKiB) {
    throw new UnsupportedError(`the password derivation asks for ${p.iterations} passes over ${kib(p.memoryKiB)} (${kib(work)} of work), above this reader's limit of ${kib(limits.workKiB)} (raise it with ${KDF_LIMIT_ENV.work} or the kdfLimits option if you trust this archive)`, { stage: 'key' });
  }
}
