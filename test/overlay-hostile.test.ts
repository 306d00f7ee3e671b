/**
 * Hostile overlay files (docs/FORMAT.md "Overlay files"): a valid overlay is mutated — random
 * byte flips, header fields resealed with a valid checksum, state slots rewritten with valid
 * checksums, records rewritten so they are self-consistent but wrong (page index past the
 * stream end or near 2^53, stream index out of range, unknown kind, page counts, sequences
 * going backwards), truncations and appended garbage — and `Overlay.open` must either open to a
 * consistent state (every stream reads back at its size, extents cover what was asked) or throw
 * one of the typed errors, never anything else, never hang, never blow up memory.
 *
 * Seeded: `HEXZ_HOSTILE_SEED=N` reruns a campaign; a failure names the seed and case.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { HexzError } from '../src/errors.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { STREAM_NAMES } from '../src/format/constants.ts';
import { Overlay } from '../src/overlay/overlay.ts';
import { commitOverlay } from '../src/ops/commit-overlay.ts';
import {
  decodeOverlayHeader, decodeOverlaySlot, encodeOverlaySlot, OVERLAY_HEADER_CHECKSUM_OFFSET, OVERLAY_HEADER_SIZE,
  OVERLAY_SLOT_OFFSETS, OVERLAY_SLOT_SIZE, pickOverlaySlot,
} from '../src/overlay/overlay-format.ts';
import {
  decodeRecordHeader, encodeRecord, RECORD_CHECKSUM_FROM, RECORD_HEADER_SIZE, recordLength, RecordKind, type RecordHeader,
} from '../src/overlay/overlay-record.ts';
import { mixedData, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const SEED = Number(process.env.HEXZ_HOSTILE_SEED ?? 0x0e71a7) >>> 0;
const PAGE = 4096;
const BS = 65536;
const SIZES = { disk: 8 * BS + 1000, memory: 2 * BS };
const CASE_TIMEOUT_MS = 5000;

/** Runs `fn`, failing with the seed and case when it throws or takes longer than the case timeout. */
async function bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${CASE_TIMEOUT_MS} ms (hang?) [seed ${SEED}]`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reseals the header's fixed part after a deliberate change. */
function resealHeader(file: Uint8Array): void {
  file.set(blake3(file.subarray(0, OVERLAY_HEADER_CHECKSUM_OFFSET)), OVERLAY_HEADER_CHECKSUM_OFFSET);
}

/** Recomputes the checksum of the record at `pos` (its length from its — possibly edited — header, cut to the file). */
function resealRecord(file: Uint8Array, pos: number, length: number): void {
  const end = Math.min(file.length, pos + length);
  file.set(blake3(file.subarray(pos + RECORD_CHECKSUM_FROM, end)).subarray(0, 16), pos);
}

/** Offsets of the records of a valid overlay file. */
function recordOffsets(file: Uint8Array): number[] {
  const out: number[] = [];
  for (let pos = OVERLAY_HEADER_SIZE; pos + RECORD_HEADER_SIZE <= file.length;) {
    const h = decodeRecordHeader(file.subarray(pos, pos + RECORD_HEADER_SIZE));
    if ('invalid' in h) break;
    out.push(pos);
    pos += recordLength(h);
  }
  return out;
}

let tmp: ReturnType<typeof tempDir>;
let base: Archive;
let good: Uint8Array;
let records: number[];

before(async () => {
  tmp = tempDir('hexz-ovl-hostile-');
  const disk = mixedData(SIZES.disk, { unit: BS, seed: 31 });
  const memory = mixedData(SIZES.memory, { unit: PAGE, seed: 32 });
  await packSmall({ disk: writeData(tmp.path('d.raw'), disk), memory: writeData(tmp.path('m.raw'), memory), output: tmp.path('base.hxz'), blockSize: BS });
  base = await Archive.open(tmp.path('base.hxz'));
  const ov = await Overlay.create(tmp.path('good.overlay'), base);
  const rng = new Rng(SEED);
  for (let i = 0; i < 24; i++) {
    const stream = i % 3 === 0 ? 'memory' : 'disk';
    const size = SIZES[stream];
    const offset = rng.int(size - 1);
    const length = 1 + rng.int(Math.min(3 * PAGE, size - offset));
    if (i % 5 === 4) await ov.writeZeroes(stream, offset, length);
    else await ov.write(stream, offset, rng.fill(new Uint8Array(length)));
    if (i === 15) await ov.flush(); // the rest stays an unflushed (but intact) tail
  }
  await ov.close();
  good = new Uint8Array(readFileSync(tmp.path('good.overlay')));
  records = recordOffsets(good);
  assert.ok(records.length > 10, 'the overlay has records to mutate');
});

after(async () => {
  await base?.close();
  tmp?.cleanup();
});

/** One mutation of the good file, described for the failure message. */
interface Mutant {
  what: string;
  bytes: Uint8Array;
}

function mutate(rng: Rng): Mutant {
  const f = new Uint8Array(good);
  const v = new DataView(f.buffer);
  const pick = <T,>(xs: readonly T[]): T => xs[rng.int(xs.length)];
  const bigU64 = () => pick([0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 52n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, BigInt(rng.next())]);
  const recAt = pick(records);
  const hdr = decodeRecordHeader(f.subarray(recAt, recAt + RECORD_HEADER_SIZE)) as RecordHeader;
  const recLen = recordLength(hdr);
  switch (rng.int(14)) {
    case 0: { // random byte flips anywhere
      const n = 1 + rng.int(8);
      for (let k = 0; k < n; k++) f[rng.int(f.length)] ^= 1 << rng.int(8);
      return { what: `${n} flipped bits`, bytes: f };
    }
    case 1: { // a header field changed, checksum recomputed
      const field = pick([8, 12, 16, 24, 96, 104, 112, 120, 128] as const);
      const what = `header field @${field}`;
      if (field === 96 || field === 112) f[field] = pick([0, 1, 2, 0xff]);
      else if (field === 128) v.setUint16(128, pick([0, 1, 2048, 2049, 0xffff]), true);
      else if (field === 24 || field === 104 || field === 120) v.setBigUint64(field, bigU64(), true);
      else v.setUint32(field, pick([0, 1, 2, 4096, 8192, 0xffffffff]), true);
      resealHeader(f);
      return { what, bytes: f };
    }
    case 2: { // base path bytes: not UTF-8, or NULs
      f.fill(pick([0xff, 0x00, 0xc3]), 160, 160 + 1 + rng.int(40));
      resealHeader(f);
      return { what: 'base path bytes', bytes: f };
    }
    case 3: { // a state slot rewritten with a valid checksum and wild fields
      const slot = {
        sequence: pick([1, 2, 3, 1000, Number.MAX_SAFE_INTEGER]),
        flushedEnd: pick([0, OVERLAY_HEADER_SIZE, OVERLAY_HEADER_SIZE + 1, recAt, recAt + 17, recAt + recLen, f.length, f.length + 1, 2 ** 40, Number.MAX_SAFE_INTEGER]),
        lastRecord: pick([0, 1, hdr.sequence, hdr.sequence + 1, Number.MAX_SAFE_INTEGER]),
        flushedMs: pick([0, Date.now(), Number.MAX_SAFE_INTEGER]),
      };
      const at = pick(OVERLAY_SLOT_OFFSETS);
      f.set(encodeOverlaySlot(slot, blake3), at);
      return { what: `slot @${at} = ${JSON.stringify(slot)}`, bytes: f };
    }
    case 4: { // a slot with a valid checksum over u64 fields past 2^53
      const at = pick(OVERLAY_SLOT_OFFSETS);
      v.setBigUint64(at + 8 * rng.int(4), bigU64(), true);
      f.set(blake3(f.subarray(at, at + 48)).subarray(0, 16), at + 48);
      return { what: `slot @${at} u64 field`, bytes: f };
    }
    case 5: { // both slots destroyed
      f.fill(rng.int(256), OVERLAY_SLOT_OFFSETS[0], OVERLAY_SLOT_OFFSETS[0] + OVERLAY_SLOT_SIZE);
      f.fill(rng.int(256), OVERLAY_SLOT_OFFSETS[1], OVERLAY_SLOT_OFFSETS[1] + OVERLAY_SLOT_SIZE);
      return { what: 'both slots', bytes: f };
    }
    case 6: { // record page index: past the stream, near 2^53, past 2^53 — with a valid checksum
      const page = pick([2n ** 20n, BigInt(Math.ceil(SIZES.disk / PAGE)), BigInt(Math.ceil(SIZES.disk / PAGE)) - 1n, 2n ** 53n - 2n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]);
      v.setBigUint64(recAt + 32, page, true);
      resealRecord(f, recAt, recLen);
      return { what: `record @${recAt} page ${page} (resealed)`, bytes: f };
    }
    case 7: { // record stream index out of range or naming another stream
      const stream = pick([1, 2, 3, 0x7f, 0xff]);
      f[recAt + 21] = stream;
      resealRecord(f, recAt, recLen);
      return { what: `record @${recAt} stream ${stream} (resealed)`, bytes: f };
    }
    case 8: { // record kind unknown, or DATA<->ZERO swapped
      const kind = pick([0, 3, 0xff, RecordKind.DATA, RecordKind.ZERO]);
      f[recAt + 20] = kind;
      const h = decodeRecordHeader(f.subarray(recAt, recAt + RECORD_HEADER_SIZE));
      resealRecord(f, recAt, 'invalid' in h ? recLen : recordLength(h));
      return { what: `record @${recAt} kind ${kind} (resealed)`, bytes: f };
    }
    case 9: { // record page count: 0, past the DATA limit, 2^32-1, a few more than stored
      const count = pick([0, 1, hdr.count + 1, 2048, 2049, 0xffff, 0xffffffff]);
      v.setUint32(recAt + 24, count, true);
      const h = decodeRecordHeader(f.subarray(recAt, recAt + RECORD_HEADER_SIZE));
      resealRecord(f, recAt, 'invalid' in h ? recLen : recordLength(h));
      return { what: `record @${recAt} count ${count} (resealed)`, bytes: f };
    }
    case 10: { // record sequence backwards, 0, equal, huge
      const seq = pick([0n, 1n, BigInt(hdr.sequence), BigInt(hdr.sequence - 1), 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]);
      v.setBigUint64(recAt + 40, seq, true);
      resealRecord(f, recAt, recLen);
      return { what: `record @${recAt} sequence ${seq} (resealed)`, bytes: f };
    }
    case 11: { // truncated anywhere
      const at = pick([0, 1, 8, OVERLAY_HEADER_SIZE - 1, OVERLAY_HEADER_SIZE, recAt, recAt + 1, recAt + RECORD_HEADER_SIZE, recAt + recLen - 1, rng.int(f.length)]);
      return { what: `truncated to ${at}`, bytes: f.subarray(0, at) };
    }
    case 12: { // a self-consistent record appended with wild fields
      const kind = pick([RecordKind.DATA, RecordKind.ZERO]);
      const count = kind === RecordKind.DATA ? pick([1, 2, 3]) : pick([1, 2, 1000, 0xffffffff]);
      const h: RecordHeader = {
        kind, stream: pick([0, 1]), count,
        page: pick([0, 1, Math.ceil(SIZES.disk / PAGE) - 1, Math.ceil(SIZES.disk / PAGE), 2 ** 40, Number.MAX_SAFE_INTEGER - count]),
        sequence: pick([1, hdr.sequence, 10_000, Number.MAX_SAFE_INTEGER]),
      };
      const payload = kind === RecordKind.DATA ? rng.fill(new Uint8Array(count * PAGE)) : undefined;
      const rec = encodeRecord(h, payload, blake3);
      const out = new Uint8Array(f.length + rec.length);
      out.set(f);
      out.set(rec, f.length);
      return { what: `appended record ${JSON.stringify(h)}`, bytes: out };
    }
    default: { // garbage appended, or a record header replaced by garbage
      const junk = rng.fill(new Uint8Array(1 + rng.int(200)));
      if (rng.int(2)) {
        const out = new Uint8Array(f.length + junk.length);
        out.set(f);
        out.set(junk, f.length);
        return { what: `${junk.length} garbage bytes appended`, bytes: out };
      }
      f.set(junk.subarray(0, Math.min(junk.length, f.length - recAt)), recAt);
      return { what: `garbage over record @${recAt}`, bytes: f };
    }
  }
}

/** Opens `bytes` as an overlay; checks it is either a typed refusal or a consistent overlay. */
async function openAndCheck(name: string, m: Mutant, readOnly: boolean): Promise<'opened' | 'refused'> {
  const file = tmp.path(name);
  writeFileSync(file, m.bytes);
  let ov: Overlay;
  try {
    ov = await Overlay.open(file, { base, readOnly });
  } catch (err) {
    assert.ok(err instanceof HexzError, `${m.what}: Overlay.open threw ${String(err)} (${(err as Error)?.stack}), not a typed error [seed ${SEED}]`);
    return 'refused';
  }
  try {
    for (const stream of ov.streams) {
      const size = ov.size(stream);
      assert.equal(size, SIZES[stream], `${m.what}: size of ${stream}`);
      const bytes = await ov.read(stream, 0, size);
      assert.equal(bytes.length, size, `${m.what}: a whole read of ${stream} returns its size`);
      const ext = await ov.extents(stream, 0, size);
      let at = 0;
      for (const e of ext) {
        assert.equal(e.offset, at, `${m.what}: extents are contiguous`);
        assert.ok(e.length > 0);
        at += e.length;
      }
      assert.equal(at, size, `${m.what}: extents cover ${stream}`);
      for (const r of ov.writtenExtents(stream)) assert.ok(r.offset >= 0 && r.offset + r.length <= size, `${m.what}: written extents inside ${stream}`);
    }
    const s = ov.stats;
    assert.ok(Number.isSafeInteger(s.logBytes) && s.logBytes >= 0 && s.logBytes <= m.bytes.length, `${m.what}: logBytes ${s.logBytes}`);
    if (!readOnly) {
      // A writer must be able to go on from whatever it accepted.
      await ov.write('disk', 100, Uint8Array.of(1, 2, 3));
      await ov.flush();
      assert.deepEqual([...await ov.read('disk', 100, 3)], [1, 2, 3], `${m.what}: write after open reads back`);
    }
  } finally {
    await ov.close();
  }
  return 'opened';
}

test('the unmutated overlay opens and reads', async () => {
  assert.equal(await openAndCheck('plain.overlay', { what: 'unmutated', bytes: good }, true), 'opened');
});

test('pure decoders: random and mutated bytes give a value, undefined or a typed error', () => {
  const rng = new Rng(SEED ^ 0x5a5a);
  for (let n = 0; n < 3000; n++) {
    const kind = n % 3;
    const bytes = kind === 0 ? rng.fill(new Uint8Array(rng.int(5000))) : new Uint8Array(good.subarray(0, OVERLAY_HEADER_SIZE + 512));
    if (kind !== 0) for (let k = 0, flips = 1 + rng.int(6); k < flips; k++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
    if (kind === 2) resealHeader(bytes);
    try {
      const h = decodeOverlayHeader(bytes, blake3, 'fuzz');
      assert.ok(h.streams.some((s) => s.present) && h.streams.every((s) => Number.isSafeInteger(s.size) && s.size >= 0));
    } catch (err) {
      assert.ok(err instanceof HexzError, `decodeOverlayHeader threw ${String(err)} [seed ${SEED}, case ${n}]`);
    }
    const slot = pickOverlaySlot(bytes.length >= OVERLAY_HEADER_SIZE ? bytes : new Uint8Array(OVERLAY_HEADER_SIZE), blake3);
    if (slot) assert.ok(slot.slot.sequence >= 1 && slot.slot.flushedEnd >= OVERLAY_HEADER_SIZE && Number.isSafeInteger(slot.slot.flushedEnd));
    assert.doesNotThrow(() => decodeOverlaySlot(bytes.subarray(0, rng.int(80)), blake3));
    const rec = bytes.length >= OVERLAY_HEADER_SIZE + RECORD_HEADER_SIZE ? bytes.subarray(OVERLAY_HEADER_SIZE) : bytes;
    const h = decodeRecordHeader(rec);
    if (!('invalid' in h)) {
      assert.ok(h.kind === RecordKind.DATA || h.kind === RecordKind.ZERO);
      assert.ok(h.count >= 1 && Number.isSafeInteger(h.page) && h.sequence >= 1 && Number.isSafeInteger(h.sequence));
      assert.ok(recordLength(h) <= RECORD_HEADER_SIZE + 2048 * PAGE, 'a record header never asks for more than 8 MiB');
    }
  }
});

test('round trip: encodeRecord → decodeRecordHeader for random valid records', () => {
  const rng = new Rng(SEED ^ 0x1234);
  for (let n = 0; n < 500; n++) {
    const kind = rng.int(2) ? RecordKind.DATA : RecordKind.ZERO;
    const count = kind === RecordKind.DATA ? 1 + rng.int(3) : 1 + rng.int(0xffffffff);
    const h: RecordHeader = { kind, stream: rng.int(2), count, page: rng.int(2 ** 40), sequence: 1 + rng.int(2 ** 40) };
    const rec = encodeRecord(h, kind === RecordKind.DATA ? rng.fill(new Uint8Array(count * PAGE)) : undefined, blake3);
    assert.deepEqual(decodeRecordHeader(rec), h);
    assert.equal(rec.length, recordLength(h));
  }
});

test(`Overlay.open of 300 mutated files: consistent or a typed error (seed ${SEED})`, { timeout: 60_000 }, async () => {
  const rng = new Rng(SEED);
  const rss0 = process.memoryUsage().rss;
  const outcomes = { opened: 0, refused: 0 };
  for (let n = 0; n < 300; n++) {
    const m = mutate(rng);
    // Every tenth case opens for writing: the writer cuts torn tails and must then be usable.
    const readOnly = n % 10 !== 9;
    const outcome = await bounded(`case ${n} (${m.what})`, () => openAndCheck(`m${n % 4}.overlay`, { ...m, what: `case ${n}: ${m.what}` }, readOnly));
    outcomes[outcome]++;
  }
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 256, `RSS grew ${grown.toFixed(0)} MiB over the campaign [seed ${SEED}]`);
  assert.ok(outcomes.opened > 20 && outcomes.refused > 20, `both outcomes are exercised: ${JSON.stringify(outcomes)}`);
});

test(`hexz commit of 60 mutated overlays: the child reads as the overlay does, or a typed error and nothing left (seed ${SEED})`, { timeout: 120_000 }, async () => {
  // A commit checks the records' checksums on a worker while it reads them (deferred): it must
  // accept exactly what a plain open accepts, and read the same bytes.
  const rng = new Rng(SEED ^ 0x5eed);
  const outcomes = { committed: 0, refused: 0 };
  const child = tmp.path('child.hxz');
  for (let n = 0; n < 60; n++) {
    const m = mutate(rng);
    const file = tmp.path('c.overlay');
    writeFileSync(file, m.bytes);
    rmSync(child, { force: true });
    const what = `case ${n}: ${m.what}`;
    let expected: Record<string, Uint8Array> | undefined;
    try {
      // The base looked up as the commit does (by the recorded path: a case may damage it).
      const ov = await Overlay.open(file, { readOnly: true });
      try {
        expected = Object.fromEntries(await Promise.all(ov.streams.map(async (s) => [s, await ov.read(s, 0, ov.size(s))] as const)));
      } finally {
        await ov.close();
      }
    } catch (err) {
      assert.ok(err instanceof HexzError, `${what}: open threw ${String(err)}`);
    }
    const result = await bounded(what, () => commitOverlay(file, { output: child }).then(() => 'ok' as const, (err: unknown) => err));
    if (expected) {
      assert.equal(result, 'ok', `${what}: the overlay opens but its commit failed: ${String(result)} [seed ${SEED}]`);
      const a = await Archive.open(child);
      try {
        for (const [s, bytes] of Object.entries(expected)) assert.ok(Buffer.from(await a.readAt(s as 'disk', 0, bytes.length)).equals(bytes), `${what}: child ${s} differs from the overlay [seed ${SEED}]`);
      } finally {
        await a.close();
      }
      outcomes.committed++;
    } else {
      assert.ok(result instanceof HexzError, `${what}: the overlay is refused, its commit gave ${String(result)} [seed ${SEED}]`);
      assert.equal(existsSync(child), false, `${what}: a refused commit leaves no child`);
      outcomes.refused++;
    }
  }
  assert.ok(outcomes.committed > 5 && outcomes.refused > 5, `both outcomes are exercised: ${JSON.stringify(outcomes)}`);
});

test('a record past the stream end with a valid checksum is never applied', async () => {
  // The last record of the flushed part moved past the end of its stream: before the flushed end
  // it is damage (CorruptArchiveError); after it, a torn tail that reads ignore.
  for (const pos of [records[0], records[records.length - 1]]) {
    const f = new Uint8Array(good);
    const h = decodeRecordHeader(f.subarray(pos, pos + RECORD_HEADER_SIZE)) as RecordHeader;
    new DataView(f.buffer).setBigUint64(pos + 32, BigInt(Math.ceil(SIZES[STREAM_NAMES[h.stream] as 'disk' | 'memory'] / PAGE)), true);
    resealRecord(f, pos, recordLength(h));
    const file = tmp.path('past-end.overlay');
    writeFileSync(file, f);
    const slot = pickOverlaySlot(f, blake3)!.slot;
    if (pos < slot.flushedEnd) {
      await assert.rejects(Overlay.open(file, { base, readOnly: true }), (e: Error) => e instanceof HexzError && /flushed data damaged/.test(e.message));
    } else {
      const ov = await Overlay.open(file, { base, readOnly: true });
      try {
        assert.ok(ov.stats.records < records.length, 'the bad record and what follows are not applied');
        for (const s of ov.streams) assert.equal((await ov.read(s, 0, ov.size(s))).length, ov.size(s));
      } finally {
        await ov.close();
      }
    }
  }
});
