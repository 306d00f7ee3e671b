/**
 * Hostile input for the NBD server: (a) the pure codecs (option codec, negotiation, request
 * decode and checks, read plans, block status) fed random and mutated bytes — each returns a
 * value or its documented error (UsageError, null), never another exception, never an
 * allocation sized by the input; valid messages round-trip. (b) A few hundred raw-socket
 * sessions that lie (mutated handshakes, wrong magics, lengths of 0xFFFFFFFF, offsets near 2^64,
 * unknown flags and commands, requests before the handshake ends, floods of requests whose
 * replies are never read, writes with payloads to a read-only export, block status with no
 * context, disconnects anywhere); afterwards the server still serves a correct client byte for
 * byte, its memory stayed bounded and nothing was logged as a failing read.
 *
 * Seeded: `HEXZ_HOSTILE_SEED=N` reruns a campaign; failures name the seed and the case.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { Archive } from '../src/node/archive.ts';
import { UsageError } from '../src/errors.ts';
import type { StreamExtent } from '../src/archive/stream-view.ts';
import { archiveExports } from '../src/serve/archive-exports.ts';
import type { ServeExport } from '../src/serve/serve-export.ts';
import { startNbdServer, type NbdServer } from '../src/serve/nbd/nbd-server.ts';
import { NbdConnection, type NbdLogEntry } from '../src/serve/nbd/nbd-connection.ts';
import {
  BASE_ALLOCATION, CmdFlag, DEFAULT_MAX_PAYLOAD, MAX_STRING_BYTES, NBD_OPTS_MAGIC, NBD_REP_MAGIC, NBD_REQUEST_MAGIC, NbdCmd, NbdError,
  NbdOpt, NbdRep, OPTION_HEADER_SIZE, REQUEST_SIZE,
} from '../src/serve/nbd/nbd-constants.ts';
import {
  buildOptionReply, buildRepMetaContext, buildRepServer, decodeString, encodeString, parseClientFlags, parseInfoRequest,
  parseMetaContextRequest, parseOptionHeader,
} from '../src/serve/nbd/nbd-option-codec.ts';
import { answerOption, initialNegotiationState, type NegotiationContext } from '../src/serve/nbd/nbd-negotiation.ts';
import { checkRequest, parseRequest, type NbdRequest, type RequestLimits } from '../src/serve/nbd/nbd-request.ts';
import { planRead } from '../src/serve/nbd/nbd-read-plan.ts';
import { statusDescriptors } from '../src/serve/nbd/nbd-block-status.ts';
import { blockStatusChunk, errorChunk, offsetHoleChunk, simpleReply } from '../src/serve/nbd/nbd-reply.ts';
import { assertBytes, mixedData, packSmall, Rng, tempDir, writeData } from './helpers.ts';

const SEED = Number(process.env.HEXZ_HOSTILE_SEED ?? 0x0bd0) >>> 0;
const BS = 65536;
const SIZE = 16 * BS + 12345;
const where = (n: number) => `[seed ${SEED}, case ${n}]`;

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; };
const pick = <T,>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** Client side of the handshake, written from doc/proto.md (not from the server's codec). */
function option(opt: number, data: Uint8Array = Buffer.alloc(0), lengthLie?: number): Buffer {
  const h = Buffer.alloc(OPTION_HEADER_SIZE);
  h.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(lengthLie ?? data.length, 12);
  return Buffer.concat([h, data]);
}
function infoData(name: string, requests: number[] = []): Buffer {
  const n = Buffer.from(name);
  return Buffer.concat([u32(n.length), n, u16(requests.length), ...requests.map(u16)]);
}
function metaData(name: string, queries: string[]): Buffer {
  const n = Buffer.from(name);
  return Buffer.concat([u32(n.length), n, u32(queries.length), ...queries.flatMap((q) => [u32(Buffer.byteLength(q)), Buffer.from(q)])]);
}
function request(type: number, offset: bigint, length: number, o: { flags?: number; cookie?: bigint; magic?: number } = {}): Buffer {
  const b = Buffer.alloc(REQUEST_SIZE);
  b.writeUInt32BE(o.magic ?? NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(o.flags ?? 0, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(o.cookie ?? 1n, 8);
  b.writeBigUInt64BE(BigInt.asUintN(64, offset), 16);
  b.writeUInt32BE(length >>> 0, 24);
  return b;
}

/** Calls `fn`; only `allowed` error classes may come out of it. */
function only<T>(what: string, allowed: (new (...a: any[]) => Error)[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    assert.ok(allowed.some((c) => err instanceof c), `${what} threw ${String(err)}\n${(err as Error)?.stack}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// (a) pure codecs

const fakeExport = (name: string, size: number, writable = false): ServeExport => ({
  name, description: `${name} export`, size, blockSize: 65536, archiveId: '00', etag: '"e"', modified: new Date(0),
  read: async () => new Uint8Array(0), extents: async () => [],
  writer: writable ? { write: async () => {}, writeZeroes: async () => {}, trim: async () => {}, flush: async () => {} } : undefined,
});

/** Parses option replies out of `bytes`, checking each is well-formed; returns them. */
function parseOptionReplies(bytes: Uint8Array[], what: string): { option: number; type: number; length: number }[] {
  return bytes.map((r) => {
    const v = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    assert.ok(v.length >= 20, `${what}: reply shorter than its header`);
    assert.equal(v.readBigUInt64BE(0), NBD_REP_MAGIC, `${what}: reply magic`);
    const length = v.readUInt32BE(16);
    assert.equal(v.length, 20 + length, `${what}: reply length field matches`);
    assert.ok(length <= 4 + 2 * MAX_STRING_BYTES + 16, `${what}: reply of ${length} bytes`);
    return { option: v.readUInt32BE(8), type: v.readUInt32BE(12), length };
  });
}

function mutateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  switch (rng.int(4)) {
    case 0: for (let k = 0, n = 1 + rng.int(4); k < n && out.length; k++) out[rng.int(out.length)] ^= 1 << rng.int(8); return out;
    case 1: return out.subarray(0, rng.int(out.length + 1));
    case 2: { // a 32-bit field somewhere set to a lying length
      if (out.length >= 4) new DataView(out.buffer).setUint32(rng.int(out.length - 3), pick(rng, [0, 1, 0x7fffffff, 0xffffffff, MAX_STRING_BYTES + 1, out.length]));
      return out;
    }
    default: { const extra = rng.fill(new Uint8Array(1 + rng.int(8))); const r = new Uint8Array(out.length + extra.length); r.set(out); r.set(extra, out.length); return r; }
  }
}

describe('NBD codecs under random and mutated input', () => {
  test('client flags, option headers, request headers: a value or UsageError', () => {
    const rng = new Rng(SEED);
    for (let n = 0; n < 5000; n++) {
      const len = pick(rng, [0, 3, 4, 5, 15, 16, 17, 27, 28, 29, rng.int(64)]);
      const bytes = rng.fill(new Uint8Array(len));
      if (len === 16 && rng.int(2)) new DataView(bytes.buffer).setBigUint64(0, NBD_OPTS_MAGIC);
      if (len === 28 && rng.int(2)) new DataView(bytes.buffer).setUint32(0, NBD_REQUEST_MAGIC);
      only(`parseClientFlags ${where(n)}`, [UsageError], () => parseClientFlags(bytes));
      const h = only(`parseOptionHeader ${where(n)}`, [UsageError], () => parseOptionHeader(bytes));
      if (h) assert.ok(h.length >= 0 && h.length <= 0xffffffff && len === 16);
      const r = only(`parseRequest ${where(n)}`, [UsageError], () => parseRequest(bytes));
      if (r) {
        assert.equal(len, 28);
        assert.ok(Number.isFinite(r.offset) && r.offset >= 0 && r.offset < 2 ** 64 && r.length >= 0 && r.length <= 0xffffffff);
      }
    }
  });

  test('option data (INFO/GO, META_CONTEXT, export names): a value or null; valid data round-trips', () => {
    const rng = new Rng(SEED + 1);
    const names = ['', 'disk', 'b/memory', 'é', 'x'.repeat(MAX_STRING_BYTES), 'x'.repeat(MAX_STRING_BYTES + 1), 'a\0b'];
    for (let n = 0; n < 3000; n++) {
      const name = pick(rng, names);
      const requests = Array.from({ length: rng.int(5) }, () => rng.int(0x10000));
      const queries = Array.from({ length: rng.int(4) }, () => pick(rng, [BASE_ALLOCATION, 'base:', 'qemu:dirty-bitmap:x', '', 'é'.repeat(3)]));
      const info = infoData(name, requests);
      const meta = metaData(name, queries);
      const valid = Buffer.byteLength(name) <= MAX_STRING_BYTES && !name.includes('\0');
      // Valid messages round-trip.
      assert.deepEqual(parseInfoRequest(info), valid ? { name, requests } : null, `INFO round trip ${where(n)}`);
      assert.deepEqual(parseMetaContextRequest(meta), valid ? { name, queries } : null, `META round trip ${where(n)}`);
      // Mutated and random ones give a value or null, and nothing larger than the input.
      for (const bytes of [mutateBytes(rng, info), mutateBytes(rng, meta), rng.fill(new Uint8Array(rng.int(40)))]) {
        const i = only(`parseInfoRequest ${where(n)}`, [], () => parseInfoRequest(bytes));
        if (i) assert.ok(i.requests.length * 2 + Buffer.byteLength(i.name) <= bytes.length);
        const m = only(`parseMetaContextRequest ${where(n)}`, [], () => parseMetaContextRequest(bytes));
        if (m) assert.ok(m.queries.length * 4 <= bytes.length);
        const s = only(`decodeString ${where(n)}`, [], () => decodeString(bytes));
        if (s !== null && s !== undefined) assert.deepEqual(Buffer.from(s), Buffer.from(bytes));
      }
    }
    // A query count of 2^32-1 in 12 bytes of data is refused before any loop or allocation.
    assert.equal(parseMetaContextRequest(Buffer.concat([u32(0), u32(0xffffffff), u32(0)])), null);
    assert.equal(parseInfoRequest(Buffer.concat([u32(0xffffffff), u16(0)])), null);
    assert.equal(parseInfoRequest(Buffer.concat([u32(0), u16(0xffff)])), null);
  });

  test('strings: encodeString cuts at a character boundary within 4096 bytes; decodeString inverts it', () => {
    const rng = new Rng(SEED + 2);
    const alphabet = ['a', 'é', '€', '😀', '/', ' '];
    for (let n = 0; n < 300; n++) {
      const text = Array.from({ length: rng.int(2000) }, () => pick(rng, alphabet)).join('');
      const bytes = encodeString(text);
      assert.ok(bytes.length <= MAX_STRING_BYTES);
      const back = decodeString(bytes);
      assert.ok(back !== null && text.startsWith(back), `encodeString ${where(n)}`);
    }
  });

  test('answerOption never throws and every reply is well-formed', () => {
    const rng = new Rng(SEED + 3);
    const ctxs: NegotiationContext[] = [
      { exports: [fakeExport('disk', SIZE), fakeExport('memory', 0)], maxPayload: DEFAULT_MAX_PAYLOAD },
      { exports: [fakeExport('rw', 2 ** 40, true)], maxPayload: 4096 },
      { exports: [fakeExport('disk', 1)], maxPayload: DEFAULT_MAX_PAYLOAD, shuttingDown: true },
    ];
    const opts = [...Object.values(NbdOpt), 0, 12, 0x7fffffff, 0xffffffff];
    for (let n = 0; n < 4000; n++) {
      const ctx = pick(rng, ctxs);
      const state = initialNegotiationState(rng.int(2) === 1);
      state.structured = rng.int(2) === 1;
      const opt = pick(rng, opts);
      const good = opt === NbdOpt.GO || opt === NbdOpt.INFO ? infoData(pick(rng, ['', 'disk', 'rw', 'nope']), [1, 2])
        : opt === NbdOpt.SET_META_CONTEXT || opt === NbdOpt.LIST_META_CONTEXT ? metaData(pick(rng, ['', 'disk', 'nope']), [BASE_ALLOCATION])
          : opt === NbdOpt.EXPORT_NAME ? Buffer.from(pick(rng, ['', 'disk', 'nope'])) : Buffer.alloc(0);
      const data = rng.int(3) ? mutateBytes(rng, good) : good;
      const out = only(`answerOption ${where(n)}`, [], () => answerOption(state, opt, data, ctx))!;
      if (out.kind === 'drop') continue;
      if (out.kind === 'transmit' && opt === NbdOpt.EXPORT_NAME) {
        assert.ok(out.replies.length === 1 && (out.replies[0].length === 10 || out.replies[0].length === 134));
        continue;
      }
      const replies = parseOptionReplies(out.replies, `option ${opt} ${where(n)}`);
      for (const r of replies) assert.equal(r.option, opt >>> 0, `replies echo the option ${where(n)}`);
      const last = replies[replies.length - 1];
      assert.ok(last.type === NbdRep.ACK || last.type >= 0x8000_0000, `the last reply ends the option ${where(n)}`);
      if (out.kind === 'transmit') {
        assert.equal(last.type, NbdRep.ACK);
        assert.ok(ctx.exports.includes(out.params.export));
        if (out.params.allocationId !== null) assert.ok(out.params.structured, 'block status only with structured replies');
      }
    }
  });

  test('checkRequest: whatever passes stays inside the export and the payload limit', () => {
    const rng = new Rng(SEED + 4);
    const edges = [0n, 1n, BigInt(SIZE - 1), BigInt(SIZE), 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 4096n];
    for (let n = 0; n < 20000; n++) {
      const limits: RequestLimits = { size: pick(rng, [0, 1, SIZE, 2 ** 40]), writable: rng.int(2) === 1, structured: rng.int(2) === 1, blockStatus: rng.int(2) === 1, maxPayload: pick(rng, [4096, DEFAULT_MAX_PAYLOAD]) };
      const offset = rng.int(2) ? pick(rng, edges) : BigInt(rng.int(SIZE * 2));
      const length = pick(rng, [0, 1, 4096, rng.int(SIZE), 0xffffffff, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PAYLOAD + 1]);
      const req = parseRequest(request(pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 8, 0xffff]), offset, length, { flags: rng.int(2) ? 0 : rng.int(0x10000) }));
      const refusal = only(`checkRequest ${where(n)}`, [], () => checkRequest(req, limits));
      if (refusal) {
        assert.ok(Object.values(NbdError).includes(refusal.error as never), `an NBD error value ${where(n)}`);
        continue;
      }
      if (req.type === NbdCmd.DISC) continue;
      assert.ok([0, 1, 3, 4, 6, 7].includes(req.type), `unknown command ${req.type} passed ${where(n)}`);
      if (req.type === NbdCmd.FLUSH) continue;
      assert.ok(BigInt(req.offset) + BigInt(req.length) <= BigInt(limits.size) && offset + BigInt(length) <= BigInt(limits.size), `request inside the export ${where(n)}`);
      if (req.type === NbdCmd.READ) assert.ok(req.length <= limits.maxPayload);
      if (req.type === NbdCmd.WRITE || req.type === NbdCmd.TRIM || req.type === NbdCmd.WRITE_ZEROES) assert.ok(limits.writable);
      if (req.type === NbdCmd.BLOCK_STATUS) assert.ok(limits.blockStatus && req.length > 0);
      if (req.flags & CmdFlag.DF) assert.ok(limits.structured && req.type === NbdCmd.READ);
    }
  });

  test('planRead and statusDescriptors cover exactly the request whatever extents say', () => {
    const rng = new Rng(SEED + 5);
    for (let n = 0; n < 5000; n++) {
      const offset = rng.int(1 << 20);
      const length = rng.int(2) ? rng.int(1 << 16) : rng.int(0xffffffff) + 1;
      // Extents as a buggy or adversarial export might return them: unsorted, overlapping, outside the range.
      const extents: StreamExtent[] = Array.from({ length: rng.int(12) }, () => ({
        offset: rng.int(2) ? offset + rng.int(length + 1) - rng.int(100) : rng.int(1 << 21), length: rng.int(3) ? 1 + rng.int(1 << 16) : rng.int(2) ? 0 : 2 ** 33, zero: rng.int(2) === 1,
      }));
      if (rng.int(2)) extents.sort((a, b) => a.offset - b.offset);
      const plan = planRead(offset, length, extents);
      let at = offset;
      for (const p of plan.pieces) {
        assert.equal(p.offset, at, `pieces are contiguous ${where(n)}`);
        assert.ok(p.length > 0 && p.length <= 0xffffffff);
        at += p.length;
      }
      assert.equal(at, length === 0 ? offset : offset + length, `pieces cover the read ${where(n)}`);
      const data = plan.pieces.filter((p) => !p.hole);
      if (plan.read) {
        assert.ok(plan.read.offset >= offset && plan.read.offset + plan.read.length <= offset + length);
        for (const p of data) assert.ok(p.offset >= plan.read.offset && p.offset + p.length <= plan.read.offset + plan.read.length);
      } else assert.equal(data.length, 0);
      if (length === 0) continue;
      const ds = statusDescriptors(offset, length, extents);
      let total = 0;
      for (const d of ds) {
        assert.ok(d.length > 0 && d.length <= 0xffffffff && Number.isInteger(d.length), `descriptor length ${d.length} ${where(n)}`);
        total += d.length;
      }
      assert.ok(total <= length, `descriptors stay inside the request ${where(n)}`);
      assert.doesNotThrow(() => blockStatusChunk(1n, 1, ds));
    }
  });

  test('reply builders: lengths in the headers match the buffers', () => {
    const rng = new Rng(SEED + 6);
    for (let n = 0; n < 500; n++) {
      const msg = 'é'.repeat(rng.int(5000));
      const e = Buffer.from(errorChunk(BigInt(rng.next()), NbdError.EINVAL, msg, rng.int(2) ? rng.int(2 ** 40) : undefined));
      assert.equal(e.readUInt32BE(16), e.length - 20);
      assert.equal(e.readUInt16BE(24), Buffer.byteLength(decodeString(e.subarray(26, 26 + e.readUInt16BE(24))) ?? '\0'));
      const h = Buffer.from(offsetHoleChunk(1n, rng.int(2 ** 40), 1 + rng.int(0xfffffffe), true));
      assert.equal(h.readUInt32BE(16), h.length - 20);
      assert.equal(simpleReply(1n, 0).length, 16);
      const names = Buffer.from(buildRepServer(NbdOpt.LIST, 'x'.repeat(rng.int(5000)), 'd'.repeat(rng.int(5000))));
      assert.equal(names.readUInt32BE(16), names.length - 20);
      assert.ok(names.readUInt32BE(20) <= MAX_STRING_BYTES);
      assert.equal(Buffer.from(buildRepMetaContext(9, 0, BASE_ALLOCATION)).readUInt32BE(16), 4 + BASE_ALLOCATION.length);
      assert.equal(buildOptionReply(1, 1).length, 20);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// (b) the server against lying clients

/** Collects what the server sends; resolves when it closes the connection or goes quiet. */
class Session {
  readonly received: Buffer[] = [];
  bytes = 0;
  closed = false;
  private quiet: (() => void) | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => { this.received.push(c); this.bytes += c.length; this.poke(); });
    socket.on('error', () => {});
    socket.on('close', () => { this.closed = true; this.quiet?.(); });
  }

  static open(port: number): Promise<Session> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => { s.setNoDelay(true); resolve(new Session(s)); });
      s.once('error', reject);
    });
  }

  /** Resolves once closed, or after `ms` without data, or after `maxMs` whatever happens. */
  settle(ms: number, maxMs = 2000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const hard = setTimeout(done, maxMs);
      const self = this;
      function done() { clearTimeout(hard); clearTimeout(self.timer); self.quiet = null; resolve(); }
      this.quiet = () => { clearTimeout(this.timer); if (this.closed) done(); else this.timer = setTimeout(done, ms); };
      this.quiet();
    });
  }

  private poke(): void {
    this.quiet?.();
  }

  all(): Buffer {
    return Buffer.concat(this.received);
  }
}

interface Script {
  what: string;
  parts: Buffer[];
  /** Destroy the socket after sending instead of half-closing it. */
  abrupt?: boolean;
  /** Do not read what the server sends (the socket is paused). */
  deaf?: boolean;
  /** Check the replies: a valid structured handshake, then these requests (by cookie). */
  expect?: Map<bigint, ExpectedReply>;
}

type ExpectedReply = { kind: 'read'; offset: number; length: number } | { kind: 'error' } | { kind: 'status'; offset: number; length: number } | { kind: 'any' };

function handshake(rng: Rng, o: { structured: boolean; meta: boolean; name?: string; old?: boolean }): Buffer[] {
  const name = o.name ?? 'disk';
  const parts: Buffer[] = [u32(o.old ? rng.int(2) + 1 : 3)];
  // Options a client may send first: they must not derail the rest.
  for (let k = rng.int(3); k > 0; k--) parts.push(pick(rng, [option(NbdOpt.LIST), option(NbdOpt.INFO, infoData(name, [0, 1, 2, 3])), option(NbdOpt.LIST_META_CONTEXT, metaData(name, [])), option(0x42), option(NbdOpt.STARTTLS)]));
  if (o.old) return [...parts, option(NbdOpt.EXPORT_NAME, Buffer.from(name))];
  if (o.structured) parts.push(option(NbdOpt.STRUCTURED_REPLY));
  if (o.meta) parts.push(option(NbdOpt.SET_META_CONTEXT, metaData(name, [BASE_ALLOCATION])));
  parts.push(option(NbdOpt.GO, infoData(name, [])));
  return parts;
}

/** A request that is valid, or lies in one of the ways a hostile client would. */
function hostileRequest(rng: Rng, cookie: bigint, meta: boolean): { bytes: Buffer; expect: ExpectedReply; drops?: boolean } {
  const r = rng.int(16);
  const off = BigInt(rng.int(SIZE));
  const len = 1 + rng.int(Math.min(256 << 10, SIZE - Number(off)));
  switch (r) {
    case 0: case 1: case 2: case 3: return { bytes: request(NbdCmd.READ, off, len, { cookie }), expect: { kind: 'read', offset: Number(off), length: len } };
    case 4: return { bytes: request(NbdCmd.READ, off, len, { cookie, flags: CmdFlag.DF }), expect: { kind: 'read', offset: Number(off), length: len } };
    case 5: { // offset + length overflowing 2^64, or past the end
      const o = pick(rng, [2n ** 64n - 1n, 2n ** 64n - 4096n, 2n ** 63n, 2n ** 53n, BigInt(SIZE), BigInt(SIZE - 1)]);
      return { bytes: request(pick(rng, [NbdCmd.READ, NbdCmd.BLOCK_STATUS, NbdCmd.TRIM]), o, pick(rng, [2, 4096, 0xffffffff]), { cookie }), expect: { kind: 'error' } };
    }
    case 6: return { bytes: request(NbdCmd.READ, 0n, pick(rng, [DEFAULT_MAX_PAYLOAD + 1, 0xffffffff]), { cookie }), expect: { kind: 'error' } };
    case 7: return { bytes: request(pick(rng, [5, 8, 9, 0x100, 0xffff]), off, len, { cookie }), expect: { kind: 'error' } };
    case 8: return { bytes: request(NbdCmd.READ, off, len, { cookie, flags: pick(rng, [CmdFlag.REQ_ONE, CmdFlag.NO_HOLE, 0x8000, 0xffff]) }), expect: { kind: 'error' } };
    case 9: { // a write with its payload, to a read-only export
      const n = rng.int(8192);
      return { bytes: Buffer.concat([request(NbdCmd.WRITE, off, n, { cookie }), Buffer.from(rng.fill(new Uint8Array(n)))]), expect: { kind: 'error' } };
    }
    case 10: return { bytes: request(pick(rng, [NbdCmd.TRIM, NbdCmd.WRITE_ZEROES, NbdCmd.FLUSH]), off, len, { cookie }), expect: { kind: 'error' } };
    case 11: // block status: answered when negotiated, refused without a context
      return { bytes: request(NbdCmd.BLOCK_STATUS, off, len, { cookie, flags: rng.int(2) ? CmdFlag.REQ_ONE : 0 }), expect: meta ? { kind: 'status', offset: Number(off), length: len } : { kind: 'error' } };
    case 12: return { bytes: request(NbdCmd.BLOCK_STATUS, off, 0, { cookie }), expect: { kind: 'error' } };
    case 13: return { bytes: request(NbdCmd.READ, off, 0, { cookie }), expect: { kind: 'any' } };
    case 14: // a write larger than the payload limit, or a bad magic: the connection is dropped
      return rng.int(2)
        ? { bytes: request(NbdCmd.WRITE, 0n, pick(rng, [DEFAULT_MAX_PAYLOAD + 1, 0xffffffff]), { cookie }), expect: { kind: 'any' }, drops: true }
        : { bytes: request(NbdCmd.READ, 0n, 1, { cookie, magic: pick(rng, [0, 0x25609514, 0x67446698]) }), expect: { kind: 'any' }, drops: true };
    default: return { bytes: request(NbdCmd.READ, BigInt(SIZE - len), len, { cookie }), expect: { kind: 'read', offset: SIZE - len, length: len } };
  }
}

function makeScript(rng: Rng, n: number): Script {
  const flavour = rng.int(10);
  const structured = rng.int(4) !== 0;
  const meta = structured && rng.int(2) === 1;
  if (flavour <= 3) {
    // A valid structured handshake, then lying requests; every reply is checked.
    const parts = handshake(rng, { structured: true, meta });
    const expect = new Map<bigint, ExpectedReply>();
    for (let k = 0, count = 1 + rng.int(12); k < count; k++) {
      const cookie = BigInt(n) * 1000n + BigInt(k) + 1n;
      const r = hostileRequest(rng, cookie, meta);
      parts.push(r.bytes);
      expect.set(cookie, r.expect);
      if (r.drops) return { what: `checked session dropped by request ${k}`, parts, abrupt: rng.int(2) === 1 };
    }
    if (rng.int(2)) parts.push(request(NbdCmd.DISC, 0n, 0));
    return { what: `checked session (${expect.size} requests, meta ${meta})`, parts, expect };
  }
  const parts = handshake(rng, { structured, meta, old: rng.int(4) === 0, name: rng.int(8) ? 'disk' : pick(rng, ['', 'nope', 'memory', 'é']) });
  for (let k = 0, count = rng.int(10); k < count; k++) parts.push(hostileRequest(rng, BigInt(k), meta).bytes);
  switch (flavour) {
    case 4: { // flipped bytes anywhere in the stream
      const all = Buffer.concat(parts);
      for (let k = 0, f = 1 + rng.int(6); k < f; k++) all[rng.int(all.length)] ^= 1 << rng.int(8);
      return { what: 'flipped bytes', parts: [all], abrupt: rng.int(3) === 0 };
    }
    case 5: { // truncated, then closed abruptly or half-closed
      const all = Buffer.concat(parts);
      return { what: 'truncated', parts: [all.subarray(0, rng.int(all.length))], abrupt: rng.int(2) === 0 };
    }
    case 6: { // lying option lengths, wrong option magic, unknown client flags
      const i = 1 + rng.int(parts.length - 1);
      const lie = pick(rng, ['length', 'magic', 'flags'] as const);
      if (lie === 'flags') parts[0] = u32(pick(rng, [4, 0x80000000, 0xffffffff]));
      else if (parts[i].length >= OPTION_HEADER_SIZE && parts[i].readBigUInt64BE(0) === NBD_OPTS_MAGIC) {
        if (lie === 'length') parts[i].writeUInt32BE(pick(rng, [0xffffffff, 0x10001, 0x7fffffff, 0, parts[i].length]), 12);
        else parts[i].write('IHAVEOPU', 0, 'latin1');
      }
      return { what: `lying handshake (${lie})`, parts, abrupt: rng.int(2) === 0 };
    }
    case 7: // requests before the handshake ended
      return { what: 'requests before the handshake', parts: [parts[0], request(NbdCmd.READ, 0n, 4096), ...parts.slice(1)] };
    case 8: { // a flood of reads whose replies are never read
      const flood = Array.from({ length: 2000 }, (_, k) => request(NbdCmd.READ, BigInt((k * 4096) % (SIZE - BS)), BS, { cookie: BigInt(k) }));
      return { what: 'flood of 64 KiB reads, replies never read', parts: [...handshake(rng, { structured, meta }), ...flood], deaf: true, abrupt: true };
    }
    default: // a disconnect at a random point of a valid session
      return { what: 'disconnect mid-session', parts: [Buffer.concat(parts).subarray(0, rng.int(Buffer.concat(parts).length + 1))], abrupt: true };
  }
}

/** Checks a checked session's replies: one structured reply per cookie, reads byte for byte. */
function checkReplies(all: Buffer, expect: Map<bigint, ExpectedReply>, raw: Uint8Array, what: string): void {
  let at = 18; // greeting
  assert.ok(all.length >= 18, `${what}: greeting`);
  // Option replies up to the ACK of NBD_OPT_GO.
  for (;;) {
    assert.ok(all.length >= at + 20, `${what}: option replies cut short`);
    assert.equal(all.readBigUInt64BE(at), NBD_REP_MAGIC, `${what}: option reply magic`);
    const opt = all.readUInt32BE(at + 8);
    const type = all.readUInt32BE(at + 12);
    at += 20 + all.readUInt32BE(at + 16);
    if (opt === NbdOpt.GO) {
      assert.ok(type === NbdRep.ACK || type === NbdRep.INFO, `${what}: GO answered 0x${type.toString(16)}`);
      if (type === NbdRep.ACK) break;
    }
  }
  const done = new Map<bigint, Buffer>();
  const data = new Map<bigint, Buffer>();
  while (at < all.length) {
    assert.ok(all.length >= at + 20, `${what}: a chunk header cut short`);
    assert.equal(all.readUInt32BE(at), 0x668e33ef, `${what}: structured reply magic (or a simple reply to a non-read)`);
    const flags = all.readUInt16BE(at + 4);
    const type = all.readUInt16BE(at + 6);
    const cookie = all.readBigUInt64BE(at + 8);
    const len = all.readUInt32BE(at + 16);
    const payload = all.subarray(at + 20, at + 20 + len);
    assert.equal(payload.length, len, `${what}: chunk payload cut short`);
    at += 20 + len;
    const e = expect.get(cookie);
    assert.ok(e, `${what}: reply for unknown cookie ${cookie}`);
    assert.ok(!done.has(cookie), `${what}: a second reply after DONE for cookie ${cookie}`);
    if (type === 0x8001 || type === 0x8002) {
      assert.ok(e.kind === 'error' || e.kind === 'any', `${what}: request ${cookie} (${e.kind}) failed: ${payload.subarray(6).toString()}`);
      assert.ok(Object.values(NbdError).includes(payload.readUInt32BE(0) as never), `${what}: error value`);
    } else if (e.kind === 'read') {
      const buf = data.get(cookie) ?? Buffer.alloc(e.length);
      data.set(cookie, buf);
      const off = Number(payload.readBigUInt64BE(0)) - e.offset;
      if (type === 1) payload.copy(buf, off, 8);
      else assert.equal(type, 2, `${what}: read chunk type ${type}`);
    } else if (e.kind === 'status') {
      assert.equal(type, 5, `${what}: block status chunk`);
      let total = 0;
      for (let k = 4; k < payload.length; k += 8) total += payload.readUInt32BE(k);
      assert.ok(total > 0 && total <= e.length, `${what}: status descriptors cover ${total} of ${e.length}`);
    } else assert.ok(e.kind === 'any', `${what}: request ${cookie} (${e.kind}) answered with chunk type ${type}`);
    if (flags & 1) done.set(cookie, payload);
  }
  for (const [cookie, e] of expect) {
    assert.ok(done.has(cookie), `${what}: no final reply for cookie ${cookie} (${e.kind})`);
    if (e.kind === 'read') assertBytes(data.get(cookie)!, raw.subarray(e.offset, e.offset + e.length), `${what}: read ${cookie}`);
  }
}

async function runScript(port: number, s: Script): Promise<{ bytes: Buffer; closed: boolean }> {
  const session = await Session.open(port);
  if (s.deaf) session.socket.pause();
  for (const p of s.parts) session.socket.write(p);
  if (s.deaf) {
    await new Promise((r) => setTimeout(r, 150));
    session.socket.destroy();
    return { bytes: Buffer.alloc(0), closed: true };
  }
  if (s.abrupt) {
    // Gone at once, or after the first bytes of the answer.
    if (s.parts.length % 2) await session.settle(5, 100);
    session.socket.destroy();
    return { bytes: session.all(), closed: true };
  }
  // Half-closed: the server must answer what it accepted, then close its side too.
  session.socket.end();
  await session.settle(10_000, 10_000);
  const closed = session.closed;
  session.socket.destroy();
  return { bytes: session.all(), closed };
}

describe('NBD server against lying clients', { timeout: 120_000 }, () => {
  const tmp = tempDir('hexz-nbd-hostile-');
  const raw = mixedData(SIZE, { unit: BS, seed: 41 });
  let archive: Archive;
  let server: NbdServer;
  const logs: NbdLogEntry[] = [];

  before(async () => {
    await packSmall({ disk: writeData(tmp.path('d.raw'), raw), output: tmp.path('a.hxz'), blockSize: BS });
    archive = await Archive.open(tmp.path('a.hxz'));
    server = await startNbdServer({ exports: archiveExports([{ name: 'a', archive }]), host: '127.0.0.1', port: 0, handshakeTimeoutMs: 5000, log: (_l, e) => logs.push(e) });
  });
  after(async () => {
    await server?.close();
    await archive?.close();
    tmp.cleanup();
  });

  test(`300 hostile sessions, then a correct client (seed ${SEED})`, async () => {
    const port = (server.address as { port: number }).port;
    const rng = new Rng(SEED);
    const scripts = Array.from({ length: 300 }, (_, n) => makeScript(rng, n));
    const rss0 = process.memoryUsage().rss;
    let next = 0;
    const worker = async () => {
      while (next < scripts.length) {
        const n = next++;
        const s = scripts[n];
        const got = await runScript(port, s);
        assert.ok(got.closed, `case ${n} (${s.what}): the server did not close a half-closed connection within 10 s ${where(n)}`);
        if (s.expect) checkReplies(got.bytes, s.expect, raw, `case ${n} (${s.what}) ${where(n)}`);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    // Every connection the clients dropped is gone on the server too.
    for (let k = 0; k < 100 && server.connectionCount > 0; k++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.connectionCount, 0, 'connections left open after the campaign');
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grown < 300, `RSS grew ${grown.toFixed(0)} MiB over the campaign ${where(-1)}`);
    const failures = logs.filter((e) => e.level === 'error');
    assert.deepEqual(failures.map((e) => e.message), [], 'no read failed and no request escaped executeRequest');

    // A correct client still gets every byte.
    const s = await Session.open(port);
    s.socket.write(Buffer.concat(handshake(new Rng(1), { structured: false, meta: false })));
    const chunk = 200_000;
    let cookie = 0n;
    for (let off = 0; off < SIZE; off += chunk) s.socket.write(request(NbdCmd.READ, BigInt(off), Math.min(chunk, SIZE - off), { cookie: cookie++ }));
    s.socket.write(request(NbdCmd.DISC, 0n, 0));
    s.socket.end();
    await s.settle(2000, 10_000);
    const all = s.all();
    let at = 18;
    for (;;) {
      const opt = all.readUInt32BE(at + 8), type = all.readUInt32BE(at + 12);
      at += 20 + all.readUInt32BE(at + 16);
      if (opt === NbdOpt.GO && type === NbdRep.ACK) break;
    }
    const got = Buffer.alloc(SIZE);
    for (let off = 0; off < SIZE; off += chunk) {
      assert.equal(all.readUInt32BE(at), 0x67446698);
      assert.equal(all.readUInt32BE(at + 4), 0, 'read succeeded');
      const n = Math.min(chunk, SIZE - off);
      all.copy(got, off, at + 16, at + 16 + n);
      at += 16 + n;
    }
    assertBytes(got, raw, 'a correct client after the campaign');
    await s.socket.destroy();
  });

  test('qemu-img convert after the campaign equals the source', { skip: spawnSync('qemu-img', ['--version']).status === 0 ? false : 'qemu-img not installed' }, async () => {
    const port = (server.address as { port: number }).port;
    await new Promise<void>((resolve, reject) => execFile('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', `nbd://127.0.0.1:${port}/disk`, tmp.path('out.raw')], { timeout: 30_000 }, (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve())));
    const out = readFileSync(tmp.path('out.raw'));
    // qemu rounds the size of a raw image up to whole 512-byte sectors.
    assertBytes(out.subarray(0, SIZE), raw, 'qemu-img convert');
    assert.ok(out.length - SIZE < 512 && out.subarray(SIZE).every((b) => b === 0));
  });

  test('a client that sends options and never reads the replies cannot grow the reply queue', async () => {
    // NbdConnection on a socket of our own, so the server side's queue can be watched.
    const exports = archiveExports([{ name: 'a', archive }]);
    const maxQueuedBytes = 64 << 10;
    let serverSide: Socket | undefined;
    let conn: NbdConnection | undefined;
    const srv = createServer((sock) => {
      serverSide = sock;
      conn = new NbdConnection(sock, { id: 1, exports, maxPayload: DEFAULT_MAX_PAYLOAD, maxOptionLength: 65536, maxInFlight: 8, maxInFlightBytes: 1 << 20, maxQueuedBytes, handshakeTimeoutMs: 0, log: () => {} });
      void conn.run();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const s = connect((srv.address() as { port: number }).port, '127.0.0.1');
    s.on('error', () => {});
    s.pause(); // deaf
    await new Promise((r) => s.once('connect', r));
    // NBD_OPT_INFO asking for name and description: ~30 bytes in, ~200 bytes of replies out.
    const one = option(NbdOpt.INFO, infoData('disk', [1, 2]));
    // Enough that the replies overflow the kernel's socket buffers (several MiB on loopback).
    s.write(Buffer.concat([u32(3), ...Array.from({ length: 150_000 }, () => one)]));
    let peak = 0;
    for (let k = 0; k < 80 && peak < 4 * maxQueuedBytes; k++) {
      await new Promise((r) => setTimeout(r, 25));
      peak = Math.max(peak, serverSide?.writableLength ?? 0);
    }
    assert.ok(peak > 0, 'the server answered options');
    assert.ok(peak < maxQueuedBytes + 4096, `the server queued ${peak} bytes of replies for a client that reads none (bound ${maxQueuedBytes})`);
    // Reading again lets the handshake go on: more replies come than the queue held.
    let got = 0;
    s.on('data', (c: Buffer) => { got += c.length; });
    s.resume();
    for (let k = 0; k < 200 && got < 4 * maxQueuedBytes + (8 << 20); k++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(got >= 4 * maxQueuedBytes, `the handshake went on once the client read (${got} bytes)`);
    s.destroy();
    await Promise.race([conn!.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('connection not closed')), 5000))]);
    await new Promise((r) => srv.close(r));
  });

  test('an option length of 0xFFFFFFFF drops the connection at once, before any data is read', async () => {
    const port = (server.address as { port: number }).port;
    const s = await Session.open(port);
    s.socket.write(u32(3));
    s.socket.write(option(NbdOpt.GO, Buffer.alloc(0), 0xffffffff).subarray(0, OPTION_HEADER_SIZE));
    await s.settle(5000, 5000);
    assert.ok(s.closed, 'dropped');
    s.socket.destroy();
  });
});
