/**
 * The fuzzer's own view of tar (POSIX.1-2001 ustar/pax, GNU and v7 headers), independent of
 * src/build/tree: a writer of header blocks with any field (including lies: a size past the
 * data, base-256 numbers, octal garbage) and a checksum that makes the block self-consistent;
 * pax records with chosen (possibly wrong) lengths; and a trusted split of a healthy seed tar
 * into units (header, GNU sparse extension blocks, data) that mutations change and reassemble.
 */

export const BLOCK = 512;

/** Where each header field lies (offset, length). */
const FIELD_LIST = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12],
  checksum: [148, 8], typeflag: [156, 1], linkname: [157, 100], magic: [257, 6], version: [263, 2],
  uname: [265, 32], gname: [297, 32], devmajor: [329, 8], devminor: [337, 8], prefix: [345, 155],
  // Old GNU: atime, ctime, the sparse map (4 pairs), isextended, realsize.
  gnuAtime: [345, 12], gnuCtime: [357, 12], sparse: [386, 96], isextended: [482, 1], realsize: [483, 12],
} as const;
export type FieldName = keyof typeof FIELD_LIST;
export const FIELDS = FIELD_LIST as unknown as Record<FieldName, [at: number, length: number]>;

export const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
const enc = new TextEncoder();
export const bytesOf = (s: string | Uint8Array) => (typeof s === 'string' ? enc.encode(s) : s);

/**
 * Writes `value` into a numeric field of `length` bytes: octal with a NUL terminator when it fits
 * (`length - 1` digits), else GNU base-256 (top bit set, two's complement big-endian), which also
 * carries negative numbers. `form` forces one: 'octal-full' fills the field with digits (no
 * terminator), 'base256' always, 'octal-space' ends with a space as old tars do.
 */
export function writeNumber(block: Uint8Array, at: number, length: number, value: bigint | number, form: 'auto' | 'octal' | 'octal-full' | 'octal-space' | 'base256' = 'auto'): void {
  const v = BigInt(value);
  const octal = v >= 0n ? v.toString(8) : '';
  if (form === 'base256' || (form === 'auto' && (v < 0n || octal.length > length - 1))) {
    let x = BigInt.asUintN(8 * length, v);
    for (let i = length - 1; i >= 0; i--) { block[at + i] = Number(x & 0xffn); x >>= 8n; }
    // Positive: 0x80 marker in the first byte; negative values already have the top bits set.
    if (v >= 0n) block[at] = (block[at] & 0x7f) | 0x80;
    else block[at] |= 0x80;
    return;
  }
  const digits = form === 'octal-full' ? length : length - 1;
  const text = octal.padStart(digits, '0').slice(-digits);
  block.fill(0, at, at + length);
  for (let i = 0; i < text.length; i++) block[at + i] = text.charCodeAt(i);
  if (form === 'octal-space') block[at + length - 1] = 0x20;
}

/** Writes raw bytes into a field (truncated to it, the rest zeroed). */
export function writeBytes(block: Uint8Array, at: number, length: number, value: Uint8Array | string): void {
  const b = bytesOf(value);
  block.fill(0, at, at + length);
  block.set(b.subarray(0, length), at);
}

/** Recomputes the header checksum (unsigned sum, the field counted as spaces), as `tar` writes it. */
export function setChecksum(block: Uint8Array, signed = false): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += signed ? (block[i] << 24) >> 24 : block[i];
  const text = (sum >>> 0 & 0o777777).toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) block[148 + i] = text.charCodeAt(i);
  block[154] = 0;
  block[155] = 0x20;
}

/** Decodes a numeric field the way tar does (octal or base-256), for the trusted split. */
export function readNumber(block: Uint8Array, at: number, length: number): number {
  if (block[at] & 0x80) {
    let v = BigInt(block[at] & 0x7f) - (block[at] === 0xff ? 0x80n : 0n);
    for (let i = 1; i < length; i++) v = (v << 8n) | BigInt(block[at + i]);
    return Number(v);
  }
  let s = '';
  for (let i = at; i < at + length && block[i] !== 0; i++) s += String.fromCharCode(block[i]);
  s = s.trim();
  return s ? parseInt(s, 8) : 0;
}

export interface HeaderSpec {
  name: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number | bigint;
  mtime?: number | bigint;
  typeflag?: string;
  linkname?: string | Uint8Array;
  devmajor?: number;
  devminor?: number;
  /** 'ustar' (POSIX, "ustar\0" "00"), 'gnu' ("ustar  \0"), 'v7' (none). */
  format?: 'ustar' | 'gnu' | 'v7';
  prefix?: string | Uint8Array;
}

/** A header block with a correct checksum. */
export function header(h: HeaderSpec): Uint8Array {
  const b = new Uint8Array(BLOCK);
  const f = (n: FieldName) => FIELDS[n];
  writeBytes(b, ...f('name'), h.name);
  writeNumber(b, ...f('mode'), h.mode ?? 0o644);
  writeNumber(b, ...f('uid'), h.uid ?? 0);
  writeNumber(b, ...f('gid'), h.gid ?? 0);
  writeNumber(b, ...f('size'), h.size ?? 0);
  writeNumber(b, ...f('mtime'), h.mtime ?? 1_700_000_000);
  b[156] = (h.typeflag ?? '0').charCodeAt(0);
  writeBytes(b, ...f('linkname'), h.linkname ?? '');
  const format = h.format ?? 'ustar';
  if (format === 'ustar') { writeBytes(b, 257, 6, 'ustar\0'); writeBytes(b, 263, 2, '00'); }
  else if (format === 'gnu') writeBytes(b, 257, 8, 'ustar  \0');
  if (format !== 'v7') {
    writeBytes(b, ...f('uname'), 'root');
    writeBytes(b, ...f('gname'), 'root');
    writeNumber(b, ...f('devmajor'), h.devmajor ?? 0);
    writeNumber(b, ...f('devminor'), h.devminor ?? 0);
  }
  if (h.prefix !== undefined && format === 'ustar') writeBytes(b, ...f('prefix'), h.prefix);
  setChecksum(b);
  return b;
}

/** One pax record `<len> <key>=<value>\n`; `length` overrides the (self-counting) length field. */
export function paxRecord(key: string, value: string | Uint8Array, length?: string | number): Uint8Array {
  const body = concat([bytesOf(` ${key}=`), bytesOf(value), bytesOf('\n')]);
  let n = body.length + 1;
  while (String(n).length + body.length !== n) n = String(n).length + body.length;
  return concat([bytesOf(String(length ?? n)), body]);
}

/** pax records of ASCII text, in order, built as one string (fast for millions of records). */
export function paxText(records: readonly (readonly [string, string])[]): Uint8Array {
  const out: string[] = [];
  for (const [k, v] of records) {
    const body = ` ${k}=${v}\n`;
    let n = body.length + 1;
    while (String(n).length + body.length !== n) n = String(n).length + body.length;
    out.push(`${n}${body}`);
  }
  return new TextEncoder().encode(out.join(''));
}

/** pax records, in order. */
export function paxData(records: readonly (readonly [string, string | Uint8Array])[]): Uint8Array {
  return concat(records.map(([k, v]) => paxRecord(k, v)));
}

/** An entry: header, then data padded to a block (its size field set to the data's length unless given). */
export function entry(h: HeaderSpec, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat([header({ ...h, size: h.size ?? data.length }), padTo(data)]);
}

/** A pax extended header ('x', or 'g' for global) for the entry that follows. */
export function paxEntry(records: readonly (readonly [string, string | Uint8Array])[], global = false, name = 'PaxHeaders/x'): Uint8Array {
  return entry({ name, typeflag: global ? 'g' : 'x' }, paxData(records));
}

export function padTo(data: Uint8Array): Uint8Array {
  if (data.length % BLOCK === 0) return data;
  const out = new Uint8Array(padded(data.length));
  out.set(data);
  return out;
}

export const END = new Uint8Array(2 * BLOCK);

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** A unit of a healthy tar: one header block, the GNU sparse extension blocks after it, its data (unpadded). */
export interface TarUnit {
  header: Uint8Array;
  ext: Uint8Array[];
  data: Uint8Array;
  typeflag: string;
  /** Offset of the header in the healthy tar. */
  at: number;
}

/** A healthy tar split into units and what follows the last one (the end-of-archive blocks and padding). */
export interface TarAnatomy {
  units: TarUnit[];
  trailer: Uint8Array;
}

/**
 * Splits a healthy tar (made by GNU tar, tar-stream or this module) into units. Trusted: it
 * assumes the seed is well formed and stops at the first zero block.
 */
export function splitTar(tar: Uint8Array): TarAnatomy {
  const units: TarUnit[] = [];
  let at = 0;
  while (at + BLOCK <= tar.length) {
    const h = tar.subarray(at, at + BLOCK);
    if (h.every((x) => x === 0)) break;
    const typeflag = String.fromCharCode(h[156] || 0x30);
    const size = readNumber(h, 124, 12);
    const ext: Uint8Array[] = [];
    let next = at + BLOCK;
    if (typeflag === 'S' && h[482]) {
      for (let more = true; more && next + BLOCK <= tar.length;) {
        const e = tar.slice(next, next + BLOCK);
        ext.push(e);
        more = e[504] !== 0;
        next += BLOCK;
      }
    }
    units.push({ header: h.slice(), ext, data: tar.slice(next, next + size), typeflag, at });
    at = next + padded(size);
  }
  return { units, trailer: tar.slice(at) };
}

/** Reassembles units: each header as it is (whatever its size field says), its extension blocks, its data padded by its real length. */
export function joinTar(units: readonly Pick<TarUnit, 'header' | 'ext' | 'data'>[], trailer: Uint8Array = END): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const u of units) {
    parts.push(u.header);
    for (const e of u.ext) parts.push(e); // (a spread of 10^5 blocks would overflow the stack)
    parts.push(padTo(u.data));
  }
  parts.push(trailer);
  return concat(parts);
}

/** Splits pax data into records (trusted: a healthy seed's). */
export function splitPax(data: Uint8Array): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  let at = 0;
  while (at < data.length && data[at] !== 0) {
    const space = data.indexOf(0x20, at);
    const len = Number(Buffer.from(data.subarray(at, space)).toString('latin1'));
    if (!(len > 0) || space < 0) break;
    const rec = data.subarray(space + 1, at + len - 1);
    const eq = rec.indexOf(0x3d);
    out.push([Buffer.from(rec.subarray(0, eq)).toString('utf8'), rec.slice(eq + 1)]);
    at += len;
  }
  return out;
}

/** The unit's name field (NUL-terminated), as bytes. */
export function nameOf(u: Pick<TarUnit, 'header'>): Uint8Array {
  const f = u.header.subarray(0, 100);
  const end = f.indexOf(0);
  return f.slice(0, end < 0 ? 100 : end);
}
