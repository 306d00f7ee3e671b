/**
 * Structure-aware mutations of qcow2 images (qemu docs/interop/qcow2.txt): the header fields,
 * the L1 table, L2 tables, the refcount table, the backing file name and data clusters. qcow2
 * has no checksums, so the "crafted" flavour is field writes with values aimed at the reader's
 * semantic checks (pointers at the header, at the tables themselves, past the end, huge sizes,
 * compressed-cluster descriptors, backing names that loop or name special files).
 */
import type { Rng } from './rng.ts';
import type { MutationResult } from './mutate-archive.ts';

interface QField { name: string; offset: number; size: number }
const Q = (name: string, offset: number, size: number): QField => ({ name, offset, size });
const QCOW2_FIELDS: QField[] = [
  Q('magic', 0, 4), Q('version', 4, 4), Q('backingFileOffset', 8, 8), Q('backingFileSize', 16, 4), Q('clusterBits', 20, 4),
  Q('size', 24, 8), Q('cryptMethod', 32, 4), Q('l1Size', 36, 4), Q('l1TableOffset', 40, 8), Q('refcountTableOffset', 48, 8),
  Q('refcountTableClusters', 56, 4), Q('nbSnapshots', 60, 4), Q('snapshotsOffset', 64, 8), Q('incompatibleFeatures', 72, 8),
  Q('compatibleFeatures', 80, 8), Q('autoclearFeatures', 88, 8), Q('refcountOrder', 96, 4), Q('headerLength', 100, 4), Q('compressionType', 104, 1),
];

interface QAnatomy {
  clusterSize: number;
  clusterBits: number;
  l1Offset: number;
  l1Size: number;
  l2Offsets: number[];
  refcountOffset: number;
  backing?: { offset: number; size: number };
  regions: { name: string; offset: number; length: number }[];
}

const be64 = (v: DataView, at: number) => v.getUint32(at) * 0x100000000 + v.getUint32(at + 4);

function dissectQcow2(b: Uint8Array): QAnatomy {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const clusterBits = v.getUint32(20);
  const clusterSize = 2 ** clusterBits;
  const l1Size = v.getUint32(36);
  const l1Offset = be64(v, 40);
  const l2Offsets: number[] = [];
  for (let i = 0; i < l1Size; i++) {
    const e = be64(v, l1Offset + i * 8) % 2 ** 56;
    const off = e - (e % 512);
    if (off) l2Offsets.push(off);
  }
  const refcountOffset = be64(v, 48);
  const bOff = be64(v, 8);
  const backing = bOff ? { offset: bOff, size: v.getUint32(16) } : undefined;
  const regions = [
    { name: 'qcow2 header', offset: 0, length: 112 },
    { name: 'L1', offset: l1Offset, length: l1Size * 8 },
    { name: 'refcount table', offset: refcountOffset, length: v.getUint32(56) * clusterSize },
    ...l2Offsets.map((o, i) => ({ name: `L2#${i}`, offset: o, length: clusterSize })),
    ...(backing ? [{ name: 'backing name', offset: backing.offset, length: backing.size }] : []),
    { name: 'data', offset: Math.min(b.length - 1, clusterSize * 3), length: Math.max(1, b.length - clusterSize * 3) },
  ].filter((r) => r.length > 0 && r.offset < b.length);
  return { clusterSize, clusterBits, l1Offset, l1Size, l2Offsets, refcountOffset, backing, regions };
}

function setBE(b: Uint8Array, at: number, size: number, value: bigint): void {
  const x = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) b[at + size - 1 - i] = Number((x >> BigInt(8 * i)) & 0xffn);
}

function getBE(b: Uint8Array, at: number, size: number): bigint {
  let x = 0n;
  for (let i = 0; i < size; i++) x = (x << 8n) | BigInt(b[at + i] ?? 0);
  return x;
}

/** One mutation of a qcow2 image; `selfName` is its own file name (for backing-name loops). */
export function mutateQcow2(rng: Rng, bytes: Uint8Array, flavour: 'raw' | 'crafted', selfName: string, siblingNames: string[]): MutationResult {
  const b = bytes.slice();
  const an = dissectQcow2(bytes);
  const done = (region: string, description: string, extra: Partial<MutationResult> = {}): MutationResult => ({ bytes: b, region, description, reseal: false, ...extra });
  if (flavour === 'raw') {
    const r = rng.pick(an.regions);
    const op = rng.weighted([[4, 'flip'], [3, 'set'], [1, 'truncate'], [1, 'extend']] as const);
    if (op === 'flip') {
      const n = rng.pick([1, 1, 2, 4]);
      for (let i = 0; i < n; i++) b[r.offset + rng.int(r.length)] ^= 1 << rng.int(8);
      return done(r.name, `flip ${n} bit(s) in ${r.name}`);
    }
    if (op === 'set') {
      const at = r.offset + rng.int(r.length);
      const v = rng.pick([0, 0xff, rng.next() & 0xff]);
      b.fill(v, at, Math.min(b.length, at + rng.pick([1, 2, 8])));
      return done(r.name, `set bytes at ${at} (${r.name}) to 0x${v.toString(16)}`);
    }
    if (op === 'truncate') {
      const n = rng.pick([0, 4, 71, 104, r.offset, r.offset + 1, rng.int(b.length), b.length - 1]);
      return { ...done(r.name, `truncate to ${Math.min(n, b.length - 1)}`), bytes: b.slice(0, Math.min(n, b.length - 1)) };
    }
    const out = new Uint8Array(b.length + 4096);
    out.set(b);
    out.set(rng.bytes(4096), b.length);
    return { ...done('end', 'append 4096 random bytes'), bytes: out };
  }
  const cs = BigInt(an.clusterSize);
  const fileSize = BigInt(bytes.length);
  const target = rng.weighted([[4, 'header'], [3, 'l1'], [5, 'l2'], [an.backing ? 3 : 1, 'backing'], [1, 'refcount']] as const);
  const pointers = [0n, cs, BigInt(an.l1Offset), BigInt(an.l2Offsets[0] ?? 0), fileSize, fileSize + cs, fileSize - 1n, 1n << 55n, (1n << 56n) - 512n, 7n, cs + 1n, BigInt(an.refcountOffset)];
  switch (target) {
    case 'header': {
      const f = rng.pick(QCOW2_FIELDS);
      const cur = getBE(b, f.offset, f.size);
      const pool = [0n, 1n, 2n, 3n, cur + 1n, cur - 1n, cur * 2n, (1n << BigInt(f.size * 8)) - 1n, 1n << BigInt(f.size * 8 - 1), 2n ** 53n, 2n ** 53n - 1n, 2n ** 62n, 9n, 21n, 22n, 63n, 4096n, fileSize, 1n << 32n, 1n << 22n];
      const value = rng.pick(pool.filter((x) => x >= 0n));
      setBE(b, f.offset, f.size, value);
      return done('qcow2 header', `header.${f.name} = ${value}`, { attack: f.name === 'size' || f.name === 'l1Size' ? 'qcow2-huge' : undefined });
    }
    case 'l1': {
      if (!an.l1Size) return done('L1', 'no L1 (unchanged)');
      const i = rng.int(an.l1Size);
      const p = rng.pick(pointers);
      const flags = rng.pick([0n, 1n << 63n, 1n]);
      setBE(b, an.l1Offset + i * 8, 8, p | flags);
      return done('L1', `L1[${i}] = 0x${(p | flags).toString(16)}`);
    }
    case 'l2': {
      if (!an.l2Offsets.length) return done('L2', 'no L2 (unchanged)');
      const t = rng.pick(an.l2Offsets);
      const n = an.clusterSize / 8;
      const i = rng.int(n);
      const kind = rng.pick(['standard', 'compressed', 'zero', 'garbage']);
      let e: bigint;
      if (kind === 'standard') e = rng.pick(pointers) | rng.pick([0n, 1n << 63n, 1n]);
      else if (kind === 'zero') e = rng.pick([1n, (BigInt(an.l2Offsets[0]) | 1n)]);
      else if (kind === 'garbage') e = getBE(rng.bytes(8), 0, 8);
      else {
        // Compressed: bit 62, host offset in the low x bits, sector count above (x = 62 − (cluster_bits − 8)).
        const x = 62n - BigInt(an.clusterBits - 8);
        const host = rng.pick([0n, cs, BigInt(an.l1Offset), fileSize - 10n, fileSize, (1n << x) - 1n]);
        const sectors = rng.pick([0n, 1n, (1n << (62n - x)) - 1n]);
        e = (1n << 62n) | (sectors << x) | (host & ((1n << x) - 1n));
      }
      setBE(b, t + i * 8, 8, e);
      return done('L2', `L2@${t}[${i}] = ${kind} 0x${e.toString(16)}`);
    }
    case 'backing': {
      const name = rng.pick([selfName, ...siblingNames, '/dev/zero', '/dev/urandom', 'fifo.qcow2', '', '.', '/', 'no-such', 'a'.repeat(900)]);
      const enc = new TextEncoder().encode(name);
      let off = an.backing?.offset ?? 512;
      if (off + enc.length > Math.min(an.clusterSize, b.length)) off = Math.max(112, Math.min(an.clusterSize, b.length) - enc.length);
      b.set(enc, off);
      setBE(b, 8, 8, BigInt(off));
      setBE(b, 16, 4, BigInt(rng.chance(0.8) ? enc.length : rng.pick([0, 1023, 1024, 0xffffffff])));
      const fifo = name === 'fifo.qcow2' ? name : undefined;
      return done('backing name', `backing file := ${JSON.stringify(name.slice(0, 30))}`, { fifo, attack: fifo ? 'fifo-backing' : name === selfName ? 'backing-cycle' : name.startsWith('/dev') ? 'special-file-backing' : undefined });
    }
    case 'refcount': {
      setBE(b, 48, 8, rng.pick(pointers));
      setBE(b, 56, 4, rng.pick([0n, 1n, 0xffffffffn]));
      return done('refcount table', 'refcount table offset/clusters changed');
    }
  }
}
