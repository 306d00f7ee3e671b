/**
 * Which filesystem (or container) a partition holds, by the magic numbers libblkid looks for,
 * with its label and UUID formatted as `blkid` prints them. Pure probes over the bytes of up to
 * three small reads (the first 4 KiB, 1 KiB at 64 KiB for btrfs, 2 KiB at 32 KiB for ISO 9660).
 */
import { fixedText, formatUuid, hasAscii, isZero, readExact, viewOf } from './partition/bytes.js';
import { isFatBootSector } from './partition/boot-sector.js';
import type { BlockDevice } from './types.js';

/** Filesystems and containers {@link detectFilesystem} recognises. */
export type FilesystemKind =
  | 'ext2' | 'ext3' | 'ext4' | 'vfat' | 'swap' | 'xfs' | 'btrfs' | 'ntfs' | 'exfat' | 'iso9660' | 'lvm' | 'luks' | 'unknown';

/** What is on a device: kind, and label and UUID where the format has them (blkid's LABEL/UUID). */
export interface FilesystemInfo {
  kind: FilesystemKind;
  label?: string;
  uuid?: string;
}

/** Bytes read from the start: ext's superblock (1024..2047), swap's magic (4086) and FAT/NTFS/LUKS/XFS/LVM headers. */
const HEAD_BYTES = 4096;
/** btrfs's primary superblock (fsid at +0x20, magic at +0x40, label at +0x12B, 256 bytes). */
const BTRFS_SUPER = 0x10000;
const BTRFS_READ = 0x12b + 0x100;
/** ISO 9660 primary volume descriptor: sector 16 of 2048 bytes (ECMA-119 §8.4). */
const ISO_PVD = 16 * 2048;

/**
 * Detects the filesystem on `dev` by magic numbers. Reads at most 4 KiB + 555 bytes + 2 KiB; a
 * device too small to hold a magic is simply not that kind.
 * @throws only what the device throws (StoreError, AbortedError); unknown content is `unknown`.
 * @example
 * const { kind, label } = await detectFilesystem(subDevice(disk, p.offset, p.size));
 */
export async function detectFilesystem(dev: BlockDevice, options: { signal?: AbortSignal } = {}): Promise<FilesystemInfo> {
  const { signal } = options;
  if (dev.size === 0) return { kind: 'unknown' };
  const head = await readExact(dev, 0, Math.min(dev.size, HEAD_BYTES), signal);
  const found = probeHead(head);
  if (found) return found;
  if (dev.size >= BTRFS_SUPER + BTRFS_READ) {
    const btrfs = probeBtrfs(await readExact(dev, BTRFS_SUPER, BTRFS_READ, signal));
    if (btrfs) return btrfs;
  }
  if (dev.size >= ISO_PVD + 2048) {
    const iso = probeIso9660(await readExact(dev, ISO_PVD, 2048, signal));
    if (iso) return iso;
  }
  return { kind: 'unknown' };
}

/** Info with only the fields that have a value. */
function info(kind: FilesystemKind, label: string | undefined, uuid: string | undefined): FilesystemInfo {
  const out: FilesystemInfo = { kind };
  if (label !== undefined) out.label = label;
  if (uuid !== undefined) out.uuid = uuid;
  return out;
}

const uuidAt = (bytes: Uint8Array, offset: number) => (isZero(bytes.subarray(offset, offset + 16)) ? undefined : formatUuid(bytes, offset));
const upperHex = (n: number, digits: number) => n.toString(16).toUpperCase().padStart(digits, '0');

/**
 * Probes the first 4 KiB of a device (fewer when the device is smaller) for every kind whose
 * magic lies there. Swap's 10-byte magic at the end of the first 4 KiB page is checked first as
 * the most specific; ext before FAT because mke2fs leaves sector 0 alone only in odd cases.
 * Undefined when nothing matches. Never throws, whatever the bytes.
 */
export function probeHead(head: Uint8Array): FilesystemInfo | undefined {
  if (hasAscii(head, 0, 'LUKS') && head[4] === 0xba && head[5] === 0xbe && head.length >= 512) {
    const version = viewOf(head).getUint16(6, false);
    // LUKS1 and LUKS2 both keep the UUID as 40 ASCII bytes at 168; only LUKS2 has a label (at 24).
    return info('luks', version === 2 ? fixedText(head, 24, 48) : undefined, fixedText(head, 168, 40, { latin1: true }));
  }
  if (hasAscii(head, 4096 - 10, 'SWAPSPACE2')) return info('swap', fixedText(head, 1024 + 28, 16), uuidAt(head, 1024 + 12));
  if (hasAscii(head, 4096 - 10, 'SWAP-SPACE')) return info('swap', undefined, undefined);
  if (head.length >= 2048 && head[1024 + 56] === 0x53 && head[1024 + 57] === 0xef) return probeExt(head.subarray(1024, 2048));
  if (hasAscii(head, 0, 'XFSB') && head.length >= 120) return info('xfs', fixedText(head, 108, 12), uuidAt(head, 32));
  for (let sector = 0; sector < 4; sector++) {
    const at = sector * 512;
    if (hasAscii(head, at, 'LABELONE') && hasAscii(head, at + 24, 'LVM2 001')) return probeLvm(head, at);
  }
  if (hasAscii(head, 3, 'NTFS    ') && head.length >= 0x50) {
    // blkid prints the 64-bit volume serial as 16 upper-case hex digits; the label is in the MFT ($Volume), not read here.
    return info('ntfs', undefined, viewOf(head).getBigUint64(0x48, true).toString(16).toUpperCase().padStart(16, '0'));
  }
  if (hasAscii(head, 3, 'EXFAT   ') && head.length >= 0x68) {
    const serial = viewOf(head).getUint32(0x64, true);
    return info('exfat', undefined, `${upperHex(serial >>> 16, 4)}-${upperHex(serial & 0xffff, 4)}`);
  }
  if (isFatBootSector(head)) return probeVfat(head);
  return undefined;
}

/** Ext feature bits ext3 knows (libblkid's EXT3_FEATURE_*_SUPP); anything else makes it ext4. */
const EXT3_INCOMPAT = 0x0002 | 0x0004 | 0x0010; // filetype, recover, meta_bg
const EXT3_RO_COMPAT = 0x0001 | 0x0002 | 0x0004; // sparse_super, large_file, btree_dir
const EXT_COMPAT_HAS_JOURNAL = 0x0004;
const EXT_INCOMPAT_JOURNAL_DEV = 0x0008;

/**
 * ext2/3/4 from the 1024-byte superblock, decided like libblkid: a feature ext3 lacks (extents,
 * 64bit, flex_bg, huge_file, dir_nlink, extra_isize, metadata_csum, …) → ext4, else a journal →
 * ext3, else ext2. An external journal device (or fewer than 136 bytes) is `unknown`. Never throws.
 */
export function probeExt(sb: Uint8Array): FilesystemInfo {
  if (sb.length < 136) return { kind: 'unknown' };
  const view = viewOf(sb);
  const compat = view.getUint32(92, true);
  const incompat = view.getUint32(96, true);
  const roCompat = view.getUint32(100, true);
  if (incompat & EXT_INCOMPAT_JOURNAL_DEV) return { kind: 'unknown' };
  const kind = (incompat & ~EXT3_INCOMPAT) || (roCompat & ~EXT3_RO_COMPAT) ? 'ext4'
    : compat & EXT_COMPAT_HAS_JOURNAL ? 'ext3'
    : 'ext2';
  return info(kind, fixedText(sb, 120, 16), uuidAt(sb, 104));
}

/**
 * FAT12/16/32 label and volume serial from a boot sector (one {@link isFatBootSector} accepts)
 * and its extended BPB (at 0x26, or 0x42 for FAT32). Never throws; under 512 bytes is `unknown`.
 */
export function probeVfat(boot: Uint8Array): FilesystemInfo {
  if (boot.length < 512) return { kind: 'unknown' };
  const view = viewOf(boot);
  const fat32 = view.getUint16(22, true) === 0; // FAT32 keeps its FAT size in the 32-bit field at 0x24
  const ebpb = fat32 ? 0x42 : 0x26;
  const signature = boot[ebpb];
  if (signature !== 0x29 && signature !== 0x28) return { kind: 'vfat' };
  const serial = view.getUint32(ebpb + 1, true);
  const uuid = `${upperHex(serial >>> 16, 4)}-${upperHex(serial & 0xffff, 4)}`;
  // 0x28 has the serial but no label field; "NO NAME" is what formatters write for no label.
  const label = signature === 0x29 ? fixedText(boot, ebpb + 5, 11, { trimSpaces: true, latin1: true }) : undefined;
  return info('vfat', label === 'NO NAME' ? undefined : label, uuid);
}

/** LVM2 physical volume: its 32-character PV UUID, dashed 6-4-4-4-4-4-6 as blkid prints it. */
function probeLvm(head: Uint8Array, labelAt: number): FilesystemInfo {
  const pvHeader = labelAt + viewOf(head).getUint32(labelAt + 20, true);
  if (pvHeader + 32 > head.length) return { kind: 'lvm' };
  const id = fixedText(head, pvHeader, 32, { latin1: true }) ?? '';
  if (id.length !== 32) return { kind: 'lvm' };
  return info('lvm', undefined, dashed(id, [6, 4, 4, 4, 4, 4, 6]));
}

/** btrfs from the 555 bytes at its superblock: magic `_BHRfS_M` at 0x40, fsid at 0x20, label at 0x12B. Never throws. */
export function probeBtrfs(sb: Uint8Array): FilesystemInfo | undefined {
  if (!hasAscii(sb, 0x40, '_BHRfS_M')) return undefined;
  return info('btrfs', fixedText(sb, 0x12b, 0x100), uuidAt(sb, 0x20));
}

/**
 * ISO 9660 from its primary volume descriptor: type 1 and `CD001`. The label is the volume
 * identifier; the UUID is what blkid makes of the modification (else creation) date,
 * `YYYY-MM-DD-HH-MM-SS-cc`. Undefined for anything else (or under 2048 bytes); never throws.
 */
export function probeIso9660(pvd: Uint8Array): FilesystemInfo | undefined {
  if (pvd.length < 2048 || pvd[0] !== 1 || !hasAscii(pvd, 1, 'CD001')) return undefined;
  return info('iso9660', fixedText(pvd, 40, 32, { trimSpaces: true, latin1: true }), isoDateUuid(pvd, 830) ?? isoDateUuid(pvd, 813));
}

/** A 16-digit ECMA-119 §8.4.26.1 date as blkid's UUID; undefined when unset (all '0' or not digits). */
function isoDateUuid(pvd: Uint8Array, offset: number): string | undefined {
  const digits = new TextDecoder('latin1').decode(pvd.subarray(offset, offset + 16));
  if (!/^[0-9]{16}$/.test(digits) || /^0+$/.test(digits)) return undefined;
  return dashed(digits, [4, 2, 2, 2, 2, 2, 2]);
}

/** `text` cut into pieces of the given lengths, joined by dashes. */
function dashed(text: string, lengths: number[]): string {
  const parts: string[] = [];
  let at = 0;
  for (const n of lengths) parts.push(text.slice(at, (at += n)));
  return parts.join('-');
}
