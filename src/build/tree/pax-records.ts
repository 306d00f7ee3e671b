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
  private readonly local = new Map<string, Uint8Array>();

  /**
   * @param global the global attributes in force (see {@link applyGlobalRecords}); shared, not
   *   copied, so a large global header costs nothing per entry.
   * @param records the entry's own records (an empty value deletes the keyword, POSIX).
   */
  constructor(private readonly global: ReadonlyMap<string, Uint8Array>, readonly records: readonly PaxRecord[]) {
    for (const [k, v] of records) this.local.set(k, v);
  }

  /** The value's bytes, or undefined. */
  bytes(key: string): Uint8Array | undefined {
    const v = this.local.get(key) ?? this.global.get(key);
    return v === undefined || v.length === 0 ? undefined : v;
  }

  /** The value as text (UTF-8), or undefined. */
  text(key: string): string | undefined {
    const v = this.bytes(key);
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

  /**
   * Whether any of the entry's own keywords starts with `prefix` (the global ones are not
   * looked at: they apply to every entry, and scanning them per entry would be quadratic).
   */
  hasPrefix(prefix: string): boolean {
    for (const [k, v] of this.local) if (v.length > 0 && k.startsWith(prefix)) return true;
    return false;
  }
}

/** Applies a global header's records to the attributes in force (an empty value deletes). */
export function applyGlobalRecords(global: Map<string, Uint8Array>, records: readonly PaxRecord[]): void {
  for (const [k, v] of records) {
    if (v.length === 0) global.delete(k);
    else global.set(k, v);
  }
}
