/**
 * Small byte helpers shared by the partition and filesystem decoders: bounded reads, safe 64-bit
 * integers, fixed-width strings and GUID/UUID text. Pure (no Node built-ins).
 */
import { CorruptImageError, StoreError } from '../../errors.js';
import type { BlockDevice } from '../types.js';

/**
 * Reads `length` bytes at `offset` and checks the device kept its promise of exactly that many,
 * so a short read becomes an error instead of a RangeError in a DataView later.
 * @throws StoreError when the device returns another length; whatever the device throws.
 */
export async function readExact(dev: BlockDevice, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  const bytes = await dev.read(offset, length, { signal });
  if (bytes.length !== length) {
    throw new StoreError(`device returned ${bytes.length} bytes for a ${length}-byte read at byte ${offset}`, { offset, stage: 'read' });
  }
  return bytes;
}

/** A DataView over exactly `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The little-endian u64 at `offset` as a JS number.
 * @throws CorruptImageError when it is past 2^53 − 1 (no disk that large can be addressed here);
 *   `what` names the field in the message.
 */
export function u64(view: DataView, offset: number, what: string): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptImageError(`${what} ${v} is too large`);
  return Number(v);
}

/** Whether `bytes` holds the ASCII text `text` at `offset` (false when it would run past the end). */
export function hasAscii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (offset < 0 || offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Whether every byte of `bytes` is zero. */
export function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Text of a fixed-width field: cut at the first NUL, decoded as UTF-8 (or Latin-1 with
 * `latin1`), trailing spaces trimmed when `trimSpaces`. Undefined when nothing is left.
 */
export function fixedText(bytes: Uint8Array, offset: number, length: number, opts: { trimSpaces?: boolean; latin1?: boolean } = {}): string | undefined {
  const field = bytes.subarray(offset, Math.min(bytes.length, offset + length));
  const nul = field.indexOf(0);
  const raw = nul < 0 ? field : field.subarray(0, nul);
  let text = new TextDecoder(opts.latin1 ? 'latin1' : 'utf-8').decode(raw);
  if (opts.trimSpaces) text = text.replace(/ +$/, '');
  return text === '' ? undefined : text;
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * A GPT GUID (16 bytes, the first three fields little-endian as UEFI stores them) as upper-case
 * 8-4-4-4-12 text, the way sgdisk and sfdisk print it.
 */
export function formatGuid(bytes: Uint8Array, offset = 0): string {
  const b = bytes.subarray(offset, offset + 16);
  const le = (from: number, n: number) => hex(b.subarray(from, from + n).reverse());
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`.toUpperCase();
}

/**
 * Inverse of {@link formatGuid}: 8-4-4-4-12 text (any case) to the 16 bytes GPT stores;
 * undefined when the text is not a GUID. Never throws.
 */
export function parseGuid(text: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!m) return undefined;
  const bytes = (h: string) => Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16));
  return Uint8Array.from([...bytes(m[1]).reverse(), ...bytes(m[2]).reverse(), ...bytes(m[3]).reverse(), ...bytes(m[4]), ...bytes(m[5])]);
}

/** A filesystem UUID (16 bytes in RFC 4122 byte order, as ext4/xfs/swap store it) as lower-case 8-4-4-4-12. */
export function formatUuid(bytes: Uint8Array, offset = 0): string {
  const h = hex(bytes.subarray(offset, offset + 16));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
