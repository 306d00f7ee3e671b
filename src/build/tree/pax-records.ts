/**
 * pax extended headers (POSIX.1-2001 `x` and `g` entries): records of the form
 * `<length> <keyword>=<value>\n`, where the length counts the whole record. Values stay bytes:
 * GNU tar stores a non-UTF-8 file name in `path` as it is, without `hdrcharset`.
 */
import { TarSyntaxError } from './tar-header.js';
import { parsePaxTime } from './timestamp.js';
import type { Timestamp } from './types.js';

/** One record: the keyword and the value's bytes. */
export type PaxRecord = readonly [keyword: string, value: Uint8Array];

/**
 * Splits the data of a pax header into its records, in order (GNU sparse 0.0 repeats keywords,
 * so order matters).
 * @throws TarSyntaxError for a record whose length or `=` is missing or wrong.
 */
export function parsePaxRecords(data: Uint8Array): PaxRecord[] {
  const out: PaxRecord[] = [];
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // NUL padding after the last record
    const space = data.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(Buffer.from(data.subarray(at, space)).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= space - at + 1 || at + len > data.length || data[at + len - 1] !== 0x0a) {
      throw new TarSyntaxError(`malformed pax record at byte ${at} of an extended header`);
    }
    const record = data.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarSyntaxError(`pax record without a keyword at byte ${at} of an extended header`);
    out.push([Buffer.from(record.subarray(0, eq)).toString('utf8'), Uint8Array.prototype.slice.call(record, eq + 1)]);
    at += len;
  }
  return out;
}

/** The attributes of one entry: the global ones overridden by the entry's own, last one wins. */
export class PaxAttributes {
  private readonly map = new Map<string, Uint8Array>();

  /** @param records global records first, then the entry's. */
  constructor(readonly records: readonly PaxRecord[]) {
    for (const [k, v] of records) {
      // An empty value deletes the keyword (POSIX: "the keyword shall be deleted").
      if (v.length === 0) this.map.delete(k);
      else this.map.set(k, v);
    }
  }

  /** The value's bytes, or undefined. */
  bytes(key: string): Uint8Array | undefined {
    return this.map.get(key);
  }

  /** The value as text (UTF-8), or undefined. */
  text(key: string): string | undefined {
    const v = this.map.get(key);
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  /**
   * A non-negative decimal integer value, or undefined when absent.
   * @throws TarSyntaxError when present but not such a number.
   */
  integer(key: string): number | undefined {
    const t = this.text(key);
    if (t === undefined) return undefined;
    const n = /^[0-9]+$/.test(t) ? Number(t) : NaN;
    if (!Number.isSafeInteger(n)) throw new TarSyntaxError(`pax ${key}=${t} is not a number`);
    return n;
  }

  /**
   * A time value (`mtime`, `atime`, `ctime`) with its nanoseconds, or undefined when absent.
   * @throws TarSyntaxError when present but not a decimal time.
   */
  time(key: string): Timestamp | undefined {
    const t = this.text(key);
    if (t === undefined) return undefined;
    const ts = parsePaxTime(t);
    if (!ts) throw new TarSyntaxError(`pax ${key}=${t} is not a time`);
    return ts;
  }

  /** Whether any keyword starts with `prefix`. */
  hasPrefix(prefix: string): boolean {
    for (const k of this.map.keys()) if (k.startsWith(prefix)) return true;
    return false;
  }
}
