/** Bytes this process read through read(2)-family calls, all threads together (/proc/self/io). */
import { readFileSync } from 'node:fs';

/**
 * `rchar` of /proc/self/io (every read and pread of every thread, page cache hits included), or
 * null off Linux. The difference across an in-process operation is what it read from files,
 * parents of a thin archive included (which a wrapped source would not see).
 */
export function readChars(): number | null {
  try {
    const m = /^rchar:\s+(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
