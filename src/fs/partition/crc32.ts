/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as UEFI uses it for GPT headers and entry
 * arrays (UEFI 2.10 §5.3.2). SheetJS's crc-32 is pure JS, so it runs in a browser too.
 */
import CRC32 from 'crc-32';

/** The CRC-32 of `bytes` as an unsigned 32-bit number (what a GPT header stores). */
export function crc32(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}
