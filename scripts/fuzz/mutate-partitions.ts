/**
 * Structure-aware mutations of a disk's partition table (UEFI 2.10 §5.2–5.3; the DOS MBR and
 * its EBR chain): MBR entries, status bytes and signature; either GPT header and either entry
 * array; EBR data and link entries (loops, links out of the extended partition); the start of a
 * filesystem inside a partition; and the image's size (a backup GPT cut off or no longer at the
 * last LBA). The "crafted" flavour then recomputes the GPT CRC32s (gpt-reseal.ts) so the header
 * and array checks pass and the layout checks are what must catch the lie.
 */
import { resealGpt } from './gpt-reseal.ts';
import type { MutationResult } from './mutate-archive.ts';
import type { Rng } from './rng.ts';

const SECTOR = 512;
const EXTENDED = new Set([0x05, 0x0f, 0x85]);

/** Where the table structures of a healthy seed image are. */
interface PartitionLayout {
  sectors: number;
  /** Byte offsets of GPT headers (primary first) and their entry arrays. */
  gpt: { header: number; entries: number; count: number; size: number }[];
  /** Sector numbers of the EBRs, in chain order. */
  ebrs: number[];
  /** Byte ranges of the partitions (to reach the filesystems inside). */
  partitions: { offset: number; size: number }[];
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
function u64(b: Uint8Array, at: number): number {
  return u32(b, at) + u32(b, at + 4) * 2 ** 32;
}
function setLE(b: Uint8Array, at: number, size: number, value: bigint): void {
  const x = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) b[at + i] = Number((x >> BigInt(8 * i)) & 0xffn);
}
function getLE(b: Uint8Array, at: number, size: number): bigint {
  let x = 0n;
  for (let i = size - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[at + i] ?? 0);
  return x;
}

/** The layout of a healthy seed (made by sgdisk/sfdisk): trusted, so decoded without checks. */
function partitionLayout(b: Uint8Array): PartitionLayout {
  const sectors = Math.floor(b.length / SECTOR);
  const out: PartitionLayout = { sectors, gpt: [], ebrs: [], partitions: [] };
  const hasGpt = new TextDecoder().decode(b.subarray(512, 520)) === 'EFI PART';
  if (hasGpt) {
    for (const header of [512, u64(b, 512 + 32) * SECTOR]) {
      out.gpt.push({ header, entries: u64(b, header + 72) * SECTOR, count: u32(b, header + 80), size: u32(b, header + 84) });
    }
    const g = out.gpt[0];
    for (let i = 0; i < g.count; i++) {
      const e = g.entries + i * g.size;
      const first = u64(b, e + 32);
      if (first) out.partitions.push({ offset: first * SECTOR, size: (u64(b, e + 40) - first + 1) * SECTOR });
    }
    return out;
  }
  if (b[510] !== 0x55 || b[511] !== 0xaa) return out;
  for (let slot = 0; slot < 4; slot++) {
    const e = 446 + slot * 16;
    const type = b[e + 4];
    const start = u32(b, e + 8);
    const count = u32(b, e + 12);
    if (!type || !count) continue;
    out.partitions.push({ offset: start * SECTOR, size: count * SECTOR });
    if (!EXTENDED.has(type)) continue;
    for (let ebr: number | undefined = start; ebr !== undefined && out.ebrs.length < 64;) {
      out.ebrs.push(ebr);
      const s = ebr * SECTOR;
      let next: number | undefined;
      for (let k = 0; k < 4; k++) {
        const x = s + 446 + k * 16;
        if (!b[x + 4] || !u32(b, x + 12)) continue;
        if (EXTENDED.has(b[x + 4])) next = start + u32(b, x + 8);
        else out.partitions.push({ offset: (ebr + u32(b, x + 8)) * SECTOR, size: u32(b, x + 12) * SECTOR });
      }
      ebr = next;
    }
  }
  return out;
}

export function mutatePartitions(rng: Rng, healthy: Uint8Array, flavour: 'raw' | 'crafted'): MutationResult {
  const L = partitionLayout(healthy);
  // Now and then two changes: a lie the first one tells can need a second to get past a check.
  const count = rng.weighted([[4, 1], [1, 2]] as const);
  let b: Uint8Array = healthy.slice();
  const done: Change[] = [];
  for (let k = 0; k < count; k++) {
    const c = change(rng, b, L, k === count - 1);
    b = c.bytes;
    done.push(c);
  }
  if (flavour === 'crafted') resealGpt(b);
  return {
    bytes: b, region: done.map((c) => c.region).join(' + '), attack: done.map((c) => c.attack).filter(Boolean).join('+') || undefined, reseal: false,
    description: `${done.map((c) => c.description).join('; ')}${flavour === 'crafted' ? '; GPT CRCs recomputed' : ''}`,
  };
}

interface Change { bytes: Uint8Array; region: string; description: string; attack?: string }

/** One change of `b` (in place, or a resized copy when `mayResize`). */
function change(rng: Rng, b: Uint8Array, L: PartitionLayout, mayResize: boolean): Change {
  const last = L.sectors - 1;
  const lbas = () => {
    const p = L.partitions.length ? rng.pick(L.partitions) : { offset: 2048 * SECTOR, size: SECTOR };
    return rng.pick([0n, 1n, 2n, 33n, 34n, 63n, 2048n, BigInt(p.offset / SECTOR), BigInt((p.offset + p.size) / SECTOR - 1), BigInt((p.offset + p.size) / SECTOR),
      BigInt(last - 34), BigInt(last - 33), BigInt(last), BigInt(L.sectors), BigInt(L.sectors + 1), 0xffffffffn, 1n << 32n, 2n ** 53n - 1n, 2n ** 53n, 1n << 63n, (1n << 64n) - 1n]);
  };
  const op = rng.weighted([
    [L.gpt.length ? 1 : 4, 'mbr-entry'], [1, 'mbr-sector'], [L.gpt.length ? 5 : 0, 'gpt-header'], [L.gpt.length ? 5 : 0, 'gpt-entry'],
    [L.gpt.length ? 1 : 0, 'gpt-copies'], [L.ebrs.length ? 6 : 0, 'ebr'], [L.partitions.length ? 1.5 : 3, 'filesystem'],
    [2, 'flip'], [mayResize ? 1 : 0, 'size'],
  ] as const);
  let region: string;
  let description: string;
  let attack: string | undefined;
  switch (op) {
    case 'mbr-entry':
    case 'ebr': {
      const sector = op === 'ebr' ? rng.pick(L.ebrs) : 0;
      const slot = rng.pick([0, 0, 1, 1, 2, 3]);
      const e = sector * SECTOR + 446 + slot * 16;
      const [name, off, size] = rng.pick([['status', 0, 1], ['type', 4, 1], ['start', 8, 4], ['start', 8, 4], ['count', 12, 4], ['count', 12, 4], ['chs', 1, 3]] as const);
      const ebrs = L.ebrs.map((s) => BigInt(s - (L.ebrs[0] ?? 0)));
      const v = name === 'status' ? rng.pick([0n, 0x80n, 0x7fn, 0x81n, 0xffn])
        : name === 'type' ? rng.pick([0n, 0x05n, 0x0fn, 0x85n, 0xeen, 0xefn, 0x83n, 0x07n, 0x0cn, 0x82n])
        : name === 'chs' ? rng.pick([0n, 0xffffffn])
        : op === 'ebr' && name === 'start' && slot === 1 ? rng.pick([0n, ...ebrs, 1n, 0xffffffffn, lbas()])
        : rng.chance(0.5) ? lbas() & 0xffffffffn : rng.pick([1n, 2n, 0x7fffffffn, 0x80000000n, BigInt(L.sectors), BigInt(L.sectors - 2048)]);
      setLE(b, e + off, size, v);
      region = op === 'ebr' ? `EBR at sector ${sector}` : 'MBR';
      description = `${region} entry ${slot} ${name} := 0x${v.toString(16)}`;
      attack = op === 'ebr' && name === 'start' && slot === 1 ? 'ebr-link' : undefined;
      break;
    }
    case 'mbr-sector': {
      const what = rng.pick(['signature', 'boot-fat', 'boot-ntfs', 'boot-exfat', 'disk-id', 'lvm-label', 'gpt-at-4096']);
      region = 'MBR';
      if (what === 'signature') { b[510] ^= rng.pick([1, 0x55, 0xff]); description = 'MBR signature damaged'; }
      else if (what === 'disk-id') { setLE(b, 440, 4, BigInt(rng.next())); description = 'MBR disk id changed'; }
      else if (what === 'boot-ntfs') { b.set(new TextEncoder().encode('NTFS    '), 3); description = 'sector 0 made to look like an NTFS boot sector'; }
      else if (what === 'boot-exfat') { b.set(new TextEncoder().encode('EXFAT   '), 3); description = 'sector 0 made to look like an exFAT boot sector'; }
      else if (what === 'lvm-label') { b.set(new TextEncoder().encode('LABELONE'), 512); b.set(new TextEncoder().encode('LVM2 001'), 512 + 24); description = 'an LVM label written at sector 1'; }
      else if (what === 'gpt-at-4096') {
        // The GPT moved to where a 4096-byte-sector disk has it, the 512-byte one wiped.
        b.copyWithin(4096, 512, 1024);
        b.fill(0, 512, 1024);
        description = 'GPT header moved from byte 512 to byte 4096';
      } else {
        b.set([0xeb, 0x3c, 0x90], 0);
        setLE(b, 11, 2, 512n);
        b[13] = rng.pick([0, 1, 3, 8]);
        setLE(b, 14, 2, BigInt(rng.pick([0, 1, 32])));
        b[16] = rng.pick([0, 2]);
        description = `sector 0 given a FAT BPB (sectors per cluster ${b[13]})`;
      }
      break;
    }
    case 'gpt-header': {
      const g = rng.pick(L.gpt);
      const fields: [string, number, number][] = [['signature', 0, 8], ['revision', 8, 4], ['header_size', 12, 4], ['header_crc', 16, 4], ['my_lba', 24, 8],
        ['alternate_lba', 32, 8], ['first_usable', 40, 8], ['last_usable', 48, 8], ['entries_lba', 72, 8], ['entry_count', 80, 4], ['entry_size', 84, 4], ['entries_crc', 88, 4]];
      const [name, off, size] = rng.pick(fields);
      const cur = getLE(b, g.header + off, size);
      const v = name === 'header_size' ? rng.pick([0n, 91n, 92n, 93n, 128n, 512n, 513n, 4096n, 0xffffffffn])
        : name === 'entry_count' ? rng.pick([0n, 1n, 3n, 127n, 129n, 8192n, 8193n, 0x10000n, 0xffffffffn])
        : name === 'entry_size' ? rng.pick([0n, 8n, 64n, 127n, 128n, 136n, 256n, 4096n, 0x80000000n, 0xffffffffn])
        : name === 'signature' || name === 'revision' ? cur ^ (1n << BigInt(rng.int(size * 8)))
        : name.endsWith('crc') ? cur ^ 1n
        : rng.chance(0.3) ? cur + rng.pick([1n, -1n, 34n]) : lbas();
      setLE(b, g.header + off, size, v);
      region = `GPT header at byte ${g.header}`;
      description = `${region} ${name} 0x${cur.toString(16)} → 0x${BigInt.asUintN(size * 8, v).toString(16)}`;
      break;
    }
    case 'gpt-entry': {
      const g = rng.pick(L.gpt);
      const used = L.partitions.length;
      const i = rng.pick([0, 1, used - 1, used, rng.int(Math.max(1, g.count)), g.count - 1]);
      const e = g.entries + Math.max(0, i) * g.size;
      const [name, off, size] = rng.pick([['type', 0, 16], ['unique', 16, 16], ['first_lba', 32, 8], ['first_lba', 32, 8], ['last_lba', 40, 8], ['last_lba', 40, 8], ['attributes', 48, 8], ['name', 56, 72]] as const);
      region = `GPT entry array at byte ${g.entries}`;
      if (name === 'type' || name === 'unique') {
        const v = rng.pick([new Uint8Array(16), rng.bytes(16), b.slice(g.entries, g.entries + 16)]);
        b.set(v, e + off);
        description = `GPT entry ${i + 1} ${name} GUID := ${Buffer.from(v).toString('hex')}`;
      } else if (name === 'name') {
        // Lone surrogates, no terminating NUL, a NUL in the middle.
        const units = rng.pick([[0xd800, 0x41], [0xdc00], Array(36).fill(0x263a), [0x41, 0, 0x42], [0xfeff, 0xffff]]);
        for (let k = 0; k < units.length; k++) setLE(b, e + off + 2 * k, 2, BigInt(units[k]));
        description = `GPT entry ${i + 1} name := units ${units.slice(0, 4).map((u) => u.toString(16)).join(',')}`;
      } else {
        const v = name === 'attributes' ? rng.pick([0n, 1n, 1n << 63n, (1n << 64n) - 1n]) : lbas();
        setLE(b, e + off, size, v);
        description = `GPT entry ${i + 1} ${name} := 0x${v.toString(16)}`;
        attack = name === 'attributes' ? undefined : 'gpt-lba';
      }
      break;
    }
    case 'gpt-copies': {
      const what = rng.pick(['wipe-primary', 'wipe-backup', 'wipe-both', 'copy-entry']);
      region = 'GPT';
      const [p, s] = L.gpt;
      if (what === 'wipe-primary') b.fill(0, p.header, p.header + SECTOR);
      else if (what === 'wipe-backup') b.fill(0, s.header, s.header + SECTOR);
      else if (what === 'wipe-both') { b.fill(0, p.header, p.header + SECTOR); b.fill(0, s.header, s.header + SECTOR); }
      else {
        const g = rng.pick(L.gpt);
        const from = rng.int(Math.max(1, L.partitions.length));
        const to = rng.int(Math.max(2, L.partitions.length + 1));
        b.copyWithin(g.entries + to * g.size, g.entries + from * g.size, g.entries + (from + 1) * g.size);
        description = `GPT entry ${from + 1} copied over entry ${to + 1} (array at ${g.entries})`;
        attack = 'gpt-overlap';
        break;
      }
      description = `GPT ${what}`;
      break;
    }
    case 'filesystem': {
      const p = L.partitions.length ? rng.pick(L.partitions) : { offset: 0, size: b.length };
      // The places detectFilesystem and the ext4 reader look at first.
      const at = p.offset + rng.pick([0, 3, 11, 0x26, 0x43, 510, 1024, 1024 + 0x18, 1024 + 0x38, 1024 + 0x5c, 1024 + 0x60, 1024 + 0x64, 1024 + 0x78, 1024 + 0x3fc, 4086, rng.int(4096)]);
      const n = rng.pick([1, 2, 4]);
      const set = rng.chance(0.5);
      for (let k = 0; k < n && at + k < b.length; k++) b[at + k] = set ? rng.pick([0, 0xff, rng.next() & 0xff]) : b[at + k] ^ (1 << rng.int(8));
      region = `filesystem at byte ${p.offset}`;
      description = `${set ? 'set' : 'flip'} ${n} byte(s) at +${at - p.offset} of the filesystem at byte ${p.offset}`;
      break;
    }
    case 'flip': {
      const ranges = [[0, 1024], ...L.gpt.flatMap((g) => [[g.header, 92], [g.entries, Math.min(g.count * g.size, 4 * 128)]]), ...L.ebrs.map((s) => [s * SECTOR + 446, 66])];
      const [start, len] = rng.pick(ranges);
      const n = rng.pick([1, 1, 2, 4, 16]);
      for (let k = 0; k < n; k++) b[start + rng.int(len)] ^= 1 << rng.int(8);
      region = `bytes ${start}..${start + len}`;
      description = `flip ${n} bit(s) in bytes ${start}..${start + len}`;
      break;
    }
    case 'size': {
      const n = rng.pick([0, 100, 511, 512, 513, 4096, 4608, 4609, 17 * 1024, b.length - SECTOR, b.length - 33 * SECTOR, b.length + SECTOR, b.length + (1 << 20), rng.int(b.length)]);
      const out = new Uint8Array(n);
      out.set(b.subarray(0, Math.min(n, b.length)));
      b = out;
      region = 'image';
      description = `image resized to ${n} bytes`;
      break;
    }
  }
  return { bytes: b, region, description, attack };
}
