/**
 * Pure builders of the associated data that binds each sealed object to its archive and its
 * place (docs/FORMAT.md §12.3). Strings are ASCII, integers little-endian.
 */

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const BLOCK = ascii('HXZB');
const NODE = ascii('HXZN');
const DICTIONARY = ascii('HXZD');
const METADATA = ascii('HXZM');
const KEY_WRAP = ascii('HXZK');

/** §12.3 Nonce classes (bytes 0..4 of this writer's nonces). */
export const NonceClass = { BLOCK: 1, NODE: 2, DICTIONARY: 3, METADATA: 4 } as const;
export type NonceClassId = (typeof NonceClass)[keyof typeof NonceClass];

/** AAD of a stored block: "HXZB" ‖ archive id ‖ u64 stored offset ‖ u32 length ‖ u8 encoding ‖ content hash (65 bytes). */
export function blockAad(archiveId: Uint8Array, storedOffset: number, length: number, encoding: number, hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(65);
  const v = new DataView(out.buffer);
  out.set(BLOCK, 0);
  out.set(archiveId.subarray(0, 16), 4);
  v.setUint32(20, storedOffset >>> 0, true);
  v.setUint32(24, Math.floor(storedOffset / 0x100000000), true);
  v.setUint32(28, length, true);
  v.setUint8(32, encoding);
  out.set(hash.subarray(0, 32), 33);
  return out;
}

/** AAD of an index node: "HXZN" ‖ archive id ‖ u8 stream ‖ u8 level ‖ u64 first offset (30 bytes). */
export function nodeAad(archiveId: Uint8Array, stream: number, level: number, firstOffset: number): Uint8Array {
  const out = new Uint8Array(30);
  const v = new DataView(out.buffer);
  out.set(NODE, 0);
  out.set(archiveId.subarray(0, 16), 4);
  v.setUint8(20, stream);
  v.setUint8(21, level);
  v.setUint32(22, firstOffset >>> 0, true);
  v.setUint32(26, Math.floor(firstOffset / 0x100000000), true);
  return out;
}

/** AAD of the dictionary: "HXZD" ‖ archive id. */
export function dictionaryAad(archiveId: Uint8Array): Uint8Array {
  return tagged(DICTIONARY, archiveId);
}

/** AAD of the metadata: "HXZM" ‖ archive id. */
export function metadataAad(archiveId: Uint8Array): Uint8Array {
  return tagged(METADATA, archiveId);
}

/** AAD of the wrapped data key (§12.1): "HXZK" ‖ archive id. */
export function keyWrapAad(archiveId: Uint8Array): Uint8Array {
  return tagged(KEY_WRAP, archiveId);
}

function tagged(tag: Uint8Array, archiveId: Uint8Array): Uint8Array {
  const out = new Uint8Array(20);
  out.set(tag, 0);
  out.set(archiveId.subarray(0, 16), 4);
  return out;
}
