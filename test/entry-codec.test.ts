/**
 * The 64-byte index entry (docs/FORMAT.md §5): encodeEntry writes the documented layout, with
 * u64 fields above 2^32 in both halves, and decodeEntry reads it back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Codec, ENTRY_SIZE, EntryKind } from '../src/format/constants.ts';
import { checkEntryFields, decodeEntry, encodeEntry, encodeEntryFields, sameBytes, sliceable, sliceOf, type IndexEntry } from '../src/format/entry.ts';
import { CorruptArchiveError } from '../src/errors.ts';

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
  if (e.kind === EntryKind.SLICE) {
    b[15] = Math.log2(e.blockLength);
    v.setUint32(28, e.skip, true);
  }
  b.set(e.hash, 32);
  return b;
}

test('entries encode as §5 lays them out, offsets up to 2^53 - 1, and decode back', () => {
  const hash = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const cases: IndexEntry[] = [
    { offset: 0, length: 65536, kind: EntryKind.DATA, encoding: Codec.ZSTD, slot: 0, storedOffset: 8192, storedLength: 1000, hash, skip: 0, blockLength: 65536 },
    { offset: 2 ** 32 - 1, length: 1, kind: EntryKind.DEDUP, encoding: Codec.NONE, slot: 3, storedOffset: 2 ** 32, storedLength: 1, hash, skip: 0, blockLength: 1 },
    { offset: 2 ** 40 + 12345, length: 4096, kind: EntryKind.DEDUP, encoding: Codec.LZ4, slot: 255, storedOffset: 2 ** 33 + 7, storedLength: 4000, hash, skip: 0, blockLength: 4096 },
    { offset: Number.MAX_SAFE_INTEGER - 65536, length: 65536, kind: EntryKind.ZERO, encoding: Codec.NONE, slot: 0, storedOffset: 0, storedLength: 0, hash: new Uint8Array(32), skip: 0, blockLength: 65536 },
    // Version 8: bytes [4096, 12288) of a 64 KiB block; the last 4 KiB of a 4 MiB raw one.
    { offset: 70000, length: 8192, kind: EntryKind.SLICE, encoding: Codec.ZSTD, slot: 2, storedOffset: 9000, storedLength: 5000, hash, skip: 4096, blockLength: 65536 },
    { offset: 4096, length: 4096, kind: EntryKind.SLICE, encoding: Codec.NONE, slot: 0, storedOffset: 4096, storedLength: 4 << 20, hash, skip: (4 << 20) - 4096, blockLength: 4 << 20 },
  ];
  for (const e of cases) {
    const bytes = new Uint8Array(ENTRY_SIZE + 64).fill(0xee);
    const view = new DataView(bytes.buffer);
    encodeEntry(view, bytes, 64, e);
    assert.deepEqual(bytes.subarray(64), specBytes(e), `entry at ${e.offset}`);
    assert.ok(bytes.subarray(0, 64).every((x) => x === 0xee), 'nothing written before the entry');
    const back = decodeEntry(view, bytes, 64, 0, true);
    assert.deepEqual({ ...back, hash: [...back.hash] }, { ...e, hash: [...e.hash] });
    const fields = new Uint8Array(ENTRY_SIZE);
    encodeEntryFields(new DataView(fields.buffer), fields, 0, e.offset, e.length, e.kind, e.encoding, e.slot, e.storedOffset, e.storedLength, e.hash, e.skip, e.blockLength);
    assert.deepEqual(fields, specBytes(e));
  }
});

test('SLICE entries (version 8): refused without the SLICES feature and when their block or part is impossible', () => {
  const hash = new Uint8Array(32).fill(7);
  const good: IndexEntry = { offset: 0, length: 4096, kind: EntryKind.SLICE, encoding: Codec.ZSTD, slot: 1, storedOffset: 100, storedLength: 3000, hash, skip: 8192, blockLength: 65536 };
  const bytesOf = (e: IndexEntry, patch?: (v: DataView, b: Uint8Array) => void) => {
    const b = new Uint8Array(ENTRY_SIZE);
    const v = new DataView(b.buffer);
    encodeEntry(v, b, 0, e);
    patch?.(v, b);
    return v;
  };
  const { hash: _, ...fields } = good;
  assert.deepEqual(checkEntryFields(bytesOf(good), 0, 0, true), fields);
  const refused: [string, DataView, boolean, number, RegExp][] = [
    ['kind 3 without the SLICES feature', bytesOf(good), false, 0, /unknown kind 3/],
    ['a block of 2^11 bytes', bytesOf(good, (_, b) => (b[15] = 11)), true, 0, /2\^11/],
    ['a block of 2^23 bytes', bytesOf(good, (_, b) => (b[15] = 23)), true, 0, /2\^23/],
    ['a part past the block', bytesOf(good, (v) => v.setUint32(28, 65536 - 4095, true)), true, 0, /reaches past its block/],
    ['a skip of 2^32 - 1', bytesOf(good, (v) => v.setUint32(28, 0xffffffff, true)), true, 0, /reaches past its block/],
    ['stored bytes longer than the block', bytesOf({ ...good, storedLength: 65537 }), true, 0, /impossible size/],
    ['a raw block whose stored length is not the block\'s', bytesOf({ ...good, encoding: Codec.NONE, storedLength: 4096 }), true, 0, /stored length differs/],
    ['a sealed block no longer than its seal', bytesOf({ ...good, storedLength: 28 }), true, 28, /impossible size/],
  ];
  for (const [what, view, slices, seal, message] of refused) {
    assert.throws(() => checkEntryFields(view, 0, seal, slices), (err: unknown) => err instanceof CorruptArchiveError && message.test(err.message), what);
  }
  // Encrypted: a raw block is stored with its seal.
  assert.equal(checkEntryFields(bytesOf({ ...good, encoding: Codec.NONE, storedLength: 65536 + 28 }), 0, 28, true).blockLength, 65536);
  // Other kinds ignore bytes 15 and 28..31 (reserved).
  const data: IndexEntry = { offset: 0, length: 65536, kind: EntryKind.DATA, encoding: Codec.ZSTD, slot: 0, storedOffset: 100, storedLength: 3000, hash, skip: 0, blockLength: 65536 };
  const d = checkEntryFields(bytesOf(data, (v, b) => { b[15] = 99; v.setUint32(28, 5, true); }), 0, 0, true);
  assert.deepEqual([d.skip, d.blockLength], [0, 65536]);
});

test('sliceOf, sliceable and sameBytes', () => {
  const hash = new Uint8Array(32).fill(1);
  const other = new Uint8Array(32).fill(2);
  const block: IndexEntry = { offset: 65536, length: 65536, kind: EntryKind.DEDUP, encoding: Codec.ZSTD, slot: 1, storedOffset: 100, storedLength: 3000, hash, skip: 0, blockLength: 65536 };
  assert.equal(sliceOf(block, 65536, 131072), block, 'the whole entry is itself');
  const part = sliceOf(block, 65536 + 8192, 65536 + 12288);
  assert.deepEqual({ ...part, hash: undefined }, { ...block, hash: undefined, kind: EntryKind.SLICE, offset: 73728, length: 4096, skip: 8192 });
  const partOfPart = sliceOf(part, 73728 + 1024, 73728 + 2048);
  assert.deepEqual([partOfPart.kind, partOfPart.skip, partOfPart.length, partOfPart.blockLength, partOfPart.storedOffset], [EntryKind.SLICE, 9216, 1024, 65536, 100]);
  assert.equal(sliceable(block), true);
  assert.equal(sliceable({ ...block, length: 1000, blockLength: 1000 }), false, 'a short last block');
  assert.equal(sliceable({ ...block, length: 12288, blockLength: 12288 }), false, 'not a power of two (CDC)');
  assert.equal(sliceable({ ...block, kind: EntryKind.ZERO }), false);
  // The same byte of the same block, whatever the entries' kinds and offsets.
  assert.equal(sameBytes(block, part, 73728), true);
  assert.equal(sameBytes(part, partOfPart, 74752), true);
  assert.equal(sameBytes(block, { ...part, hash: other }, 73728), false);
  assert.equal(sameBytes(block, { ...part, offset: 73728 + 4096 }, 77824), false, 'shifted: another byte of the block');
  const zero: IndexEntry = { ...block, kind: EntryKind.ZERO, hash: new Uint8Array(32) };
  assert.equal(sameBytes(zero, { ...zero, offset: 0 }, 70000), true);
  assert.equal(sameBytes(zero, block, 70000), false);
});
