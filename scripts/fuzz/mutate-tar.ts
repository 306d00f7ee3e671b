/**
 * Mutations of a tar seed. "raw": bit flips, truncation, splices, zero blocks and junk in the
 * plain tar (checksums left broken) or in the compressed stream of a .tar.gz/.tar.zst seed.
 * "crafted": structure-aware, every header's checksum recomputed so the block is
 * self-consistent but wrong: numeric fields (size past the end, huge, base-256, negative,
 * octal garbage), type flags, magic, names and link names; pax records (lengths that lie, huge
 * values, duplicates, paths with `..`, `/`, NUL, deep paths); GNU sparse maps in all four
 * encodings (out of order, overlapping, huge, absurd real sizes, extension chains); entries
 * dropped, duplicated, swapped, and constructs tar readers trip on (an extended header before
 * the end-of-archive block, a GNU long name with no entry after it, a file replacing a
 * directory, hard links to directories or to what is not there yet). Generators make inputs
 * that test bounds: gzip and zstd bombs (GiBs of zeros as a file, after the end-of-archive
 * block, or short of what a header declares), 10^5 entries, paths 10^5 directories deep, a
 * global pax header of millions of records, sparse maps of millions of parts. The result is
 * wrapped in gzip or zstd (several members/frames at times) or left plain.
 */
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import type { Rng } from './rng.ts';
import {
  BLOCK, END, FIELDS, concat, entry, header, nameOf, padded, paxData, paxRecord, paxText, readNumber, setChecksum, splitPax, splitTar,
  writeBytes, writeNumber, bytesOf, joinTar, type FieldName, type TarAnatomy, type TarUnit,
} from './tar-format.ts';

export type Wrap = 'none' | 'gzip' | 'zstd';

/** A seed as the mutations see it: its plain tar and the file as stored. */
export interface TarSeed {
  name: string;
  plain: Uint8Array;
  stored: Uint8Array;
  compression: Wrap;
}

export interface TarMutation {
  /** The case's input, as written to its file. */
  bytes: Uint8Array;
  wrap: Wrap;
  region: string;
  description: string;
  attack?: string;
}

type Unit = Pick<TarUnit, 'header' | 'ext' | 'data'> & { typeflag: string };
interface Change { units?: Unit[]; trailer?: Uint8Array; plain?: Uint8Array; final?: { bytes: Uint8Array; wrap: Wrap }; region: string; description: string; attack?: string; wrap?: Wrap }

const META = new Set(['x', 'g', 'L', 'K']);
/** The reader's limit on an extended header (tar-entries.ts MAX_META). */
const MAX_META = 16 << 20;
const enc = (s: string) => new TextEncoder().encode(s);
const show = (v: unknown) => {
  const s = v instanceof Uint8Array ? JSON.stringify(Buffer.from(v).toString('latin1')) : typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 60)}…(${s.length} chars)` : s;
};

export function mutateTar(rng: Rng, seed: TarSeed, flavour: 'raw' | 'crafted'): TarMutation {
  const a = splitTar(seed.plain);
  let c: Change;
  if (flavour === 'raw') c = rawChange(rng, seed, a);
  else {
    const op = rng.weighted([
      [6, 'header'], [5, 'pax'], [a.units.some(isSparseUnit) ? 5 : 2, 'sparse'], [4, 'structure'], [3, 'names'], [3, 'links'], [3, 'generate'], [1, 'wrap'],
    ] as const);
    const units = a.units.map((u) => ({ header: u.header.slice(), ext: u.ext.map((e) => e.slice()), data: u.data, typeflag: u.typeflag }));
    switch (op) {
      case 'header': c = headerChange(rng, units); break;
      case 'pax': c = paxChange(rng, units); break;
      case 'sparse': c = sparseChange(rng, units); break;
      case 'structure': c = structureChange(rng, units, a.trailer); break;
      case 'names': c = nameChange(rng, units); break;
      case 'links': c = linkChange(rng, units); break;
      case 'generate': c = generate(rng, units); break;
      default: c = { units, region: 'compression', description: 'payload unchanged' };
    }
    if (!c.final && !c.wrap) c.wrap = rng.weighted([[4, seed.compression], [1, 'none'], [1, 'gzip'], [1, 'zstd']] as const);
  }
  if (c.final) return { ...c.final, region: c.region, description: c.description, attack: c.attack };
  const plain = c.plain ?? joinTar(c.units!, c.trailer ?? END);
  const wrap = c.wrap ?? seed.compression;
  const { bytes, how } = wrapBytes(rng, plain, wrap);
  return { bytes, wrap, region: c.region, description: `${c.description}${wrap !== 'none' ? `; ${how}` : ''}`, attack: c.attack };
}

/** Compresses `plain` (now and then as several gzip members or zstd frames). */
export function wrapBytes(rng: Rng, plain: Uint8Array, wrap: Wrap): { bytes: Uint8Array; how: string } {
  if (wrap === 'none') return { bytes: plain, how: '' };
  const pieces = plain.length > 1024 && rng.chance(0.2) ? rng.range(2, 4) : 1;
  const cuts = [0, ...Array.from({ length: pieces - 1 }, () => rng.int(plain.length)).sort((x, y) => x - y), plain.length];
  const level = rng.pick([1, 3, 6, 9]);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < pieces; k++) {
    const p = plain.subarray(cuts[k], cuts[k + 1]);
    parts.push(wrap === 'gzip' ? new Uint8Array(gzipSync(p, { level })) : new Uint8Array(zstdCompress(Buffer.from(p.buffer, p.byteOffset, p.length), { compressionLevel: level })));
  }
  return { bytes: concat(parts), how: `${wrap} level ${level}${pieces > 1 ? ` in ${pieces} ${wrap === 'gzip' ? 'members' : 'frames'}` : ''}` };
}

// ---------------------------------------------------------------------------------------------
// raw

function rawChange(rng: Rng, seed: TarSeed, a: TarAnatomy): Change {
  const op = rng.weighted([[4, 'flip'], [3, 'truncate'], [1, 'splice'], [1, 'zero-block'], [1, 'junk'], [seed.compression !== 'none' ? 5 : 0, 'compressed']] as const);
  const b = seed.plain.slice();
  const units = a.units;
  const headerAt = () => (units.length ? rng.pick(units).at : 0);
  switch (op) {
    case 'flip': {
      const inHeader = rng.chance(0.7);
      const start = inHeader ? headerAt() : 0;
      const len = inHeader ? BLOCK : b.length;
      const n = rng.pick([1, 1, 2, 4, 16, 64]);
      for (let k = 0; k < n; k++) b[start + rng.int(len)] ^= 1 << rng.int(8);
      return { plain: b, region: inHeader ? `header at ${start}` : 'tar', description: `flip ${n} bit(s) in ${inHeader ? `the header at ${start}` : 'the tar'}`, wrap: seed.compression };
    }
    case 'truncate': {
      const u = units.length ? rng.pick(units) : undefined;
      const at = u ? u.at : 0;
      const dataAt = u ? at + BLOCK * (1 + u.ext.length) : 0;
      const cut = rng.pick([rng.int(b.length), at, at + 1, at + 100, at + 511, at + 512, dataAt + 1, dataAt + (u ? u.data.length : 0), b.length - 1024, b.length - 512, b.length - 1].filter((x) => x >= 0 && x < b.length));
      return { plain: b.slice(0, cut), region: `byte ${cut}`, description: `tar cut at byte ${cut} of ${b.length}`, wrap: seed.compression };
    }
    case 'splice': {
      const from = rng.int(Math.max(1, b.length / BLOCK)) * BLOCK;
      const to = rng.int(Math.max(1, b.length / BLOCK)) * BLOCK;
      const n = rng.pick([1, 2, 8]) * BLOCK;
      const insert = rng.chance(0.5);
      const piece = b.slice(from, from + n);
      const out = insert ? concat([b.subarray(0, to), piece, b.subarray(to)]) : (b.set(piece.subarray(0, Math.max(0, b.length - to)), to), b);
      return { plain: out, region: `block ${to / BLOCK}`, description: `${insert ? 'insert' : 'overwrite'} ${n} bytes from ${from} at ${to}`, wrap: seed.compression };
    }
    case 'zero-block': {
      const at = headerAt();
      const replace = rng.chance(0.5);
      const out = replace ? (b.fill(0, at, at + BLOCK), b) : concat([b.subarray(0, at), new Uint8Array(BLOCK * rng.pick([1, 2])), b.subarray(at)]);
      return { plain: out, region: `header at ${at}`, description: `${replace ? 'zero the header' : 'insert zero block(s)'} at ${at}`, wrap: seed.compression };
    }
    case 'junk': {
      const junk = rng.pick([rng.bytes(rng.range(1, 3000)), new Uint8Array(rng.range(1, 100_000)), seed.plain]);
      return { plain: concat([b, junk]), region: 'after the end', description: `${junk.length} bytes appended after the end-of-archive block`, wrap: seed.compression };
    }
    case 'compressed': {
      const z = seed.stored.slice();
      const what = rng.pick(['flip', 'flip', 'truncate', 'append-junk', 'append-member', 'header-flags', 'window', 'skippable']);
      let bytes: Uint8Array = z;
      let description: string;
      if (what === 'flip') {
        const zone = rng.pick(['head', 'middle', 'tail']);
        const at = zone === 'head' ? rng.int(Math.min(20, z.length)) : zone === 'tail' ? Math.max(0, z.length - 1 - rng.int(Math.min(12, z.length))) : rng.int(z.length);
        z[at] ^= 1 << rng.int(8);
        description = `flip a bit at byte ${at} (${zone}) of the ${seed.compression} stream`;
      } else if (what === 'truncate') {
        const cut = rng.pick([rng.int(z.length), z.length - 1, z.length - 4, z.length - 8, 10, 18]);
        bytes = z.slice(0, Math.max(0, cut));
        description = `${seed.compression} stream cut at ${cut} of ${z.length}`;
      } else if (what === 'append-junk') {
        bytes = concat([z, rng.bytes(rng.range(1, 500))]);
        description = `junk after the ${seed.compression} stream`;
      } else if (what === 'append-member') {
        const extra = rng.pick([rng.bytes(700), seed.plain, new Uint8Array(4096)]);
        bytes = concat([z, wrapBytes(rng, extra, seed.compression).bytes]);
        description = `another ${seed.compression} member/frame of ${extra.length} bytes appended`;
      } else if (what === 'header-flags' && seed.compression === 'gzip') {
        z[3] = rng.pick([0x04, 0x08, 0x10, 0x02, 0xe0, 0x1f]);
        description = `gzip FLG := 0x${z[3].toString(16)} (fields it announces are not there)`;
      } else if (what === 'window' && seed.compression === 'zstd') {
        // Frame header descriptor after the magic: make it a window-descriptor frame with a huge window.
        z[4] = z[4] & ~0x20;
        bytes = concat([z.subarray(0, 5), new Uint8Array([rng.pick([0xf8, 0xa8, 0x90, 0x88])]), z.subarray(5)]);
        description = `zstd frame given a window descriptor 0x${bytes[5].toString(16)} (a window of up to 2 TiB)`;
      } else {
        // A skippable frame (zstd) or a gzip member with an FEXTRA field claiming 65535 bytes.
        const skipLen = rng.pick([0, 8, 0xffff, 0xffffffff]);
        const head = seed.compression === 'zstd'
          ? concat([new Uint8Array([0x5e, 0x2a, 0x4d, 0x18]), le32(skipLen), new Uint8Array(Math.min(skipLen, 64))])
          : new Uint8Array([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 1, 2, 3]);
        bytes = rng.chance(0.5) ? concat([head, z]) : concat([z, head]);
        description = seed.compression === 'zstd' ? `a skippable frame announcing ${skipLen} bytes` : 'a gzip member whose FEXTRA says 65535 bytes and stops';
      }
      return { final: { bytes, wrap: seed.compression }, region: `${seed.compression} stream`, description };
    }
  }
}

const le32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n >>> 0, true); return b; };

// ---------------------------------------------------------------------------------------------
// header fields

/** Numbers for a field: each a value and the form to write it in. */
function numberFor(rng: Rng, field: FieldName, cur: number): { v: bigint | string; form?: 'octal' | 'octal-full' | 'octal-space' | 'base256' } {
  const big = (v: bigint) => ({ v, form: 'base256' as const });
  const garbage = () => ({ v: rng.pick(['9', '0x10', ' 12 ', '1 2', '-1', '+7', '\u00ff', '        ', '', '1e3', '７', '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u00017']) });
  if (rng.chance(0.12)) return garbage();
  const C = BigInt(Math.max(0, Math.floor(cur)));
  switch (field) {
    case 'size': case 'realsize':
      return rng.pick([
        { v: 0n }, { v: 1n }, { v: C > 0n ? C - 1n : 0n }, { v: C + 1n }, { v: C + 511n }, { v: C + 512n }, { v: C + 513n }, { v: C * 2n + 7n }, { v: C + 1_000_000n },
        { v: 8n ** 11n - 1n }, { v: 8n ** 12n - 1n, form: 'octal-full' as const }, big(2n ** 33n), big(2n ** 53n - 1n), big(2n ** 53n), big(2n ** 60n), big(2n ** 63n - 1n),
        big(-1n), big(-(2n ** 40n)), { v: C, form: 'octal-space' as const },
      ]);
    case 'mode':
      return rng.pick([{ v: 0n }, { v: 0o7777n }, { v: 0o100644n }, { v: 0o170777n }, { v: 0o7777777n }, big(2n ** 40n), big(-1n), { v: 0o4000n }]);
    case 'uid': case 'gid':
      return rng.pick([{ v: 0n }, { v: 65535n }, { v: 65536n }, { v: 0o7777777n }, big(2n ** 32n - 1n), big(2n ** 32n), big(2n ** 32n + 5n), big(2n ** 53n - 1n), big(-1n), big(-(2n ** 31n))]);
    case 'mtime': case 'gnuAtime': case 'gnuCtime':
      return rng.pick([{ v: 0n }, big(-1n), { v: 2n ** 31n - 1n }, { v: 2n ** 31n }, { v: 2n ** 32n }, { v: 2n ** 33n - 1n }, { v: 8n ** 11n - 1n }, big(2n ** 34n + 5n), big(2n ** 53n - 1n), big(-(2n ** 53n) + 1n), big(-(2n ** 31n) - 1n), big(-(2n ** 33n))]);
    default: // devmajor, devminor
      return rng.pick([{ v: 0n }, { v: 255n }, { v: 256n }, { v: 4095n }, { v: 4096n }, { v: 2n ** 20n - 1n }, { v: 2n ** 20n }, { v: 0o7777777n }, big(2n ** 32n - 1n), big(2n ** 32n), big(2n ** 53n - 1n), big(-1n)]);
  }
}

function writeNumberish(h: Uint8Array, field: FieldName, x: { v: bigint | string; form?: 'octal' | 'octal-full' | 'octal-space' | 'base256' }): void {
  const [at, len] = FIELDS[field];
  if (typeof x.v === 'string') writeBytes(h, at, len, Uint8Array.from(x.v, (ch) => ch.charCodeAt(0) & 0xff));
  else writeNumber(h, at, len, x.v, x.form ?? 'auto');
}

const TYPEFLAGS = ['0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'V', 'D', 'M', 'N', 'A', 'I', 'X', '\0', '8', 'a', 'Z', '\u00ff'];

function pickEntry(rng: Rng, units: Unit[], pred: (u: Unit) => boolean = (u) => !META.has(u.typeflag)): number {
  const idx = units.map((u, i) => (pred(u) ? i : -1)).filter((i) => i >= 0);
  return idx.length ? rng.pick(idx) : rng.int(Math.max(1, units.length));
}

function headerChange(rng: Rng, units: Unit[]): Change {
  if (!units.length) units.push({ header: header({ name: 'f' }), ext: [], data: new Uint8Array(0), typeflag: '0' });
  const i = rng.chance(0.8) ? pickEntry(rng, units) : rng.int(units.length);
  const u = units[i];
  const h = u.header;
  const field = rng.weighted([
    [6, 'size'], [2, 'mode'], [2, 'uid'], [1, 'gid'], [2, 'mtime'], [4, 'typeflag'], [2, 'devmajor'], [1, 'devminor'], [2, 'checksum'], [2, 'magic'],
    [u.typeflag === 'S' ? 3 : 0, 'realsize'], [u.typeflag === 'S' ? 2 : 0, 'isextended'], [1, 'gnuAtime'],
  ] as const);
  let description: string;
  let recompute = true;
  const name = Buffer.from(nameOf(u)).toString('latin1').slice(0, 60);
  if (field === 'typeflag') {
    const t = rng.pick(TYPEFLAGS);
    h[156] = t.charCodeAt(0) & 0xff;
    u.typeflag = t;
    description = `typeflag ${JSON.stringify(t)}`;
  } else if (field === 'checksum') {
    const how = rng.pick(['off-by-one', 'signed-sum', 'garbage', 'spaces']);
    recompute = false;
    if (how === 'signed-sum') setChecksum(h, true);
    else if (how === 'garbage') writeBytes(h, 148, 8, 'x9z\0');
    else if (how === 'spaces') h.fill(0x20, 148, 156);
    else { setChecksum(h); h[153] ^= 1; }
    description = `checksum ${how}`;
  } else if (field === 'magic') {
    const m = rng.pick(['ustar\u000000', 'ustar  \u0000', '\0\0\0\0\0\0\0\0', 'ustar\u0000xx', 'USTAR\u000000', 'ustar \u0000\u0000']);
    writeBytes(h, 257, 8, Uint8Array.from(m, (ch) => ch.charCodeAt(0)));
    description = `magic ${JSON.stringify(m)}`;
  } else if (field === 'isextended') {
    h[482] = h[482] ? 0 : 1;
    description = `isextended := ${h[482]}`;
  } else {
    const cur = readNumber(h, ...FIELDS[field]);
    const x = numberFor(rng, field, cur);
    writeNumberish(h, field, x);
    description = `${field} ${cur} → ${show(x.v)}${x.form ? ` (${x.form})` : ''}`;
  }
  if (recompute) setChecksum(h);
  return { units, region: `header of unit ${i} '${name}'`, description: `unit ${i} ('${name}', type ${show(u.typeflag)}): ${description}`, attack: field === 'size' ? 'tar-size' : undefined };
}

// ---------------------------------------------------------------------------------------------
// pax

const PAX_VALUES: Record<string, () => (string | Uint8Array)[]> = {
  path: () => ['..', '../../etc/x', '/', '', 'a/../b', 'a\u0000b', 'x'.repeat(256), `${'a/'.repeat(1000)}f`, '.', './', '/abs/ok', Uint8Array.from([0x66, 0xff, 0x80]), 'hello.txt/below', 'lost+found', '//', 'a/./b//c/'],
  linkpath: () => ['', 'nonexistent', '.', '/', '..', 'x'.repeat(5000), 'sub', 'a\u0000b', 'x'.repeat(4095), 'x'.repeat(4096)],
  size: () => ['0', '1', '-1', '1e3', '0x10', '', ' 5', '99999999999999999999', String(2 ** 53 - 1), String(2 ** 53), String(2 ** 40), '512', '513', '00000000000000000000000001'],
  uid: () => ['-1', '1.5', '4294967296', '4294967301', '9007199254740991', '99999999999999999999', '', 'abc', '0', '65536'],
  gid: () => ['-1', '4294967295', '4294967296', '9007199254740991', '99999999999999999999', ''],
  mtime: () => ['-1', '-1.5', '1.', '.5', '+5', '1e9', '1700000000.1234567891234', '-9007199254740991.999999999', '9007199254740991', '9007199254740992', '', 'nan', '17179869184', '17179869183.999999999', '-2147483649', '-62135596800', '2147483648'],
  'SCHILY.devmajor': () => ['4095', '4096', '1048576', '4294967295', '9007199254740991', '-1', 'x'],
  'SCHILY.devminor': () => ['1048575', '1048576', '4294967295', '9007199254740991', '-1'],
  hdrcharset: () => ['BINARY', 'ISO-IR 10646 2000 UTF-8', 'EBCDIC'],
  'GNU.sparse.major': () => ['1', '0', '2', ''],
  'GNU.sparse.minor': () => ['0', '1', '9'],
  'GNU.sparse.realsize': () => ['0', '1', '9007199254740991', '99999999999999999999'],
  'GNU.sparse.size': () => ['0', '1', '9007199254740991', '-1'],
  'GNU.sparse.map': () => ['', '0', '0,1', '1,0,0,1', '0,1,0,1', '9007199254740991,1', 'a,b'],
  comment: () => ['x'.repeat(100_000), '\u0000', ''],
};
PAX_VALUES.atime = PAX_VALUES.mtime;
PAX_VALUES.ctime = PAX_VALUES.mtime;

/** The records of the 'x' header before entry `i`, creating one when there is none. Returns its index. */
function paxBefore(units: Unit[], i: number, global = false): number {
  if (i > 0 && units[i - 1].typeflag === (global ? 'g' : 'x')) return i - 1;
  const data = new Uint8Array(0);
  units.splice(i, 0, { header: header({ name: global ? 'GlobalHead.0/g' : 'PaxHeaders/x', typeflag: global ? 'g' : 'x' }), ext: [], data, typeflag: global ? 'g' : 'x' });
  return i;
}

/** Sets a meta unit's data and its size field (or a lie about it), checksum recomputed. */
function setMeta(rng: Rng, u: Unit, data: Uint8Array, lie = rng.chance(0.12)): string {
  u.data = data;
  let size = BigInt(data.length);
  let note = '';
  if (lie) {
    size = rng.pick([size + 1n, size > 0n ? size - 1n : 0n, 0n, BigInt(MAX_META + 1), size + 512n, 2n ** 33n]);
    note = `; its size field says ${size} for ${data.length} bytes`;
  }
  writeNumber(u.header, 124, 12, size);
  setChecksum(u.header);
  return note;
}

/** Encodes records, some with a corrupt encoding. */
function encodeRecords(rng: Rng, records: [string, Uint8Array][]): { data: Uint8Array; note: string } {
  if (!rng.chance(0.3) || !records.length) return { data: paxData(records), note: '' };
  const k = rng.int(records.length);
  const [key, value] = records[k];
  const how = rng.pick(['len+1', 'len-1', 'len0', 'huge', 'zeros', 'hex', 'negative', 'alpha', 'no-space', 'no-eq', 'no-newline', 'nul-inside', 'truncated', 'nul-padding', 'leading-space', 'exact-past-end']);
  const parts = records.map(([kk, vv]) => paxRecord(kk, vv));
  const good = parts[k];
  const n = good.length;
  const body = good.subarray(String(n).length);
  switch (how) {
    case 'len+1': parts[k] = concat([enc(String(n + 1)), body]); break;
    case 'len-1': parts[k] = concat([enc(String(n - 1)), body]); break;
    case 'len0': parts[k] = concat([enc('0'), body]); break;
    case 'huge': parts[k] = concat([enc('99999999999999999999'), body]); break;
    case 'zeros': parts[k] = concat([enc(`000${n + 3}`), body]); break;
    case 'hex': parts[k] = concat([enc(`0x${n.toString(16)}`), body]); break;
    case 'negative': parts[k] = concat([enc(`-${n}`), body]); break;
    case 'alpha': parts[k] = concat([enc('ab'), body]); break;
    case 'no-space': parts[k] = concat([enc(String(n - 1)), body.subarray(1)]); break;
    case 'no-eq': parts[k] = selfCounting(concat([enc(' '), enc(key), value, enc('\n')])); break;
    case 'no-newline': parts[k] = good.slice(0, -1); break;
    case 'nul-inside': { const g = good.slice(); g[Math.floor(g.length / 2)] = 0; parts[k] = g; break; }
    case 'truncated': parts.splice(k + 1); parts[k] = good.slice(0, Math.max(1, Math.floor(n / 2))); break;
    case 'nul-padding': parts.push(new Uint8Array(rng.range(1, 600))); break;
    case 'leading-space': parts[k] = concat([enc(` ${n + 1}`), body]); break;
    case 'exact-past-end': parts.splice(k + 1); parts[k] = concat([enc(String(n + 10)), body]); break;
  }
  return { data: concat(parts), note: `; record ${k} (${key}) encoded ${how}` };
}

function paxChange(rng: Rng, units: Unit[]): Change {
  const global = rng.chance(0.2);
  const i = pickEntry(rng, units);
  const xi = paxBefore(units, Math.min(i, units.length), global);
  const x = units[xi];
  const records = splitPax(x.data);
  const op = rng.weighted([[6, 'set'], [2, 'dup'], [1, 'delete'], [1, 'empty'], [1, 'random-key'], [1, 'many']] as const);
  let what: string;
  const keys = Object.keys(PAX_VALUES);
  if (op === 'set' || (op !== 'many' && op !== 'random-key' && !records.length)) {
    const key = rng.pick(keys);
    const value = bytesOf(rng.pick(PAX_VALUES[key]()));
    const at = records.findIndex(([k]) => k === key);
    if (at >= 0 && rng.chance(0.7)) records[at] = [key, value];
    else records.push([key, value]);
    what = `${key}=${show(value)}`;
  } else if (op === 'dup') {
    const [k, v] = rng.pick(records);
    const other = PAX_VALUES[k] ? bytesOf(rng.pick(PAX_VALUES[k]())) : v;
    records.splice(rng.int(records.length + 1), 0, [k, rng.chance(0.5) ? v : other]);
    what = `duplicate ${k}`;
  } else if (op === 'delete') {
    const k = rng.int(records.length);
    what = `delete ${records[k][0]}`;
    records.splice(k, 1);
  } else if (op === 'empty') {
    const k = rng.int(records.length);
    records[k] = [records[k][0], new Uint8Array(0)];
    what = `empty ${records[k][0]}`;
  } else if (op === 'random-key') {
    const key = rng.pick(['', 'x'.repeat(1000), 'a b', 'ключ', 'k\u0000ey', '=', 'SCHILY.xattr.user.x', 'LIBARCHIVE.creationtime', 'GNU.sparse.offset', 'GNU.sparse.numbytes']);
    records.push([key, enc(rng.pick(['1', '', 'v']))]);
    what = `key ${show(key)}`;
  } else {
    // Many records, written straight into the data (a million small arrays would cost the fuzzer more than the reader).
    const n = rng.pick([1000, 100_000, 1_000_000]);
    const key = rng.pick(['comment', 'mtime', 'GNU.sparse.offset', 'a']);
    const one = paxRecord(key, '7');
    const many = new Uint8Array(one.length * n);
    for (let k = 0; k < n; k++) many.set(one, k * one.length);
    const lie = setMeta(rng, x, concat([paxData(records), many]));
    return { units, region: `${global ? 'global' : 'extended'} header of unit ${xi}`, description: `pax ${global ? 'g' : 'x'} before unit ${xi + 1}: ${n} ${key} records${lie}`, attack: global ? 'pax-global' : 'pax' };
  }
  const { data, note } = encodeRecords(rng, records);
  const lie = setMeta(rng, x, data);
  return { units, region: `${global ? 'global' : 'extended'} header of unit ${xi}`, description: `pax ${global ? 'g' : 'x'} before unit ${xi + 1}: ${what}${note}${lie}`, attack: global ? 'pax-global' : 'pax' };
}

// ---------------------------------------------------------------------------------------------
// sparse

function isSparseUnit(u: Pick<TarUnit, 'typeflag' | 'data'>): boolean {
  return u.typeflag === 'S' || ((u.typeflag === 'x') && /GNU\.sparse/.test(Buffer.from(u.data).toString('latin1')));
}

interface SparseFile { segments: { offset: bigint; length: bigint }[]; realSize: bigint; stored: Uint8Array; name: string }

/** Reads the sparse file at units[i] (trusted: a healthy seed's), or makes one from a plain file entry. */
function sparseAt(rng: Rng, units: Unit[], i: number): { file: SparseFile; from: number; to: number; style: 'S' | '0.0' | '0.1' | '1.0' } {
  const u = units[i];
  if (u.typeflag === 'S') {
    const pairs = (b: Uint8Array, at: number, n: number) => {
      const out: SparseFile['segments'] = [];
      for (let k = 0; k < n; k++) { const p = at + 24 * k; if (!b[p]) break; out.push({ offset: BigInt(readNumber(b, p, 12)), length: BigInt(readNumber(b, p + 12, 12)) }); }
      return out;
    };
    const segs = [...pairs(u.header, 386, 4), ...u.ext.flatMap((e) => pairs(e, 0, 21))];
    return { file: { segments: segs, realSize: BigInt(readNumber(u.header, 483, 12)), stored: u.data, name: Buffer.from(nameOf(u)).toString('latin1') }, from: i, to: i + 1, style: 'S' };
  }
  if (u.typeflag === 'x' && i + 1 < units.length) {
    const recs = splitPax(u.data);
    const get = (k: string) => { const r = recs.find(([kk]) => kk === k); return r ? Buffer.from(r[1]).toString('latin1') : undefined; };
    const body = units[i + 1];
    const name = get('GNU.sparse.name') ?? get('path') ?? Buffer.from(nameOf(body)).toString('latin1');
    if (get('GNU.sparse.major') === '1') {
      const text = Buffer.from(body.data).toString('latin1');
      const nums = text.split('\n');
      const count = Number(nums[0]);
      const segs = Array.from({ length: count }, (_, k) => ({ offset: BigInt(nums[1 + 2 * k]), length: BigInt(nums[2 + 2 * k]) }));
      const mapBytes = padded(nums.slice(0, 1 + 2 * count).join('\n').length + 1);
      return { file: { segments: segs, realSize: BigInt(get('GNU.sparse.realsize') ?? '0'), stored: body.data.subarray(mapBytes), name }, from: i, to: i + 2, style: '1.0' };
    }
    const map = get('GNU.sparse.map');
    const list = map !== undefined ? (map ? map.split(',') : []) : recs.filter(([k]) => k === 'GNU.sparse.offset' || k === 'GNU.sparse.numbytes').map(([, v]) => Buffer.from(v).toString('latin1'));
    const segs = [];
    for (let k = 0; k + 1 < list.length; k += 2) segs.push({ offset: BigInt(list[k]), length: BigInt(list[k + 1]) });
    return { file: { segments: segs, realSize: BigInt(get('GNU.sparse.size') ?? '0'), stored: body.data, name }, from: i, to: i + 2, style: map !== undefined ? '0.1' : '0.0' };
  }
  // A plain file made sparse: its data cut into parts placed apart.
  const data = u.data.length ? u.data : enc('sparse data');
  const parts = rng.range(1, 6);
  const segs: SparseFile['segments'] = [];
  let at = 0n;
  let used = 0;
  for (let k = 0; k < parts; k++) {
    const len = k === parts - 1 ? data.length - used : Math.floor(data.length / parts);
    at += BigInt(rng.pick([0, 1, 4096, 8192, 100_000]));
    segs.push({ offset: at, length: BigInt(len) });
    at += BigInt(len);
    used += len;
  }
  const style = rng.pick(['S', '0.0', '0.1', '1.0'] as const);
  return { file: { segments: segs, realSize: at + BigInt(rng.pick([0, 777, 1 << 20])), stored: data, name: Buffer.from(nameOf(u)).toString('latin1') || 'f' }, from: i, to: i + 1, style };
}

/** Units encoding `f` in `style` (map text in `mapText` when given: already mutated). */
function encodeSparse(rng: Rng, f: SparseFile, style: 'S' | '0.0' | '0.1' | '1.0', extChain = 0): Unit[] {
  const mk = (h: Uint8Array, data: Uint8Array, ext: Uint8Array[] = [], typeflag = '0'): Unit => ({ header: h, ext, data, typeflag });
  if (style === 'S') {
    const h = header({ name: f.name.slice(0, 99) || 'f', typeflag: 'S', format: 'gnu', size: f.stored.length });
    const put = (b: Uint8Array, at: number, s: SparseFile['segments'][number]) => { writeNumber(b, at, 12, s.offset); writeNumber(b, at + 12, 12, s.length); };
    f.segments.slice(0, 4).forEach((s, k) => put(h, 386 + 24 * k, s));
    const rest = f.segments.slice(4);
    const ext: Uint8Array[] = [];
    for (let k = 0; k < rest.length; k += 21) {
      const e = new Uint8Array(BLOCK);
      rest.slice(k, k + 21).forEach((s, j) => put(e, 24 * j, s));
      ext.push(e);
    }
    for (let k = 0; k < extChain; k++) ext.push(new Uint8Array(BLOCK));
    ext.forEach((e, k) => { e[504] = k < ext.length - 1 ? 1 : 0; });
    h[482] = ext.length ? 1 : 0;
    writeNumber(h, 483, 12, f.realSize);
    setChecksum(h);
    return [mk(h, f.stored, ext, 'S')];
  }
  const name = `GNUSparseFile.0/${f.name}`.slice(0, 99);
  if (style === '1.0') {
    const text = [String(f.segments.length), ...f.segments.flatMap((s) => [String(s.offset), String(s.length)])].join('\n') + '\n';
    const data = concat([padTo512(enc(text)), f.stored]);
    const x = paxData([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', f.name], ['GNU.sparse.realsize', String(f.realSize)]]);
    return [mk(header({ name: 'PaxHeaders/x', typeflag: 'x', size: x.length }), x, [], 'x'), mk(header({ name, size: data.length }), data)];
  }
  const recs: [string, string][] = [['GNU.sparse.size', String(f.realSize)], ['GNU.sparse.numblocks', String(f.segments.length)], ['GNU.sparse.name', f.name]];
  if (style === '0.1') recs.push(['GNU.sparse.map', f.segments.flatMap((s) => [String(s.offset), String(s.length)]).join(',')]);
  else for (const s of f.segments) recs.push(['GNU.sparse.offset', String(s.offset)], ['GNU.sparse.numbytes', String(s.length)]);
  const x = paxText(recs);
  return [mk(header({ name: 'PaxHeaders/x', typeflag: 'x', size: x.length }), x, [], 'x'), mk(header({ name, size: f.stored.length }), f.stored)];
}

function padTo512(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(padded(b.length));
  out.set(b);
  return out;
}

function sparseChange(rng: Rng, units: Unit[]): Change {
  const sparse = units.map((u, i) => (isSparseUnit(u) ? i : -1)).filter((i) => i >= 0);
  const i = sparse.length && rng.chance(0.8) ? rng.pick(sparse) : pickEntry(rng, units, (u) => u.typeflag === '0' || u.typeflag === '7');
  if (!units.length) units.push({ header: header({ name: 'f' }), ext: [], data: enc('x'), typeflag: '0' });
  const { file: f, from, to, style: seedStyle } = sparseAt(rng, units, Math.min(i, units.length - 1));
  const style = rng.chance(0.8) ? seedStyle : rng.pick(['S', '0.0', '0.1', '1.0'] as const);
  const segs = f.segments;
  const what = rng.weighted([
    [2, 'swap'], [2, 'overlap'], [2, 'huge-offset'], [2, 'realsize'], [1, 'length-lie'], [1, 'zero-parts'], [1, 'drop'], [2, 'many'], [style === 'S' ? 2 : 0, 'ext-chain'], [1, 'none'],
  ] as const);
  let description: string;
  let extChain = 0;
  switch (what) {
    case 'swap':
      if (segs.length >= 2) { const k = rng.int(segs.length - 1); [segs[k], segs[k + 1]] = [segs[k + 1], segs[k]]; }
      description = 'two parts swapped (out of order)';
      break;
    case 'overlap':
      if (segs.length >= 2) { const k = 1 + rng.int(segs.length - 1); segs[k].offset = segs[k - 1].offset + segs[k - 1].length / 2n; }
      else segs.push({ offset: 0n, length: 1n });
      description = 'a part overlapping the one before';
      break;
    case 'huge-offset': {
      const k = rng.int(Math.max(1, segs.length));
      const v = rng.pick([2n ** 53n - 1n, 2n ** 53n, 2n ** 60n, 2n ** 63n - 1n, 2n ** 44n, 2n ** 32n * 4096n]);
      if (segs[k]) segs[k].offset = v;
      if (rng.chance(0.7)) f.realSize = v + (segs[k]?.length ?? 0n);
      description = `part ${k} at ${v}, real size ${f.realSize}`;
      break;
    }
    case 'realsize':
      f.realSize = rng.pick([0n, 1n, f.realSize - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n, 2n ** 40n + 7n, 99999999999999999999n]);
      description = `real size := ${f.realSize}`;
      break;
    case 'length-lie': {
      const k = rng.int(Math.max(1, segs.length));
      if (segs[k]) segs[k].length += rng.pick([1n, -1n, 1000n, 2n ** 40n]);
      description = `part ${k} length changed (Σ no longer the stored bytes)`;
      break;
    }
    case 'zero-parts':
      for (let k = 0; k < rng.range(1, 50); k++) segs.splice(rng.int(segs.length + 1), 0, { offset: segs.length ? segs[Math.max(0, segs.length - 1)].offset : 0n, length: 0n });
      description = 'zero-length parts inserted';
      break;
    case 'drop':
      segs.splice(rng.int(Math.max(1, segs.length)), 1);
      description = 'a part dropped from the map';
      break;
    case 'many': {
      // (A pax 0.0/0.1 map of 10^6 parts is past the reader's 16 MiB limit on extended headers anyway.)
      const n = rng.pick(style === '0.0' || style === '0.1' ? [1000, 30_000, 300_000] : [1000, 30_000, 300_000, 1_000_000]);
      const gap = BigInt(rng.pick([1, 4096, 8192, 1 << 20]));
      segs.length = 0;
      for (let k = 0; k < n; k++) segs.push({ offset: BigInt(k) * (gap + 1n), length: 1n });
      f.stored = new Uint8Array(n).fill(0x5a);
      f.realSize = BigInt(n) * (gap + 1n);
      description = `${n} one-byte parts, ${gap} bytes apart`;
      break;
    }
    case 'ext-chain':
      extChain = rng.pick([1, 50, 10_000, 200_000]);
      description = `${extChain} empty extension blocks chained after the map`;
      break;
    default:
      description = `re-encoded as ${style}`;
  }
  let out = encodeSparse(rng, f, style, extChain);
  // The old GNU map ends at the first empty offset field: a part at offset 0 after the first reads as the end.
  if (style === 'S' && rng.chance(0.1)) { out[0].header[482] = 1; out[0].ext = []; setChecksum(out[0].header); description += '; isextended set with no extension block (the data is read as one)'; }
  if (style === '1.0' && rng.chance(0.25)) out = mutateMapText(rng, out);
  units.splice(from, to - from, ...out);
  return { units, region: `sparse entry '${f.name.slice(0, 40)}'`, description: `GNU sparse ${style}: ${description} (${segs.length} parts)`, attack: `sparse-${what}` };
}

/** Damages the text of a 1.0 map (the start of the data). */
function mutateMapText(rng: Rng, out: Unit[]): Unit[] {
  const body = out[out.length - 1];
  const d: Uint8Array = body.data.slice();
  const nl = d.indexOf(0x0a);
  const how = rng.pick(['count-huge', 'count-big', 'non-digit', 'long-number', 'no-padding', 'crlf']);
  let data: Uint8Array = d;
  if (how === 'count-huge') data = concat([enc('99999999999999999999'), d.subarray(nl)]);
  else if (how === 'count-big') data = concat([enc(String(rng.pick([1_000_000_000, 2 ** 31, 100]))), d.subarray(nl)]);
  else if (how === 'non-digit') { d[rng.int(Math.max(1, nl))] = 0x2d; }
  else if (how === 'long-number') data = concat([enc('0'.repeat(30) + '1'), d.subarray(nl)]);
  else if (how === 'crlf') data = concat([d.subarray(0, nl), enc('\r'), d.subarray(nl)]);
  else {
    const text = d.subarray(0, d.indexOf(0) < 0 ? d.length : d.indexOf(0));
    data = concat([text, d.subarray(padded(text.length))]);
  }
  body.data = data;
  writeNumber(body.header, 124, 12, data.length);
  setChecksum(body.header);
  return out;
}

// ---------------------------------------------------------------------------------------------
// structure, names, links

function structureChange(rng: Rng, units: Unit[], trailer: Uint8Array): Change {
  const op = rng.pick(['drop', 'duplicate', 'swap', 'x-before-end', 'L-alone', 'L-twice', 'meta-limit', 'zero-between', 'no-end', 'one-end-block', 'volume', 'multivolume', 'dir-over-file', 'file-over-dir', 'below-file', 'root-file', 'dumpdir', 'junk-after-end', 'global-twice'] as const);
  const i = pickEntry(rng, units);
  const at = Math.min(i, units.length);
  const u = units[at];
  const nm = u ? Buffer.from(nameOf(u)).toString('latin1') : 'x';
  const add = (k: number, ...x: Unit[]) => units.splice(k, 0, ...x);
  const mk = (h: Parameters<typeof header>[0], data: Uint8Array = new Uint8Array(0)): Unit => ({ header: header({ ...h, size: h.size ?? data.length }), ext: [], data, typeflag: h.typeflag ?? '0' });
  let description: string = op;
  let tr: Uint8Array = trailer;
  switch (op) {
    case 'drop': if (u) units.splice(at, 1); description = `drop unit ${at} ('${nm}')`; break;
    case 'duplicate': if (u) add(rng.int(units.length + 1), { ...u, header: u.header.slice() }); description = `duplicate unit ${at} ('${nm}')`; break;
    case 'swap': { const k = rng.int(Math.max(1, units.length)); if (u && units[k]) [units[at], units[k]] = [units[k], units[at]]; description = `swap units ${at} and ${k}`; break; }
    case 'x-before-end': add(units.length, mk({ name: 'PaxHeaders/x', typeflag: 'x' }, paxData([['path', 'never']]))); description = 'an extended header right before the end-of-archive block'; break;
    case 'L-alone': add(units.length, mk({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, enc('orphan-name\0'))); description = 'a GNU long name with no entry after it'; break;
    case 'L-twice': add(at, mk({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, enc('first\0')), mk({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, enc('second\0'))); description = `two GNU long names before unit ${at}`; break;
    case 'meta-limit': {
      const n = rng.pick([MAX_META, MAX_META + 1, MAX_META - 1]);
      const t = rng.pick(['L', 'K', 'x', 'g']);
      const data = t === 'x' || t === 'g' ? paxRecordOfLength('comment', n) : new Uint8Array(n).fill(0x61);
      add(at, mk({ name: '././@LongLink', typeflag: t, format: 'gnu' }, data));
      description = `a '${t}' header of ${n} bytes (the reader's limit is ${MAX_META})`;
      break;
    }
    case 'zero-between': units.splice(at, 0, { header: new Uint8Array(BLOCK), ext: [], data: new Uint8Array(0), typeflag: '\0' }); description = `a zero block before unit ${at} (an early end)`; break;
    case 'no-end': tr = new Uint8Array(0); description = 'no end-of-archive blocks'; break;
    case 'one-end-block': tr = new Uint8Array(BLOCK); description = 'one end-of-archive block'; break;
    case 'volume': add(at, mk({ name: 'label', typeflag: 'V', format: 'gnu', size: rng.pick([0, 100, 2 ** 33]) })); description = 'a volume label with a size'; break;
    case 'multivolume': add(at, mk({ name: 'cont', typeflag: 'M', format: 'gnu' }, enc('rest'))); description = 'a multi-volume continuation'; break;
    case 'dir-over-file': add(units.length, mk({ name: nm || 'f', typeflag: '5', mode: 0o700 })); description = `a directory entry replacing '${nm}'`; break;
    case 'file-over-dir': {
      const d = units.find((x) => x.typeflag === '5');
      const dn = d ? Buffer.from(nameOf(d)).toString('latin1').replace(/\/$/, '') : 'sub';
      add(units.length, mk({ name: dn }, enc('now a file')), mk({ name: `${dn}/after` }, enc('below a file')));
      description = `'${dn}' replaced by a file, then an entry below it`;
      break;
    }
    case 'below-file': add(units.length, mk({ name: `${nm}/child` }, enc('x'))); description = `an entry below the file '${nm}'`; break;
    case 'root-file': add(at, mk({ name: rng.pick(['.', './', '/', '']) }, enc('root as a file'))); description = 'the root given as a regular file'; break;
    case 'dumpdir': add(at, mk({ name: 'dump', typeflag: 'D', format: 'gnu' }, new Uint8Array(rng.pick([1, 10_000])).fill(0x59))); description = 'a GNU dump directory with a listing'; break;
    case 'junk-after-end': tr = concat([END, rng.bytes(rng.range(1, 5000))]); description = 'junk after the end-of-archive blocks'; break;
    case 'global-twice': add(at, mk({ name: 'g', typeflag: 'g' }, paxData([['uid', '5']])), mk({ name: 'g', typeflag: 'g' }, paxData([['uid', '']]))); description = 'two global headers, the second deleting the first uid'; break;
  }
  return { units, trailer: tr, region: 'structure', description, attack: `structure-${op}` };
}

/** `body` (` key=value\n` or a broken form of it) led by the length that counts it all. */
function selfCounting(body: Uint8Array): Uint8Array {
  let n = body.length + 1;
  while (String(n).length + body.length !== n) n = String(n).length + body.length;
  return concat([enc(String(n)), body]);
}

/** One pax record of exactly `n` bytes (n ≥ 12). */
function paxRecordOfLength(key: string, n: number): Uint8Array {
  let v = Math.max(0, n - key.length - 3 - String(n).length);
  for (let k = 0; k < 3; k++) { const r = paxRecord(key, 'v'.repeat(v)); if (r.length === n) return r; v += n - r.length; }
  return paxRecord(key, 'v'.repeat(v));
}

const NAMES = (other: string): (string | Uint8Array)[] => [
  '', '.', './', '/', '..', '../x', 'a/../b', '/etc/passwd', 'a//b/./c', 'x'.repeat(100), Uint8Array.from([0xff, 0xfe, 0x2f, 0x80]), other, `${other}/child`,
  'a/', 'name\u0000hidden', 'lost+found', 'lost+found/x', 'GNUSparseFile.0/x', 'x'.repeat(99) + '/', '\\..\\x', 'C:/x', '....', '. /x',
];

function nameChange(rng: Rng, units: Unit[]): Change {
  const i = pickEntry(rng, units);
  const u = units[i];
  if (!u) return { units, region: '-', description: 'no entry to rename' };
  const others = units.filter((x) => !META.has(x.typeflag)).map((x) => Buffer.from(nameOf(x)).toString('latin1'));
  const name = rng.pick(NAMES(rng.pick(others.length ? others : ['x'])));
  const how = rng.pick(['field', 'field', 'pax', 'longname', 'prefix']);
  if (how === 'field') { writeBytes(u.header, 0, 100, name); setChecksum(u.header); }
  else if (how === 'prefix') { writeBytes(u.header, 257, 8, 'ustar\u000000'); writeBytes(u.header, 345, 155, name); setChecksum(u.header); }
  else if (how === 'pax') {
    const xi = paxBefore(units, i);
    const recs = splitPax(units[xi].data).filter(([k]) => k !== 'path');
    recs.push(['path', bytesOf(name)]);
    setMeta(rng, units[xi], paxData(recs), false);
  } else {
    const data = concat([bytesOf(name), new Uint8Array([0])]);
    units.splice(i, 0, { header: header({ name: '././@LongLink', typeflag: 'L', format: 'gnu', size: data.length }), ext: [], data, typeflag: 'L' });
  }
  return { units, region: `name of unit ${i}`, description: `unit ${i} renamed (${how}) to ${show(bytesOf(name))}`, attack: 'names' };
}

function linkChange(rng: Rng, units: Unit[]): Change {
  const names = units.filter((x) => !META.has(x.typeflag)).map((x) => ({ name: Buffer.from(nameOf(x)).toString('latin1'), t: x.typeflag }));
  const pick = (pred: (t: string) => boolean) => names.filter((n) => pred(n.t)).map((n) => n.name);
  const files = pick((t) => t === '0' || t === '7');
  const dirs = pick((t) => t === '5');
  const syms = pick((t) => t === '2');
  const target = rng.pick([
    'nonexistent', '.', './', '/', '..', '', rng.pick(files.length ? files : ['f']), rng.pick(dirs.length ? dirs : ['d']), rng.pick(syms.length ? syms : ['s']),
    `${rng.pick(syms.length ? syms : ['s'])}/x`, 'self', 'later',
  ]);
  const kind = rng.pick(['hard', 'hard', 'symlink', 'many-hard', 'retarget']);
  const at = rng.int(units.length + 1);
  const mk = (h: Parameters<typeof header>[0]): Unit => ({ header: header({ ...h, size: 0 }), ext: [], data: new Uint8Array(0), typeflag: h.typeflag ?? '0' });
  let description: string;
  if (kind === 'many-hard') {
    const n = rng.pick([1000, 65_000, 65_001]);
    const f = files.length ? rng.pick(files) : 'f';
    const extra: Unit[] = [];
    for (let k = 0; k < n; k++) extra.push(mk({ name: `hl/${k}`, typeflag: '1', linkname: f }));
    units.splice(units.length, 0, ...extra);
    description = `${n} hard links to '${f}'`;
  } else if (kind === 'retarget') {
    const i = pickEntry(rng, units, (u) => u.typeflag === '1' || u.typeflag === '2');
    const u = units[i];
    const long = rng.chance(0.3);
    const t = long ? 'x'.repeat(rng.pick([4094, 4095, 4096, 70_000])) : target;
    if (u && (u.typeflag === '1' || u.typeflag === '2')) {
      if (long) { const xi = paxBefore(units, i); setMeta(rng, units[xi], paxData([...splitPax(units[xi].data).filter(([k]) => k !== 'linkpath'), ['linkpath', t]]), false); }
      else { writeBytes(u.header, 157, 100, t); setChecksum(u.header); }
    }
    description = `link of unit ${i} retargeted to ${show(t)}`;
  } else {
    const self = `link-${at}`;
    const t = target === 'self' ? self : target === 'later' ? 'made-later' : target;
    const extra = [mk({ name: self, typeflag: kind === 'hard' ? '1' : '2', linkname: t })];
    if (target === 'later') extra.push({ header: header({ name: 'made-later', size: 5 }), ext: [], data: enc('later'), typeflag: '0' });
    units.splice(at, 0, ...extra);
    description = `${kind} link '${self}' → ${show(t)}`;
  }
  return { units, region: 'links', description, attack: `links-${kind}` };
}

// ---------------------------------------------------------------------------------------------
// generators: inputs that test bounds

let zerosMember: Uint8Array | undefined;
/** A gzip member of 64 MiB of zeros (about 65 KB), made once per process. */
function gzipZeros(): Uint8Array {
  return (zerosMember ??= new Uint8Array(gzipSync(new Uint8Array(64 << 20), { level: 9 })));
}

/** A zstd frame of `n` zeros (n a multiple of 128 KiB) in RLE blocks: 4 bytes per 128 KiB. */
export function zstdZeros(n: number): Uint8Array {
  const blocks = Math.ceil(n / (128 << 10));
  const out = new Uint8Array(6 + blocks * 4);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]); // magic; no checksum, no content size; window 128 KiB
  for (let k = 0; k < blocks; k++) {
    const size = k === blocks - 1 ? n - (blocks - 1) * (128 << 10) : 128 << 10;
    const v = (size << 3) | (1 << 1) | (k === blocks - 1 ? 1 : 0);
    out.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, 0], 6 + 4 * k);
  }
  return out;
}

/** `GiB` gibibytes of zeros as gzip members (64 MiB each) or one zstd frame. */
function zeros(wrap: 'gzip' | 'zstd', bytes: number): Uint8Array {
  if (wrap === 'zstd') return zstdZeros(bytes);
  const m = gzipZeros();
  const n = Math.ceil(bytes / (64 << 20));
  const out = new Uint8Array(m.length * n);
  for (let k = 0; k < n; k++) out.set(m, k * m.length);
  return out;
}

function compressed(wrap: 'gzip' | 'zstd', b: Uint8Array): Uint8Array {
  return wrap === 'gzip' ? new Uint8Array(gzipSync(b)) : new Uint8Array(zstdCompress(Buffer.from(b.buffer, b.byteOffset, b.length)));
}

function generate(rng: Rng, units: Unit[]): Change {
  const what = rng.weighted([[4, 'bomb'], [2, 'many-entries'], [2, 'deep-path'], [2, 'global-flood'], [1, 'wide-dir'], [1, 'huge-declared']] as const);
  const GiB = 2 ** 30;
  switch (what) {
    case 'bomb': {
      const wrap = rng.pick(['gzip', 'zstd'] as const);
      const shape = rng.pick(['file', 'trailer', 'short', 'sparse-data'] as const);
      // gzip inflates zeros at about 1 GB/s, zstd RLE blocks much faster: the sizes are ones a bounded reader gets through in seconds, or refuses.
      // A trailer (zeros after the end-of-archive block) is nothing a reader needs: its sizes go
      // well past what a case's timeout allows to decompress.
      const n = shape === 'trailer' ? rng.pick(wrap === 'zstd' ? [8, 256] : [1, 8]) * GiB : rng.pick(wrap === 'zstd' ? [1, 2] : [0.25, 0.5]) * GiB;
      const small = joinTar(units.slice(0, 6), new Uint8Array(0));
      let parts: Uint8Array[];
      if (shape === 'file') {
        parts = [compressed(wrap, concat([small, header({ name: 'zeros.img', size: n })])), zeros(wrap, n), compressed(wrap, END)];
      } else if (shape === 'trailer') {
        parts = [compressed(wrap, concat([small, END])), zeros(wrap, n)];
      } else if (shape === 'short') {
        parts = [compressed(wrap, concat([small, header({ name: 'zeros.img', size: BigInt(n) * 4n })])), zeros(wrap, n)];
      } else {
        // A pax 1.0 sparse file whose map says one part of n bytes: all of it zeros.
        const map = padTo512(enc(`1\n0\n${n}\n`));
        const x = paxData([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0'], ['GNU.sparse.name', 'zeros.img'], ['GNU.sparse.realsize', String(n * 2)]]);
        parts = [compressed(wrap, concat([small, entry({ name: 'PaxHeaders/x', typeflag: 'x' }, x), header({ name: 'GNUSparseFile.0/zeros.img', size: map.length + n }), map])), zeros(wrap, n), compressed(wrap, END)];
      }
      const bytes = concat(parts);
      return { final: { bytes, wrap }, region: 'bomb', description: `${wrap} bomb (${shape}): ${n / GiB} GiB of zeros from ${bytes.length} bytes`, attack: `bomb-${shape}` };
    }
    case 'many-entries': {
      // (10^6 entries is a test of its own: test/tar-hostile.test.ts.)
      const n = rng.pick([20_000, 50_000]);
      const withData = rng.chance(0.5);
      const h = header({ name: 'x', size: withData ? 1 : 0 });
      const per = withData ? 2 * BLOCK : BLOCK;
      const out = new Uint8Array(n * per + 2 * BLOCK);
      for (let k = 0; k < n; k++) {
        const b = out.subarray(k * per, k * per + BLOCK);
        b.set(h);
        writeBytes(b, 0, 100, `d${k % 97}/f${k}`);
        setChecksum(b);
        if (withData) out[k * per + BLOCK] = 0x41 + (k % 26);
      }
      return { plain: out, wrap: 'zstd', region: 'entries', description: `${n} tiny entries${withData ? ' of 1 byte' : ''} in 97 implicit directories`, attack: 'many-entries' };
    }
    case 'deep-path': {
      const depth = rng.pick([1000, 10_000, 100_000, 1_000_000]);
      const how = rng.pick(['pax', 'L']);
      const path = enc(`${'a/'.repeat(depth)}f`);
      const meta = how === 'pax' ? entry({ name: 'PaxHeaders/x', typeflag: 'x' }, paxData([['path', path]])) : entry({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, concat([path, new Uint8Array(1)]));
      const plain = concat([meta, entry({ name: 'ignored' }, enc('deep')), END]);
      return { plain, wrap: 'gzip', region: 'path', description: `a path ${depth} directories deep (${how}, ${path.length} bytes)`, attack: 'deep-path' };
    }
    case 'global-flood': {
      const records = rng.pick([10_000, 300_000, 2_500_000]);
      const entries = rng.pick([10, 1000, 20_000]);
      const one = paxRecord('a', 'b'); // "6 a=b\n"
      const data = new Uint8Array(records * one.length);
      for (let k = 0; k < records; k++) data.set(one, k * one.length);
      const h = header({ name: 'f', size: 0 });
      const body = new Uint8Array(entries * BLOCK);
      for (let k = 0; k < entries; k++) { const b = body.subarray(k * BLOCK, (k + 1) * BLOCK); b.set(h); writeBytes(b, 0, 100, `f${k}`); setChecksum(b); }
      const plain = concat([entry({ name: 'GlobalHead.0/g', typeflag: 'g' }, data), body, END]);
      return { plain, wrap: 'zstd', region: 'global header', description: `a global pax header of ${records} records, then ${entries} entries`, attack: 'pax-global-flood' };
    }
    case 'wide-dir': {
      const n = rng.pick([40_000, 60_000]);
      const out = new Uint8Array(n * BLOCK + 2 * BLOCK);
      const h = header({ name: 'x', typeflag: rng.pick(['0', '2', '6']), linkname: 't' });
      for (let k = 0; k < n; k++) { const b = out.subarray(k * BLOCK, (k + 1) * BLOCK); b.set(h); writeBytes(b, 0, 100, `wide/${'n'.repeat(k % 80)}${k}`); setChecksum(b); }
      return { plain: out, wrap: 'zstd', region: 'entries', description: `${n} entries in one directory, names up to 91 bytes`, attack: 'wide-dir' };
    }
    default: {
      const size = rng.pick([2n ** 33n, 2n ** 40n, 2n ** 53n - 1n, 2n ** 60n, 2n ** 63n - 1n]);
      const h = header({ name: 'huge.img', size: 0 });
      writeNumber(h, 124, 12, size, 'base256');
      setChecksum(h);
      const plain = concat([h, new Uint8Array(rng.pick([0, 512, 4096])), rng.chance(0.5) ? END : new Uint8Array(0)]);
      return { plain, region: 'size', description: `a file declaring ${size} bytes, with almost nothing after`, attack: 'huge-declared' };
    }
  }
}
