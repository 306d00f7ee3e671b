import { UsageError } from '../errors.js';
import { parseSize } from '../util/size.js';

/** The Argon2id overrides given on the command line. */
export function kdfFlags(flags: { kdfMemory?: string; kdfIterations?: string; kdfLanes?: string }): { memoryKiB?: number; iterations?: number; lanes?: number } {
  const int = (v: string, name: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
    return n;
  };
  const out: { memoryKiB?: number; iterations?: number; lanes?: number } = {};
  if (flags.kdfMemory !== undefined) {
    const bytes = parseSize(flags.kdfMemory);
    if (bytes % 1024 !== 0) throw new UsageError(`--kdf-memory must be a whole number of KiB, got '${flags.kdfMemory}'`);
    out.memoryKiB = bytes / 1024;
  }
  if (flags.kdfIterations !== undefined) out.iterations = int(flags.kdfIterations, 'kdf-iterations');
  if (flags.kdfLanes !== undefined) out.lanes = int(flags.kdfLanes, 'kdf-lanes');
  return out;
}
