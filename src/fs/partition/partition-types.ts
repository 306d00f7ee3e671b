/**
 * Names of well-known partition types: GPT type GUIDs (UEFI 2.10 §5.3.3 and the Discoverable
 * Partitions Specification) and MBR type bytes, plus short aliases (`linux`, `esp`, …) that map
 * back to them, for specs that create tables (`hexz build --spec`).
 */
import { UsageError } from '../../errors.js';

/** Names of GPT type GUIDs, keyed by upper-case 8-4-4-4-12 GUID (the names sgdisk prints). */
export const GPT_TYPE_NAMES: Readonly<Record<string, string>> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot partition',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux /home',
  '3B8F8425-20E0-4F3B-907F-1A25A76F98E8': 'Linux /srv',
  '4D21B016-B534-45C2-A9FB-5C16E091FD2D': 'Linux /var',
  '7EC6F557-3BC5-4ACA-B293-16EF5DF639D1': 'Linux /var/tmp',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux root (x86)',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM64)',
  '8484680C-9521-48C6-9C11-B0720656F69E': 'Linux /usr (x86-64)',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  'CA7D7CCB-63ED-4C53-861C-1742536059CC': 'Linux LUKS',
  '7FFEC5C9-2D00-49B7-8941-3EA10A5586B7': 'Linux dm-crypt',
  '8DA63339-0007-60C0-C436-083AC8230908': 'Linux reserved',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
  '516E7CB6-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD disklabel',
};

/** Names of MBR partition type bytes (as fdisk lists them). */
export const MBR_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x05: 'Extended',
  0x06: 'FAT16',
  0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)',
  0x0e: 'W95 FAT16 (LBA)',
  0x0f: "W95 Ext'd (LBA)",
  0x27: 'Hidden NTFS WinRE',
  0x82: 'Linux swap / Solaris',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xa6: 'OpenBSD',
  0xa9: 'NetBSD',
  0xee: 'GPT',
  0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};

/** MBR type bytes of extended partitions (containers of a chain of EBRs). */
export const MBR_EXTENDED_TYPES: ReadonlySet<number> = new Set([0x05, 0x0f, 0x85]);

/** MBR type byte of the protective entry that marks a GPT disk. */
export const MBR_GPT_PROTECTIVE = 0xee;

/** Short names of partition types for specs that create tables. */
export type PartitionTypeAlias =
  | 'linux' | 'esp' | 'swap' | 'bios-boot' | 'linux-home' | 'linux-root-x86-64' | 'linux-root-arm64'
  | 'lvm' | 'raid' | 'msdata' | 'fat32' | 'extended';

/**
 * Each alias's GPT type GUID and MBR type byte; a member is absent where the table has no such
 * type (BIOS boot and the discoverable Linux types exist only in GPT, extended only in MBR).
 * `msdata` is Microsoft basic data (GPT) and 0x07 (MBR, NTFS/exFAT); `fat32` is the same GPT
 * GUID with MBR 0x0c.
 */
export const PARTITION_TYPE_ALIASES: Readonly<Record<PartitionTypeAlias, { gpt?: string; mbr?: number }>> = {
  linux: { gpt: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mbr: 0x83 },
  esp: { gpt: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', mbr: 0xef },
  swap: { gpt: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', mbr: 0x82 },
  'bios-boot': { gpt: '21686148-6449-6E6F-744E-656564454649' },
  'linux-home': { gpt: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915' },
  'linux-root-x86-64': { gpt: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709' },
  'linux-root-arm64': { gpt: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE' },
  lvm: { gpt: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', mbr: 0x8e },
  raid: { gpt: 'A19D880F-05FC-4D3B-A006-743F0F84911E', mbr: 0xfd },
  msdata: { gpt: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', mbr: 0x07 },
  fat32: { gpt: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', mbr: 0x0c },
  extended: { mbr: 0x05 },
};

/** The name of a GPT type GUID (any case), or undefined for an unknown one. */
export function gptTypeName(guid: string): string | undefined {
  return GPT_TYPE_NAMES[guid.toUpperCase()];
}

/** The name of an MBR type byte, or undefined for an unknown one. */
export function mbrTypeName(type: number): string | undefined {
  return MBR_TYPE_NAMES[type];
}

/** An MBR type byte as a Partition's `type` text: `0x83`. */
export function mbrTypeText(type: number): string {
  return `0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * The GPT type GUID (upper-case) of an alias; a GUID is passed through (upper-cased).
 * @throws UsageError for an unknown alias or one that has no GPT type.
 */
export function gptTypeFor(aliasOrGuid: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(aliasOrGuid)) return aliasOrGuid.toUpperCase();
  const guid = aliasFor(aliasOrGuid).gpt;
  if (!guid) throw new UsageError(`partition type '${aliasOrGuid}' has no GPT equivalent`);
  return guid;
}

/**
 * The MBR type byte of an alias; `0x83`-style or bare hex text (`83`) is passed through.
 * @throws UsageError for an unknown alias, one that has no MBR type, or a byte out of range.
 */
export function mbrTypeFor(aliasOrByte: string): number {
  const hexText = /^(?:0x)?([0-9a-f]{1,2})$/i.exec(aliasOrByte);
  if (hexText) return parseInt(hexText[1], 16);
  const type = aliasFor(aliasOrByte).mbr;
  if (type === undefined) throw new UsageError(`partition type '${aliasOrByte}' has no MBR equivalent`);
  return type;
}

function aliasFor(alias: string): { gpt?: string; mbr?: number } {
  if (!Object.hasOwn(PARTITION_TYPE_ALIASES, alias)) {
    throw new UsageError(`unknown partition type '${alias}' (known: ${Object.keys(PARTITION_TYPE_ALIASES).join(', ')})`);
  }
  return PARTITION_TYPE_ALIASES[alias as PartitionTypeAlias];
}
