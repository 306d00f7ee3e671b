/**
 * The pure parts of overlays: header page, state slots and records (encode/decode, every check),
 * and the page map against a plain array model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blake3 } from '../src/hash/blake3.ts';
import { CorruptArchiveError, NotAnArchiveError, UnsupportedError } from '../src/errors.ts';
import {
  decodeOverlayHeader, decodeOverlaySlot, encodeOverlayHeader, encodeOverlaySlot, OVERLAY_HEADER_CHECKSUM_OFFSET, OVERLAY_HEADER_SIZE,
  OVERLAY_PAGE_SIZE, OVERLAY_SLOT_OFFSETS, OVERLAY_SLOT_SIZE, OVERLAY_VERSION, pickOverlaySlot, slotOffset, type OverlayHeader,
} from '../src/overlay/overlay-format.ts';
import { decodeRecordHeader, encodeRecord, MAX_DATA_RECORD_PAGES, RECORD_HEADER_SIZE, recordChecksumMatches, recordLength, RecordKind } from '../src/overlay/overlay-record.ts';
import { OverlayMap, writtenRanges, ZERO_PAGES } from '../src/overlay/overlay-map.ts';
import { Rng } from './helpers.ts';

function header(): OverlayHeader {
  return {
    version: OVERLAY_VERSION, pageSize: OVERLAY_PAGE_SIZE, flags: 0, createdMs: 1_700_000_000_123,
    overlayId: new Uint8Array(16).fill(1), baseId: new Uint8Array(16).fill(2), baseIdentity: new Uint8Array(32).fill(3),
    streams: [{ present: true, size: 5 * 65536 + 1000 }, { present: false, size: 0 }], basePath: '../images/vm é.hxz',
  };
}
const SLOT = { sequence: 1, flushedEnd: OVERLAY_HEADER_SIZE, lastRecord: 0, flushedMs: 1_700_000_000_456 };

/** Recomputes the header checksum after a deliberate change to a field. */
function reseal(page: Uint8Array): Uint8Array {
  page.set(blake3(page.subarray(0, OVERLAY_HEADER_CHECKSUM_OFFSET)), OVERLAY_HEADER_CHECKSUM_OFFSET);
  return page;
}

test('header page: round trip, magic and layout', () => {
  const page = encodeOverlayHeader(header(), SLOT, blake3);
  assert.equal(page.length, 4096);
  assert.equal(Buffer.from(page.subarray(0, 8)).toString('latin1'), 'HXZOVL\0\x01');
  assert.deepEqual(decodeOverlayHeader(page, blake3, 'x'), header());
  // Slot A holds sequence 1; slot B is empty (invalid).
  assert.deepEqual(pickOverlaySlot(page, blake3), { slot: SLOT, index: 0 });
  assert.equal(decodeOverlaySlot(page.subarray(OVERLAY_SLOT_OFFSETS[1], OVERLAY_SLOT_OFFSETS[1] + 64), blake3), undefined);
  // The path is stored at 160 as UTF-8 with its length at 128.
  const len = new DataView(page.buffer).getUint16(128, true);
  assert.equal(Buffer.from(page.subarray(160, 160 + len)).toString('utf8'), '../images/vm é.hxz');
});

test('header page: every check refuses with the right error', () => {
  const good = () => encodeOverlayHeader(header(), SLOT, blake3);
  assert.throws(() => decodeOverlayHeader(good().subarray(0, 100), blake3, 'f'), NotAnArchiveError);
  const magic = good();
  magic[0] ^= 1;
  assert.throws(() => decodeOverlayHeader(magic, blake3, 'f'), (e: Error) => e instanceof NotAnArchiveError && /not an overlay file/.test(e.message));
  const flipped = good();
  flipped[200] ^= 1; // inside the fixed part
  assert.throws(() => decodeOverlayHeader(flipped, blake3, 'f'), (e: Error) => e instanceof CorruptArchiveError && /checksum/.test(e.message));
  const version = good();
  new DataView(version.buffer).setUint32(8, 2, true);
  assert.throws(() => decodeOverlayHeader(reseal(version), blake3, 'f'), UnsupportedError);
  const pageSize = good();
  new DataView(pageSize.buffer).setUint32(12, 8192, true);
  assert.throws(() => decodeOverlayHeader(reseal(pageSize), blake3, 'f'), UnsupportedError);
  const flags = good();
  new DataView(flags.buffer).setUint32(16, 1, true);
  assert.throws(() => decodeOverlayHeader(reseal(flags), blake3, 'f'), UnsupportedError);
  const path = good();
  new DataView(path.buffer).setUint16(128, 0, true);
  assert.throws(() => decodeOverlayHeader(reseal(path), blake3, 'f'), CorruptArchiveError);
  const big = good();
  new DataView(big.buffer).setBigUint64(96 + 8, 1n << 60n, true);
  assert.throws(() => decodeOverlayHeader(reseal(big), blake3, 'f'), CorruptArchiveError);
  // Slot bytes are outside the checksummed part: changing them leaves the header valid.
  const slots = good();
  slots.fill(0xff, OVERLAY_SLOT_OFFSETS[1], OVERLAY_SLOT_OFFSETS[1] + OVERLAY_SLOT_SIZE);
  assert.doesNotThrow(() => decodeOverlayHeader(slots, blake3, 'f'));
  assert.throws(() => encodeOverlayHeader({ ...header(), basePath: '' }, SLOT, blake3), RangeError);
  assert.throws(() => encodeOverlayHeader({ ...header(), basePath: 'x'.repeat(2049) }, SLOT, blake3), RangeError);
});

test('state slots: alternate A/B, highest valid sequence wins, a torn one is skipped', () => {
  assert.equal(slotOffset(1), OVERLAY_SLOT_OFFSETS[0]);
  assert.equal(slotOffset(2), OVERLAY_SLOT_OFFSETS[1]);
  assert.equal(slotOffset(3), OVERLAY_SLOT_OFFSETS[0]);
  const page = encodeOverlayHeader(header(), SLOT, blake3);
  const second = { sequence: 2, flushedEnd: 8192, lastRecord: 5, flushedMs: 9 };
  page.set(encodeOverlaySlot(second, blake3), slotOffset(2));
  assert.deepEqual(pickOverlaySlot(page, blake3), { slot: second, index: 1 });
  const third = { sequence: 3, flushedEnd: 12288, lastRecord: 7, flushedMs: 10 };
  page.set(encodeOverlaySlot(third, blake3), slotOffset(3));
  assert.deepEqual(pickOverlaySlot(page, blake3)?.slot, third);
  // Tear slot A (sequence 3): B (sequence 2) is used.
  page[slotOffset(3) + 9] ^= 0x40;
  assert.deepEqual(pickOverlaySlot(page, blake3)?.slot, second);
  page[slotOffset(2)] ^= 1;
  assert.equal(pickOverlaySlot(page, blake3), undefined);
  // A flushed end inside the header page is invalid even with a good checksum.
  assert.equal(decodeOverlaySlot(encodeOverlaySlot({ ...SLOT, flushedEnd: 100 }, blake3), blake3), undefined);
  assert.equal(decodeOverlaySlot(encodeOverlaySlot({ ...SLOT, sequence: 0 }, blake3), blake3), undefined);
});

test('records: round trip, checksum covers header fields and payload', () => {
  const payload = new Rng(5).fill(new Uint8Array(3 * 4096));
  const rec = encodeRecord({ kind: RecordKind.DATA, stream: 1, page: 123456789, count: 3, sequence: 42 }, payload, blake3);
  assert.equal(rec.length, RECORD_HEADER_SIZE + 3 * 4096);
  assert.equal(Buffer.from(rec.subarray(16, 20)).toString('latin1'), 'HXOR');
  const h = decodeRecordHeader(rec);
  assert.deepEqual(h, { kind: RecordKind.DATA, stream: 1, page: 123456789, count: 3, sequence: 42 });
  assert.equal(recordLength(h as { kind: 1; count: number }), rec.length);
  assert.ok(recordChecksumMatches(rec, blake3));
  for (const at of [0, 20, 24, 32, 40, 63, 64, rec.length - 1]) {
    const bad = rec.slice();
    bad[at] ^= 1;
    assert.equal(recordChecksumMatches(bad, blake3), false, `flip at ${at}`);
  }
  const zero = encodeRecord({ kind: RecordKind.ZERO, stream: 0, page: 7, count: 0xffff_ffff, sequence: 1 }, undefined, blake3);
  assert.equal(zero.length, RECORD_HEADER_SIZE);
  assert.deepEqual(decodeRecordHeader(zero), { kind: RecordKind.ZERO, stream: 0, page: 7, count: 0xffff_ffff, sequence: 1 });
  assert.throws(() => encodeRecord({ kind: RecordKind.DATA, stream: 0, page: 0, count: 2, sequence: 1 }, payload, blake3), RangeError);
  assert.throws(() => encodeRecord({ kind: RecordKind.DATA, stream: 0, page: 0, count: MAX_DATA_RECORD_PAGES + 1, sequence: 1 }, new Uint8Array((MAX_DATA_RECORD_PAGES + 1) * 4096), blake3), RangeError);
  assert.throws(() => encodeRecord({ kind: RecordKind.ZERO, stream: 0, page: 0, count: 0, sequence: 1 }, undefined, blake3), RangeError);
});

test('records: headers that cannot be records are named', () => {
  const rec = encodeRecord({ kind: RecordKind.ZERO, stream: 0, page: 7, count: 1, sequence: 1 }, undefined, blake3);
  const cases: [number, number, RegExp][] = [[16, 0, /magic/], [20, 9, /kind/], [24, 0, /page count/], [40, 0, /range/]];
  for (const [at, value, why] of cases) {
    const bad = rec.slice();
    bad.fill(0, at, at + (at === 40 ? 8 : at === 24 ? 4 : 1));
    if (value) bad[at] = value;
    const h = decodeRecordHeader(bad);
    assert.ok('invalid' in h && why.test(h.invalid), `${at}: ${JSON.stringify(h)}`);
  }
  const data = rec.slice();
  data[20] = RecordKind.DATA;
  new DataView(data.buffer).setUint32(24, MAX_DATA_RECORD_PAGES + 1, true);
  assert.ok('invalid' in decodeRecordHeader(data));
  assert.ok('invalid' in decodeRecordHeader(rec.subarray(0, 63)));
});

/** The map checked against an array model: one entry per page (undefined, ZERO or a file offset). */
test('page map: random sets against a per-page model, with tiny buckets', () => {
  const PAGES = 3000;
  for (const bucketRuns of [1, 2, 5, 512]) {
    const rng = new Rng(77 + bucketRuns);
    const map = new OverlayMap(4096, bucketRuns);
    const model: (number | undefined)[] = new Array(PAGES).fill(undefined);
    let nextOffset = 4096;
    for (let op = 0; op < 1500; op++) {
      const big = rng.int(10) === 0;
      const count = big ? rng.range(1, 800) : rng.range(1, 6);
      const page = rng.int(PAGES - count);
      const zero = rng.int(4) === 0;
      // Sometimes continue the previous data run in the file so that merges happen.
      const offset = zero ? ZERO_PAGES : nextOffset;
      map.set(page, count, offset);
      for (let k = 0; k < count; k++) model[page + k] = zero ? ZERO_PAGES : offset + k * 4096;
      if (!zero) nextOffset += count * 4096 + (rng.int(3) === 0 ? 0 : 64);
      if (op % 100 === 99 || op === 1499) check(map, model, `bucketRuns ${bucketRuns} op ${op}`);
    }
  }

  function check(map: OverlayMap, model: (number | undefined)[], what: string): void {
    const got: (number | undefined)[] = new Array(model.length).fill(undefined);
    let prevEnd = -1;
    let runs = 0;
    let prev: { page: number; count: number; offset: number } | undefined;
    for (const r of map.runs()) {
      runs++;
      assert.ok(r.page >= prevEnd && r.count >= 1, `${what}: runs sorted, disjoint`);
      // Adjacent runs that continue each other would have been merged.
      if (prev && prev.page + prev.count === r.page) {
        const continues = prev.offset === ZERO_PAGES ? r.offset === ZERO_PAGES : r.offset !== ZERO_PAGES && prev.offset + prev.count * 4096 === r.offset;
        assert.ok(!continues, `${what}: unmerged neighbours at page ${r.page}`);
      }
      for (let k = 0; k < r.count; k++) got[r.page + k] = r.offset === ZERO_PAGES ? ZERO_PAGES : r.offset + k * 4096;
      prevEnd = r.page + r.count;
      prev = r;
    }
    assert.deepEqual(got, model, what);
    assert.equal(map.runCount, runs, `${what}: run count`);
    assert.equal(map.dataPages, model.filter((x) => x !== undefined && x !== ZERO_PAGES).length, `${what}: data pages`);
    assert.equal(map.zeroPages, model.filter((x) => x === ZERO_PAGES).length, `${what}: zero pages`);
    // Clipped queries and single lookups.
    for (const [a, b] of [[0, 1], [17, 400], [1234, 1235], [2990, 3000]]) {
      const clipped: (number | undefined)[] = new Array(b - a).fill(undefined);
      for (const r of map.runs(a, b)) {
        assert.ok(r.page >= a && r.page + r.count <= b, `${what}: clipped to [${a}, ${b})`);
        for (let k = 0; k < r.count; k++) clipped[r.page - a + k] = r.offset === ZERO_PAGES ? ZERO_PAGES : r.offset + k * 4096;
      }
      assert.deepEqual(clipped, model.slice(a, b), `${what}: runs(${a}, ${b})`);
      assert.equal(map.lookup(a), model[a], `${what}: lookup(${a})`);
    }
  }
});

test('page map: a huge trim is one run; overwrites inside it split it', () => {
  const map = new OverlayMap(4096);
  map.set(0, 2 ** 40, ZERO_PAGES);
  assert.equal(map.runCount, 1);
  assert.equal(map.zeroPages, 2 ** 40);
  map.set(10, 2, 8192);
  assert.deepEqual([...map.runs()], [
    { page: 0, count: 10, offset: ZERO_PAGES }, { page: 10, count: 2, offset: 8192 }, { page: 12, count: 2 ** 40 - 12, offset: ZERO_PAGES },
  ]);
  map.set(11, 1, 8192 + 4096); // same bytes as before: still one data run
  map.set(0, 2 ** 40, ZERO_PAGES);
  assert.deepEqual([...map.runs()], [{ page: 0, count: 2 ** 40, offset: ZERO_PAGES }]);
  assert.equal(map.dataPages, 0);
});

test('written ranges: clipped to the stream, merged by kind or across kinds', () => {
  const map = new OverlayMap(4096);
  map.set(0, 2, 4096);
  map.set(2, 1, ZERO_PAGES);
  map.set(3, 1, 100_000);
  map.set(9, 2, ZERO_PAGES);
  const size = 10 * 4096 + 100;
  assert.deepEqual([...writtenRanges(map, size)], [
    { offset: 0, length: 8192, zero: false }, { offset: 8192, length: 4096, zero: true }, { offset: 12288, length: 4096, zero: false },
    { offset: 9 * 4096, length: 4096 + 100, zero: true },
  ]);
  assert.deepEqual([...writtenRanges(map, size, true)], [{ offset: 0, length: 4 * 4096, zero: false }, { offset: 9 * 4096, length: 4196, zero: true }]);
});

test('golden bytes: a header page and records as docs/FORMAT.md "Overlay files" lays them out', () => {
  const page = encodeOverlayHeader(header(), SLOT, blake3);
  // Pinned: any change to the layout is a format change (bump OVERLAY_VERSION, update the spec).
  assert.equal(Buffer.from(blake3(page)).toString('hex'), 'aaaa0e8a355796808dd5606df992bb06b68dbe97820fa279a750ed834d31ac3c');
  const payload = new Uint8Array(4096).map((_, i) => i & 0xff);
  const data = encodeRecord({ kind: RecordKind.DATA, stream: 0, page: 5, count: 1, sequence: 9 }, payload, blake3);
  assert.equal(Buffer.from(data.subarray(0, 64)).toString('hex'),
    '9d3e561fb17faac0f50b27145ada9e4b' + '48584f52' + '01' + '00' + '0000' + '01000000' + '00000000' + '0500000000000000' + '0900000000000000' + '0'.repeat(32));
  const zero = encodeRecord({ kind: RecordKind.ZERO, stream: 1, page: 7, count: 3, sequence: 10 }, undefined, blake3);
  assert.equal(Buffer.from(zero).toString('hex'),
    '8dbb4b8b552a93df5c4188cea5fdf545' + '48584f52' + '02' + '01' + '0000' + '03000000' + '00000000' + '0700000000000000' + '0a00000000000000' + '0'.repeat(32));
});
