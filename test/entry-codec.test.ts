/**
 * The 64-byte index entry (docs/FORMAT.md §5): encodeEntry writes the documented layout, with
 * u64 fields above 2^32 in both halves, and decodeEntry reads it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Codec, ENTRY_SIZE, EntryKind } from '../src/format/constants.ts';
import { decodeEntry, encodeEntry, encodeEntryFields, type IndexEntry } from '../src/format/entry.ts';

/** The layout of §5 written field by field with BigInt, as the spec reads. */
function specBytes(e: IndexEntry): Uint8Array {
  const b = new Uint8Array(ENTRY_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(e.offset), true);
  v.setUint32(8, e.length, true);
  b[12] = e.kind;
  b[13] = e.encoding;
  b[14] = e.slot;
  v.setBigUint64(16, BigInt(e.storedOffset), true);
  v.setUint32(24, e.storedLength, true);
  b.set(e.hash, 32);
  return b;
}

test('entries encode as §5 lays them out, offsets up to 2^53 - 1, and decode back', () => {
  const hash = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const cases: IndexEntry[] = [
    { offset: 0, length: 65536, kind: EntryKind.DATA, encoding: Codec.ZSTD, slot: 0, storedOffset: 8192, storedLength: 1000, hash },
    { offset: 2 ** 32 - 1, length: 1, kind: EntryKind.DEDUP, encoding: Codec.NONE, slot: 3, storedOffset: 2 ** 32, storedLength: 1, hash },
    { offset: 2 ** 40 + 12345, length: 4096, kind: EntryKind.DEDUP, encoding: Codec.LZ4, slot: 255, storedOffset: 2 ** 33 + 7, storedLength: 4000, hash },
    { offset: Number.MAX_SAFE_INTEGER - 65536, length: 65536, kind: EntryKind.ZERO, encoding: Codec.NONE, slot: 0, storedOffset: 0, storedLength: 0, hash: new Uint8Array(32) },
  ];
  for (const e of cases) {
    const bytes = new Uint8Array(ENTRY_SIZE + 64).fill(0xee);
    const view = new DataView(bytes.buffer);
    encodeEntry(view, bytes, 64, e);
    assert.deepEqual(bytes.subarray(64), specBytes(e), `entry at ${e.offset}`);
    assert.ok(bytes.subarray(0, 64).every((x) => x === 0xee), 'nothing written before the entry');
    const back = decodeEntry(view, bytes, 64);
    assert.deepEqual({ ...back, hash: [...back.hash] }, { ...e, hash: [...e.hash] });
    const fields = new Uint8Array(ENTRY_SIZE);
    encodeEntryFields(new DataView(fields.buffer), fields, 0, e.offset, e.length, e.kind, e.encoding, e.slot, e.storedOffset, e.storedLength, e.hash);
    assert.deepEqual(fields, specBytes(e));
  }
});
