/**
 * How an overlay is read at open and afterwards, beyond its format: record checksums checked by
 * a RecordChecker (a worker) while the scan goes on — what it is given, how a damaged record is
 * reported, the scan checking chunks itself when the checker falls behind — and merged reads
 * whose pages lie in many small records next to each other in the log (one read for several).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { Archive } from '../src/node/archive.ts';
import { CorruptArchiveError } from '../src/errors.ts';
import { blake3 } from '../src/hash/blake3.ts';
import { Overlay } from '../src/overlay/overlay.ts';
import { OVERLAY_HEADER_SIZE } from '../src/overlay/overlay-format.ts';
import { decodeRecordHeader, RECORD_HEADER_SIZE, recordChecksumMatches, recordLength } from '../src/overlay/overlay-record.ts';
import { readOverlayFile, type RecordChecker } from '../src/overlay/read-overlay-file.ts';
import { WorkerPool } from '../src/workers/worker-pool.ts';
import { assertBytes, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const PAGE = 4096;
const MiB = 1 << 20;

/** File offsets of the records of an overlay file, in log order. */
function recordOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = OVERLAY_HEADER_SIZE; at < bytes.length;) {
    const h = decodeRecordHeader(bytes.subarray(at));
    if ('invalid' in h) break;
    out.push(at);
    at += recordLength(h);
  }
  return out;
}

/** A checker that checks on this thread, remembering what it was given; `hold` keeps its answers back until released. */
function recordingChecker(hold = false) {
  const calls: { records: number; bytes: number }[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  if (!hold) release();
  const checker: RecordChecker = async (bytes, spans) => {
    calls.push({ records: spans.length / 2, bytes: bytes.length });
    let first = -1;
    for (let i = 0; i < spans.length / 2; i++) {
      if (!recordChecksumMatches(bytes.subarray(spans[2 * i], spans[2 * i + 1]), blake3)) {
        first = i;
        break;
      }
    }
    await released;
    return first;
  };
  return { checker, calls, release };
}

/** Waits (up to 10 s) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !cond();) {
    assert.ok(Date.now() < end, 'timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function scan(path: string, checker?: RecordChecker) {
  const fh = await open(path, 'r');
  try {
    return await readOverlayFile(fh, path, blake3, { checkFlushed: checker });
  } finally {
    await fh.close();
  }
}

test('deferred checks: the checker gets exactly the flushed records; later ones are checked in the scan and decide the tail', async () => {
  const t = tempDir('hexz-ovscan-');
  try {
    const disk = new Uint8Array(64 * PAGE).fill(5);
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: t.path('b.hxz'), blockSize: 16 * PAGE });
    const base = await Archive.open(t.path('b.hxz'));
    const ov = await Overlay.create(t.path('o.overlay'), base);
    for (let p = 0; p < 20; p++) await ov.write('disk', p * PAGE, new Uint8Array(PAGE).fill(p + 1));
    await ov.flush();
    for (let p = 30; p < 35; p++) await ov.write('disk', p * PAGE, new Uint8Array(PAGE).fill(p + 1));
    // Close would flush: copy the file as a crash would leave it (5 records after the flushed end).
    const crashed = readFileSync(t.path('o.overlay'));
    await ov.close();
    await base.close();
    writeFileSync(t.path('c.overlay'), crashed);
    const offsets = recordOffsets(crashed);
    assert.equal(offsets.length, 25);

    const r = recordingChecker();
    const state = await scan(t.path('c.overlay'), r.checker);
    await state.checked;
    assert.equal(state.records, 25);
    assert.equal(r.calls.reduce((n, c) => n + c.records, 0), 20, 'the flushed records, and only they, go to the checker');

    // A damaged record after the flushed end is the start of a torn tail (found in the scan, not deferred).
    const tail = Buffer.from(crashed);
    tail[offsets[22] + RECORD_HEADER_SIZE + 7] ^= 1;
    writeFileSync(t.path('c.overlay'), tail);
    const r2 = recordingChecker();
    const s2 = await scan(t.path('c.overlay'), r2.checker);
    await s2.checked;
    assert.equal(s2.records, 22);
    assert.match(s2.tail?.reason ?? '', new RegExp(`record at byte ${offsets[22]} fails its checksum`));

    // A damaged flushed record: the scan completes, `checked` names it.
    const flushed = Buffer.from(crashed);
    flushed[offsets[11] + RECORD_HEADER_SIZE + 100] ^= 0x80;
    writeFileSync(t.path('c.overlay'), flushed);
    const s3 = await scan(t.path('c.overlay'), recordingChecker().checker);
    await assert.rejects(s3.checked, (e: Error) => {
      assert.ok(e instanceof CorruptArchiveError, String(e));
      assert.match(e.message, new RegExp(`overlay record at byte ${offsets[11]} fails its checksum \\(flushed data damaged`));
      return true;
    });
    // Without a checker the same file is refused at once, with the same words.
    await assert.rejects(scan(t.path('c.overlay')), new RegExp(`overlay record at byte ${offsets[11]} fails its checksum \\(flushed data damaged`));
    // The worker pool as the checker, as a commit uses it.
    const pool = new WorkerPool(1);
    try {
      const s4 = await scan(t.path('c.overlay'), (b, s) => pool.checkDigests(b, s));
      await assert.rejects(s4.checked, new RegExp(`record at byte ${offsets[11]} fails`));
      writeFileSync(t.path('c.overlay'), crashed);
      const s5 = await scan(t.path('c.overlay'), (b, s) => pool.checkDigests(b, s));
      await s5.checked;
      assert.equal(s5.records, 25);
    } finally {
      await pool.close();
    }
  } finally {
    t.cleanup();
  }
});

test('deferred checks: a checker that falls behind gets at most 8 chunks; the scan checks the rest itself; the first damaged record is named', async () => {
  const t = tempDir('hexz-ovscan-');
  try {
    const size = 48 * MiB;
    // A sparse base: packing it costs nothing.
    const fd = await open(t.path('d.raw'), 'w');
    await fd.truncate(size);
    await fd.close();
    await packSmall({ disk: t.path('d.raw'), output: t.path('b.hxz'), blockSize: 65536 });
    const base = await Archive.open(t.path('b.hxz'));
    const ov = await Overlay.create(t.path('o.overlay'), base);
    // Eleven records of 4 MiB: the scan reads one per chunk.
    for (let k = 0; k < 11; k++) await ov.write('disk', k * 4 * MiB, new Uint8Array(4 * MiB).fill(k + 1));
    await ov.close();
    await base.close();
    const pristine = readFileSync(t.path('o.overlay'));
    const offsets = recordOffsets(pristine);
    assert.equal(offsets.length, 11);

    const held = recordingChecker(true);
    const state = await scan(t.path('o.overlay'), held.checker);
    assert.equal(held.calls.length, 8, 'eight chunks handed over while none came back');
    assert.equal(state.records, 11);
    held.release();
    await state.checked;

    // Damage in a chunk the scan checks itself: the open fails, once the checks still out are
    // back (one of them could hold an earlier damaged record, which a plain open would name).
    const late = Buffer.from(pristine);
    late[offsets[10] + RECORD_HEADER_SIZE + 5] ^= 2;
    writeFileSync(t.path('o.overlay'), late);
    const held2 = recordingChecker(true);
    // Either the scan itself or `checked` names it, depending on where the scan is when the held
    // checks come back; while they are held, no ninth chunk is handed over.
    const failing = scan(t.path('o.overlay'), held2.checker).then((st) => st.checked);
    failing.catch(() => {});
    await until(() => held2.calls.length >= 8);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(held2.calls.length, 8);
    held2.release();
    await assert.rejects(failing, new RegExp(`overlay record at byte ${offsets[10]} fails its checksum \\(flushed data damaged`));
    // Damage there and in a chunk handed over before it: the earlier record is named, as a plain open does.
    late[offsets[3] + RECORD_HEADER_SIZE + 9] ^= 4;
    writeFileSync(t.path('o.overlay'), late);
    await assert.rejects(scan(t.path('o.overlay')), new RegExp(`overlay record at byte ${offsets[3]} fails`));
    const held4 = recordingChecker(true);
    const both = scan(t.path('o.overlay'), held4.checker).then((st) => st.checked);
    both.catch(() => {});
    await until(() => held4.calls.length >= 8);
    await new Promise((r) => setTimeout(r, 200)); // the scan reaches the damage it checks itself
    held4.release();
    await assert.rejects(both, new RegExp(`overlay record at byte ${offsets[3]} fails its checksum \\(flushed data damaged`));

    // Damage in a chunk handed over: reported by `checked`, whichever chunk comes back first.
    const early = Buffer.from(pristine);
    early[offsets[2] + RECORD_HEADER_SIZE + 5] ^= 2;
    writeFileSync(t.path('o.overlay'), early);
    const held3 = recordingChecker(true);
    const s3 = await scan(t.path('o.overlay'), held3.checker);
    held3.release();
    await assert.rejects(s3.checked, new RegExp(`overlay record at byte ${offsets[2]} fails its checksum`));
  } finally {
    t.cleanup();
  }
});

test('merged reads over many one-page records: pages next to each other in the log share a read; content is exact', async () => {
  const t = tempDir('hexz-ovscan-');
  try {
    const size = 256 * PAGE;
    const disk = Buffer.from(new Rng(3).fill(new Uint8Array(size)));
    await packSmall({ disk: writeData(t.path('d.raw'), disk), output: t.path('b.hxz'), blockSize: 16 * PAGE });
    const base = await Archive.open(t.path('b.hxz'));
    const model = Buffer.from(disk);
    const ov = await Overlay.create(t.path('o.overlay'), base);
    const page = (p: number, v: number) => new Uint8Array(PAGE).fill(v).map((x, i) => (x + i * 7 + p) & 255);
    const write = async (p: number, v: number) => {
      const d = page(p, v);
      await ov.write('disk', p * PAGE, d);
      model.set(d, p * PAGE);
    };
    // Ascending one-page writes (records back to back: coalesced), descending ones (file order
    // reversed: not), a run with a gap of a few pages in the log, zeroed pages between, and
    // pages rewritten later (their new records far from their neighbours').
    for (let p = 0; p < 80; p++) await write(p, 1);
    for (let p = 159; p >= 100; p--) await write(p, 2);
    for (let p = 170; p < 200; p += 1) await write(p, 3);
    await ov.writeZeroes('disk', 175 * PAGE, 3 * PAGE);
    model.fill(0, 175 * PAGE, 178 * PAGE);
    for (const p of [5, 6, 40, 120, 171]) await write(p, 4);
    await ov.write('disk', 210 * PAGE + 100, new Uint8Array(3000).fill(9)); // partial page: read-modify-write
    model.fill(9, 210 * PAGE + 100, 210 * PAGE + 3100);
    await ov.flush();
    const rng = new Rng(11);
    const check = async (o: Overlay, what: string) => {
      assertBytes(await o.read('disk', 0, size), model, `${what}: whole stream`);
      for (let i = 0; i < 200; i++) {
        const offset = rng.int(size - 1);
        const length = 1 + rng.int(Math.min(size - offset, 40 * PAGE));
        assertBytes(await o.read('disk', offset, length), model.subarray(offset, offset + length), `${what}: ${offset}+${length}`);
        const into = new Uint8Array(length).fill(0xee);
        await o.readInto('disk', offset, into);
        assertBytes(into, model.subarray(offset, offset + length), `${what}: readInto ${offset}+${length}`);
      }
    };
    await check(ov, 'writer');
    await ov.close();
    const ro = await Overlay.open(t.path('o.overlay'), { base, readOnly: true });
    try {
      await check(ro, 'reopened');
      // The file shrinks under an open reader: a read spanning the lost records fails clearly.
      truncateSync(t.path('o.overlay'), OVERLAY_HEADER_SIZE + 40 * (PAGE + RECORD_HEADER_SIZE));
      await assert.rejects(ro.read('disk', 30 * PAGE, 40 * PAGE), (e: Error) => e instanceof CorruptArchiveError && /overlay file ends at byte/.test(e.message));
    } finally {
      await ro.close();
      await base.close();
    }
  } finally {
    t.cleanup();
  }
});
