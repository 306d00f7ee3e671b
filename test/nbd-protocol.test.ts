/**
 * The NBD protocol code without sockets: handshake encode/decode, option answers, request
 * parsing and checks, reply encoding, read and block-status planning, and request execution
 * against an in-memory export. Expected bytes are written out by hand from the NBD project's
 * doc/proto.md, not produced by the code under test.
 */
import { memoryExport } from './memory-export.ts';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AbortedError, CorruptArchiveError, StoreError, UsageError } from '../src/errors.ts';
import type { StreamExtent } from '../src/archive/stream-view.ts';
import type { ServeExport } from '../src/serve/serve-export.ts';
import { executeRequest, nbdErrorOf, sessionLimits, type Session } from '../src/serve/nbd/execute-request.ts';
import { statusDescriptors } from '../src/serve/nbd/nbd-block-status.ts';
import { CmdFlag, NbdCmd, NbdError, NbdInfo, NbdOpt, NbdRep, ReplyType, TransmissionFlag } from '../src/serve/nbd/nbd-constants.ts';
import { answerOption, blockSizeConstraints, findExport, initialNegotiationState, transmissionFlags, type NegotiationContext } from '../src/serve/nbd/nbd-negotiation.ts';
import {
  buildExportNameReply, buildGreeting, buildOptionReply, encodeString, parseClientFlags, parseInfoRequest,
  parseMetaContextRequest, parseOptionHeader,
} from '../src/serve/nbd/nbd-option-codec.ts';
import { planRead } from '../src/serve/nbd/nbd-read-plan.ts';
import { blockStatusChunk, errorChunk, noneChunk, offsetDataHeader, offsetHoleChunk, simpleReply, structuredReadReply } from '../src/serve/nbd/nbd-reply.ts';
import { checkRequest, parseRequest, type NbdRequest, type RequestLimits } from '../src/serve/nbd/nbd-request.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const str = (s: string) => Buffer.from(s, 'utf8');
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Decodes option replies (magic, option, type, length, data) from concatenated bytes. */
function optionReplies(buffers: Uint8Array[]): { option: number; type: number; data: Buffer }[] {
  const b = Buffer.concat(buffers);
  const out = [];
  for (let at = 0; at < b.length;) {
    assert.equal(b.readBigUInt64BE(at), 0x3e889045565a9n, 'option reply magic');
    const length = b.readUInt32BE(at + 16);
    out.push({ option: b.readUInt32BE(at + 8), type: b.readUInt32BE(at + 12), data: b.subarray(at + 20, at + 20 + length) });
    at += 20 + length;
  }
  return out;
}

/** Decodes structured reply chunks from concatenated bytes. */
function chunks(buffers: Uint8Array[]): { flags: number; type: number; cookie: bigint; payload: Buffer }[] {
  const b = Buffer.concat(buffers);
  const out = [];
  for (let at = 0; at < b.length;) {
    assert.equal(b.readUInt32BE(at), 0x668e33ef, 'structured reply magic');
    const length = b.readUInt32BE(at + 16);
    out.push({ flags: b.readUInt16BE(at + 4), type: b.readUInt16BE(at + 6), cookie: b.readBigUInt64BE(at + 8), payload: b.subarray(at + 20, at + 20 + length) });
    at += 20 + length;
  }
  return out;
}

const goData = (name: string, ...infos: number[]) => cat(u32(Buffer.byteLength(name)), str(name), u16(infos.length), ...infos.map(u16));
const metaData = (name: string, ...queries: string[]) => cat(u32(Buffer.byteLength(name)), str(name), u32(queries.length), ...queries.flatMap((q) => [u32(Buffer.byteLength(q)), str(q)]));

describe('handshake encoding', () => {
  test('greeting: NBDMAGIC, IHAVEOPT, fixed newstyle + no zeroes', () => {
    assert.equal(hex(buildGreeting()), '4e42444d41474943' + '49484156454f5054' + '0003');
  });

  test('client flags and option headers', () => {
    assert.equal(parseClientFlags(u32(3)), 3);
    assert.throws(() => parseClientFlags(new Uint8Array(3)), UsageError);
    const header = cat(Buffer.from('IHAVEOPT'), u32(7), u32(0x1234));
    assert.deepEqual(parseOptionHeader(header), { option: 7, length: 0x1234 });
    assert.throws(() => parseOptionHeader(cat(Buffer.from('GET / HT'), u32(7), u32(0))), UsageError);
  });

  test('NBD_OPT_GO data: name and information requests; malformed data is null', () => {
    assert.deepEqual(parseInfoRequest(goData('disk', 1, 3)), { name: 'disk', requests: [1, 3] });
    assert.deepEqual(parseInfoRequest(goData('')), { name: '', requests: [] });
    assert.equal(parseInfoRequest(new Uint8Array(5)), null, 'shorter than 6 bytes');
    assert.equal(parseInfoRequest(cat(u32(100), str('disk'), u16(0))), null, 'name length past the data');
    assert.equal(parseInfoRequest(cat(u32(4), str('disk'), u16(2), u16(1))), null, 'fewer requests than counted');
    assert.equal(parseInfoRequest(cat(u32(4), str('disk'), u16(0), u16(1))), null, 'trailing bytes');
    assert.equal(parseInfoRequest(cat(u32(2), Buffer.from([0xc3, 0x28]), u16(0))), null, 'name not UTF-8');
    assert.equal(parseInfoRequest(cat(u32(3), Buffer.from([0x61, 0, 0x62]), u16(0))), null, 'NUL in the name');
  });

  test('metadata context data: queries; counts the data cannot hold are refused before looping', () => {
    assert.deepEqual(parseMetaContextRequest(metaData('disk', 'base:allocation', 'qemu:dirty-bitmap:x')), { name: 'disk', queries: ['base:allocation', 'qemu:dirty-bitmap:x'] });
    assert.deepEqual(parseMetaContextRequest(metaData('')), { name: '', queries: [] });
    assert.equal(parseMetaContextRequest(cat(u32(0), u32(0xffffffff))), null, '4 billion queries in 8 bytes');
    assert.equal(parseMetaContextRequest(cat(u32(0), u32(1), u32(50), str('base:'))), null, 'query length past the data');
    assert.equal(parseMetaContextRequest(cat(metaData('disk'), new Uint8Array(1))), null, 'trailing byte');
    assert.equal(parseMetaContextRequest(new Uint8Array(2)), null, 'truncated name length');
  });

  test('option reply layout', () => {
    assert.equal(hex(buildOptionReply(7, NbdRep.ACK)), '0003e889045565a9' + '00000007' + '00000001' + '00000000');
    assert.equal(hex(buildOptionReply(3, NbdRep.ERR_UNSUP, str('x'))), '0003e889045565a9' + '00000003' + '80000001' + '00000001' + '78');
  });

  test('NBD_OPT_EXPORT_NAME reply: size, flags, 124 zero bytes unless no-zeroes', () => {
    assert.equal(hex(buildExportNameReply(0x1_0000_0200, 0x0103, true)), '0000000100000200' + '0103');
    const full = buildExportNameReply(512, 1, false);
    assert.equal(full.length, 134);
    assert.ok(full.subarray(10).every((b) => b === 0));
  });

  test('strings are cut to 4096 bytes at a character boundary', () => {
    assert.equal(encodeString('a'.repeat(5000)).length, 4096);
    const cut = encodeString('é'.repeat(3000)); // 2 bytes each: 4096 is a boundary
    assert.equal(cut.length, 4096);
    assert.equal(encodeString('a' + 'é'.repeat(3000)).length, 4095, 'a split character is dropped whole');
  });
});

describe('option answers', () => {
  const disk = memoryExport('disk', new Uint8Array(1 << 20));
  const memory = memoryExport('memory', new Uint8Array(4096), { blockSize: 4 << 20 });
  const ctx: NegotiationContext = { exports: [disk, memory], maxPayload: 1 << 25 };
  const fresh = () => initialNegotiationState(false);

  test('NBD_OPT_LIST: one NBD_REP_SERVER per export (name, then description), then ACK; data is invalid', () => {
    const out = answerOption(fresh(), NbdOpt.LIST, new Uint8Array(0), ctx);
    assert.equal(out.kind, 'continue');
    const replies = optionReplies(out.kind === 'continue' ? out.replies : []);
    assert.deepEqual(replies.map((r) => r.type), [NbdRep.SERVER, NbdRep.SERVER, NbdRep.ACK]);
    assert.equal(replies[0].data.readUInt32BE(0), 4);
    assert.equal(replies[0].data.subarray(4, 8).toString(), 'disk');
    assert.equal(replies[0].data.subarray(8).toString(), 'disk in memory');
    const bad = answerOption(fresh(), NbdOpt.LIST, new Uint8Array(1), ctx);
    assert.deepEqual(bad.kind === 'continue' && optionReplies(bad.replies).map((r) => r.type), [NbdRep.ERR_INVALID]);
  });

  test('NBD_OPT_GO: export info, block sizes, name and description when asked, ACK, then transmission', () => {
    const out = answerOption(fresh(), NbdOpt.GO, goData('memory', NbdInfo.NAME, NbdInfo.DESCRIPTION), ctx);
    assert.equal(out.kind, 'transmit');
    if (out.kind !== 'transmit') return;
    assert.equal(out.params.export, memory);
    assert.equal(out.params.structured, false);
    assert.equal(out.params.allocationId, null);
    const replies = optionReplies(out.replies);
    assert.deepEqual(replies.map((r) => [r.type, r.type === NbdRep.INFO ? r.data.readUInt16BE(0) : -1]), [
      [NbdRep.INFO, NbdInfo.EXPORT], [NbdRep.INFO, NbdInfo.BLOCK_SIZE], [NbdRep.INFO, NbdInfo.NAME], [NbdRep.INFO, NbdInfo.DESCRIPTION], [NbdRep.ACK, -1],
    ]);
    assert.equal(hex(replies[0].data), '0000' + '0000000000001000' + hex(u16(TransmissionFlag.HAS_FLAGS | TransmissionFlag.READ_ONLY | TransmissionFlag.CAN_MULTI_CONN)));
    assert.equal(hex(replies[1].data), '0003' + '00000001' + '00200000' + '02000000', 'min 1, preferred 2 MiB (cap), max 32 MiB');
    assert.equal(replies[2].data.subarray(2).toString(), 'memory');
    assert.equal(replies[3].data.subarray(2).toString(), 'memory in memory');
    // Without requests: no name or description.
    const plain = answerOption(fresh(), NbdOpt.GO, goData('disk'), ctx);
    assert.deepEqual(plain.kind === 'transmit' && optionReplies(plain.replies).map((r) => r.type), [NbdRep.INFO, NbdRep.INFO, NbdRep.ACK]);
  });

  test('NBD_OPT_INFO answers like GO but stays in negotiation; the empty name is the first export', () => {
    const out = answerOption(fresh(), NbdOpt.INFO, goData('', NbdInfo.NAME), ctx);
    assert.equal(out.kind, 'continue');
    const replies = out.kind === 'continue' ? optionReplies(out.replies) : [];
    assert.equal(replies.find((r) => r.type === NbdRep.INFO && r.data.readUInt16BE(0) === NbdInfo.NAME)?.data.subarray(2).toString(), 'disk');
    assert.equal(findExport(ctx.exports, ''), disk);
  });

  test('unknown export: ERR_UNKNOWN for GO/INFO, a drop for EXPORT_NAME (it cannot answer an error)', () => {
    const go = answerOption(fresh(), NbdOpt.GO, goData('nope'), ctx);
    assert.deepEqual(go.kind === 'continue' && optionReplies(go.replies).map((r) => r.type), [NbdRep.ERR_UNKNOWN]);
    assert.equal(answerOption(fresh(), NbdOpt.EXPORT_NAME, str('nope'), ctx).kind, 'drop');
    const ok = answerOption(initialNegotiationState(true), NbdOpt.EXPORT_NAME, str('disk'), ctx);
    assert.ok(ok.kind === 'transmit' && ok.replies[0].length === 10 && ok.params.export === disk);
    const zeros = answerOption(fresh(), NbdOpt.EXPORT_NAME, new Uint8Array(0), ctx);
    assert.ok(zeros.kind === 'transmit' && zeros.replies[0].length === 134 && zeros.params.export === disk);
  });

  test('malformed, unknown and unsupported options get their error and the haggling goes on', () => {
    const types = (option: number, data: Uint8Array) => {
      const out = answerOption(fresh(), option, data, ctx);
      assert.equal(out.kind, 'continue');
      return out.kind === 'continue' ? optionReplies(out.replies).map((r) => [r.option, r.type]) : [];
    };
    assert.deepEqual(types(NbdOpt.GO, new Uint8Array(3)), [[NbdOpt.GO, NbdRep.ERR_INVALID]]);
    assert.deepEqual(types(NbdOpt.STARTTLS, new Uint8Array(0)), [[NbdOpt.STARTTLS, NbdRep.ERR_UNSUP]]);
    assert.deepEqual(types(NbdOpt.EXTENDED_HEADERS, new Uint8Array(0)), [[NbdOpt.EXTENDED_HEADERS, NbdRep.ERR_UNSUP]]);
    assert.deepEqual(types(0xdead, new Uint8Array(9)), [[0xdead, NbdRep.ERR_UNSUP]]);
    assert.deepEqual(types(NbdOpt.STRUCTURED_REPLY, new Uint8Array(1)), [[NbdOpt.STRUCTURED_REPLY, NbdRep.ERR_INVALID]]);
  });

  test('NBD_OPT_ABORT: ACK then end; while shutting down, options get ERR_SHUTDOWN', () => {
    const out = answerOption(fresh(), NbdOpt.ABORT, new Uint8Array(0), ctx);
    assert.deepEqual(out.kind === 'abort' && optionReplies(out.replies).map((r) => r.type), [NbdRep.ACK]);
    const down = answerOption(fresh(), NbdOpt.GO, goData('disk'), { ...ctx, shuttingDown: true });
    assert.deepEqual(down.kind === 'continue' && optionReplies(down.replies).map((r) => r.type), [NbdRep.ERR_SHUTDOWN]);
  });

  test('structured replies and base:allocation: SET needs structured replies, selects for one export', () => {
    const state = fresh();
    const early = answerOption(state, NbdOpt.SET_META_CONTEXT, metaData('disk', 'base:allocation'), ctx);
    assert.deepEqual(early.kind === 'continue' && optionReplies(early.replies).map((r) => r.type), [NbdRep.ERR_INVALID]);
    const sr = answerOption(state, NbdOpt.STRUCTURED_REPLY, new Uint8Array(0), ctx);
    assert.deepEqual(sr.kind === 'continue' && optionReplies(sr.replies).map((r) => r.type), [NbdRep.ACK]);
    assert.equal(state.structured, true);
    const set = answerOption(state, NbdOpt.SET_META_CONTEXT, metaData('disk', 'x-other:thing', 'base:allocation'), ctx);
    const replies = set.kind === 'continue' ? optionReplies(set.replies) : [];
    assert.deepEqual(replies.map((r) => r.type), [NbdRep.META_CONTEXT, NbdRep.ACK]);
    assert.equal(replies[0].data.readUInt32BE(0), 1);
    assert.equal(replies[0].data.subarray(4).toString(), 'base:allocation');
    const go = answerOption(state, NbdOpt.GO, goData('disk'), ctx);
    assert.ok(go.kind === 'transmit' && go.params.allocationId === 1 && go.params.structured);
    assert.ok(go.kind === 'transmit' && (go.params.flags & TransmissionFlag.SEND_DF) !== 0);
    // The contexts were set for `disk`: going to `memory` has no block status.
    const other = answerOption(state, NbdOpt.GO, goData('memory'), ctx);
    assert.ok(other.kind === 'transmit' && other.params.allocationId === null);
    // `base:` selects nothing in SET, and a failed SET clears the selection.
    const wild = fresh();
    wild.structured = true;
    const w = answerOption(wild, NbdOpt.SET_META_CONTEXT, metaData('disk', 'base:'), ctx);
    assert.deepEqual(w.kind === 'continue' && optionReplies(w.replies).map((r) => r.type), [NbdRep.ACK]);
    answerOption(state, NbdOpt.SET_META_CONTEXT, metaData('nope', 'base:allocation'), ctx);
    assert.equal(state.meta, null);
  });

  test('NBD_OPT_LIST_META_CONTEXT: all contexts for no query, base: as a wildcard, id 0', () => {
    for (const queries of [[], ['base:'], ['base:allocation'], ['nope:x', 'base:']]) {
      const out = answerOption(fresh(), NbdOpt.LIST_META_CONTEXT, metaData('disk', ...queries), ctx);
      const replies = out.kind === 'continue' ? optionReplies(out.replies) : [];
      assert.deepEqual(replies.map((r) => r.type), [NbdRep.META_CONTEXT, NbdRep.ACK], queries.join());
      assert.equal(replies[0].data.readUInt32BE(0), 0);
    }
    const none = answerOption(fresh(), NbdOpt.LIST_META_CONTEXT, metaData('disk', 'qemu:dirty-bitmap:a'), ctx);
    assert.deepEqual(none.kind === 'continue' && optionReplies(none.replies).map((r) => r.type), [NbdRep.ACK]);
  });

  test('transmission flags and block sizes', () => {
    const rw = memoryExport('rw', new Uint8Array(4096), { writable: true });
    const F = TransmissionFlag;
    assert.equal(transmissionFlags(disk, false), F.HAS_FLAGS | F.READ_ONLY | F.CAN_MULTI_CONN);
    assert.equal(transmissionFlags(rw, true), F.HAS_FLAGS | F.SEND_FLUSH | F.SEND_FUA | F.SEND_TRIM | F.SEND_WRITE_ZEROES | F.SEND_DF);
    const pref = (blockSize: number) => blockSizeConstraints({ ...disk, blockSize }).preferred;
    assert.equal(pref(65536), 65536);
    assert.equal(pref(1024), 4096);
    assert.equal(pref(96 << 10), 64 << 10, 'rounded down to a power of two');
    assert.equal(pref(4 << 20), 2 << 20);
    assert.deepEqual(blockSizeConstraints(disk, 1 << 20), { minimum: 1, preferred: 65536, maximum: 1 << 20 });
  });
});

describe('requests', () => {
  /** A request header built by hand: magic, flags, type, cookie, offset, length. */
  const requestBytes = (flags: number, type: number, cookie: bigint, offset: bigint, length: number) => {
    const b = Buffer.alloc(28);
    b.writeUInt32BE(0x25609513, 0); b.writeUInt16BE(flags, 4); b.writeUInt16BE(type, 6);
    b.writeBigUInt64BE(cookie, 8); b.writeBigUInt64BE(offset, 16); b.writeUInt32BE(length, 24);
    return new Uint8Array(b);
  };

  test('parse: every field, offsets above 4 GiB, bad magic', () => {
    assert.deepEqual(parseRequest(requestBytes(CmdFlag.REQ_ONE, NbdCmd.BLOCK_STATUS, 0xfedcba9876543210n, 0x1_2345_6789n, 0xffff_fff0)), {
      flags: CmdFlag.REQ_ONE, type: NbdCmd.BLOCK_STATUS, cookie: 0xfedcba9876543210n, offset: 0x1_2345_6789, length: 0xffff_fff0,
    });
    const bad = requestBytes(0, 0, 1n, 0n, 1);
    bad[0] = 0x12;
    assert.throws(() => parseRequest(bad), UsageError);
    assert.throws(() => parseRequest(new Uint8Array(27)), UsageError);
  });

  test('checks: bounds, flags, commands not advertised, oversized reads', () => {
    const ro: RequestLimits = { size: 1 << 20, writable: false, structured: true, blockStatus: true, maxPayload: 1 << 16 };
    const rw: RequestLimits = { ...ro, writable: true, structured: false, blockStatus: false };
    const req = (type: number, offset: number, length: number, flags = 0): NbdRequest => ({ type, offset, length, flags, cookie: 1n });
    const err = (r: NbdRequest, l: RequestLimits) => checkRequest(r, l)?.error ?? 0;
    assert.equal(err(req(NbdCmd.READ, 0, 4096), ro), 0);
    assert.equal(err(req(NbdCmd.READ, (1 << 20) - 10, 10), ro), 0);
    assert.equal(err(req(NbdCmd.READ, (1 << 20) - 10, 11), ro), NbdError.EINVAL, 'past the end');
    assert.equal(err(req(NbdCmd.READ, 2 ** 60, 1), ro), NbdError.EINVAL, 'offset far past the end');
    assert.equal(err(req(NbdCmd.READ, 0, (1 << 16) + 1), ro), NbdError.EINVAL, 'larger than the max payload');
    assert.equal(err(req(NbdCmd.READ, 0, 0), ro), 0, 'empty read');
    assert.equal(err(req(NbdCmd.READ, 0, 10, CmdFlag.DF), ro), 0);
    assert.equal(err(req(NbdCmd.READ, 0, 10, CmdFlag.DF), rw), NbdError.EINVAL, 'DF without structured replies');
    assert.equal(err(req(NbdCmd.READ, 0, 10, CmdFlag.FUA), ro), 0, 'FUA is tolerated everywhere');
    assert.equal(err(req(NbdCmd.READ, 0, 10, 1 << 9), ro), NbdError.EINVAL, 'unknown flag');
    assert.equal(err(req(NbdCmd.WRITE, 0, 10), ro), NbdError.EPERM);
    assert.equal(err(req(NbdCmd.TRIM, 0, 10), ro), NbdError.EPERM);
    assert.equal(err(req(NbdCmd.WRITE_ZEROES, 0, 10), ro), NbdError.EPERM);
    assert.equal(err(req(NbdCmd.FLUSH, 0, 0), ro), NbdError.EINVAL, 'flush not advertised');
    assert.equal(err(req(NbdCmd.WRITE, (1 << 20) - 1, 2), rw), NbdError.ENOSPC);
    assert.equal(err(req(NbdCmd.WRITE_ZEROES, 1 << 20, 1), rw), NbdError.ENOSPC);
    assert.equal(err(req(NbdCmd.TRIM, 1 << 20, 1), rw), NbdError.EINVAL);
    assert.equal(err(req(NbdCmd.WRITE_ZEROES, 0, 1 << 20, CmdFlag.NO_HOLE), rw), 0, 'no payload: longer than max payload is fine');
    assert.equal(err(req(NbdCmd.WRITE_ZEROES, 0, 10, CmdFlag.FAST_ZERO), rw), NbdError.EINVAL, 'fast zero not advertised');
    assert.equal(err(req(NbdCmd.FLUSH, 0, 0), rw), 0);
    assert.equal(err(req(NbdCmd.BLOCK_STATUS, 0, 10, CmdFlag.REQ_ONE), ro), 0);
    assert.equal(err(req(NbdCmd.BLOCK_STATUS, 0, 10), rw), NbdError.EINVAL, 'no metadata context');
    assert.equal(err(req(NbdCmd.BLOCK_STATUS, 0, 0), ro), NbdError.EINVAL);
    assert.equal(err(req(NbdCmd.CACHE, 0, 10), ro), NbdError.EINVAL, 'cache not advertised');
    assert.equal(err(req(42, 0, 10), ro), NbdError.EINVAL, 'unknown command');
    assert.equal(checkRequest(req(NbdCmd.DISC, 0, 0, 0xffff), ro), null);
  });
});

describe('reply encoding', () => {
  test('simple reply', () => {
    assert.equal(hex(simpleReply(0x0102030405060708n, 22)), '67446698' + '00000016' + '0102030405060708');
  });

  test('structured chunks: none, data header, hole, errors, block status', () => {
    const c = 0xaabbn;
    assert.equal(hex(noneChunk(c)), '668e33ef' + '0001' + '0000' + '000000000000aabb' + '00000000');
    assert.equal(hex(offsetDataHeader(c, 0x1_0000_0000, 100, false)), '668e33ef' + '0000' + '0001' + '000000000000aabb' + '0000006c' + '0000000100000000');
    assert.equal(hex(offsetHoleChunk(c, 4096, 65536, true)), '668e33ef' + '0001' + '0002' + '000000000000aabb' + '0000000c' + '0000000000001000' + '00010000');
    assert.equal(hex(errorChunk(c, 5, 'ab')), '668e33ef' + '0001' + '8001' + '000000000000aabb' + '00000008' + '00000005' + '0002' + '6162');
    assert.equal(hex(errorChunk(c, 5, '', 512)), '668e33ef' + '0001' + '8002' + '000000000000aabb' + '0000000e' + '00000005' + '0000' + '0000000000000200');
    assert.equal(hex(blockStatusChunk(c, 1, [{ length: 4096, flags: 3 }, { length: 512, flags: 0 }])),
      '668e33ef' + '0001' + '0005' + '000000000000aabb' + '00000014' + '00000001' + '00001000' + '00000003' + '00000200' + '00000000');
  });

  test('a structured read reply: data as views of the read buffer, holes as hole chunks, DONE on the last', () => {
    const data = new Uint8Array(300).map((_, i) => i & 0xff);
    const pieces = [{ offset: 1000, length: 100, hole: false }, { offset: 1100, length: 100, hole: true }, { offset: 1200, length: 100, hole: false }];
    const bufs = structuredReadReply(7n, pieces, data, 1000);
    assert.equal(bufs[1].buffer, data.buffer, 'no copy of the data');
    const got = chunks(bufs);
    assert.deepEqual(got.map((k) => [k.type, k.flags]), [[ReplyType.OFFSET_DATA, 0], [ReplyType.OFFSET_HOLE, 0], [ReplyType.OFFSET_DATA, 1]]);
    assert.equal(got[0].payload.readBigUInt64BE(0), 1000n);
    assert.deepEqual([...got[2].payload.subarray(8, 11)], [200, 201, 202]);
    assert.deepEqual(chunks(structuredReadReply(7n, [], new Uint8Array(0), 0)).map((k) => k.type), [ReplyType.NONE]);
  });
});

describe('read and block status planning', () => {
  const ext = (offset: number, length: number, zero: boolean): StreamExtent => ({ offset, length, zero });

  test('planRead: holes skipped, the read spans first to last data, uncovered tail is data', () => {
    assert.deepEqual(planRead(0, 100, [ext(0, 100, false)]), { pieces: [{ offset: 0, length: 100, hole: false }], read: { offset: 0, length: 100 } });
    assert.deepEqual(planRead(10, 90, [ext(10, 20, true), ext(30, 30, false), ext(60, 10, true), ext(70, 10, false)]), {
      pieces: [{ offset: 10, length: 20, hole: true }, { offset: 30, length: 30, hole: false }, { offset: 60, length: 10, hole: true }, { offset: 70, length: 30, hole: false }],
      read: { offset: 30, length: 70 },
    });
    assert.deepEqual(planRead(0, 50, [ext(0, 50, true)]), { pieces: [{ offset: 0, length: 50, hole: true }], read: null });
    assert.deepEqual(planRead(0, 50, []).pieces, [{ offset: 0, length: 50, hole: false }], 'no extents: all data');
    assert.deepEqual(planRead(0, 0, []), { pieces: [], read: null });
  });

  test('statusDescriptors: HOLE|ZERO for zeros, 0 for data, contiguous, merged', () => {
    assert.deepEqual(statusDescriptors(0, 300, [ext(0, 100, true), ext(100, 100, false), ext(200, 100, false)]), [{ length: 100, flags: 3 }, { length: 200, flags: 0 }]);
    assert.deepEqual(statusDescriptors(0, 300, [ext(0, 100, true)]), [{ length: 100, flags: 3 }], 'a short answer stops where the extents do');
    assert.deepEqual(statusDescriptors(0, 300, [ext(50, 100, true)]), [{ length: 300, flags: 0 }], 'no extent at the offset: data');
    assert.deepEqual(statusDescriptors(0, 300, []), [{ length: 300, flags: 0 }]);
  });
});

describe('executeRequest against an in-memory export', () => {
  const bytes = () => {
    const b = new Uint8Array(64 << 10);
    b.fill(7, 0, 8192);
    b.fill(9, 32768, 40960);
    return b;
  };
  const session = (exp: ServeExport, structured: boolean, onError?: Session['onError']): Session => ({
    export: exp, structured, allocationId: structured ? 1 : null, limits: sessionLimits(exp, structured, structured ? 1 : null, 1 << 25), onError,
  });
  const req = (type: number, offset: number, length: number, flags = 0): NbdRequest => ({ type, offset, length, flags, cookie: 99n });

  test('structured read: zero extents become hole chunks, the rest data; DF gives one data chunk', async () => {
    const exp = memoryExport('disk', bytes());
    const got = chunks(await executeRequest(req(NbdCmd.READ, 4096, 36864), undefined, session(exp, true)));
    assert.deepEqual(got.map((k) => [k.type, Number(k.payload.readBigUInt64BE(0)), k.type === ReplyType.OFFSET_HOLE ? k.payload.readUInt32BE(8) : k.payload.length - 8, k.flags]), [
      [ReplyType.OFFSET_DATA, 4096, 4096, 0], [ReplyType.OFFSET_HOLE, 8192, 24576, 0], [ReplyType.OFFSET_DATA, 32768, 8192, 1],
    ]);
    assert.ok(got[0].payload.subarray(8).every((b) => b === 7));
    const big = chunks(await executeRequest(req(NbdCmd.READ, 0, 65536), undefined, session(exp, true)));
    assert.deepEqual(big.map((k) => k.type), [ReplyType.OFFSET_DATA, ReplyType.OFFSET_HOLE, ReplyType.OFFSET_DATA, ReplyType.OFFSET_HOLE]);
    const df = chunks(await executeRequest(req(NbdCmd.READ, 4096, 36864, CmdFlag.DF), undefined, session(exp, true)));
    assert.deepEqual(df.map((k) => [k.type, k.payload.length - 8, k.flags]), [[ReplyType.OFFSET_DATA, 36864, 1]]);
  });

  test('large structured reads look up extents first and never read a hole', async () => {
    const exp = memoryExport('disk', new Uint8Array(4 << 20));
    exp.calls.length = 0;
    const got = chunks(await executeRequest(req(NbdCmd.READ, 0, 4 << 20), undefined, session(exp, true)));
    assert.deepEqual(got.map((k) => k.type), [ReplyType.OFFSET_HOLE]);
    assert.deepEqual(exp.calls, [`extents 0 ${4 << 20}`]);
  });

  test('simple read: header then the data', async () => {
    const bufs = await executeRequest(req(NbdCmd.READ, 30000, 4000), undefined, session(memoryExport('disk', bytes()), false));
    assert.equal(hex(bufs[0]), '67446698' + '00000000' + '0000000000000063');
    assert.deepEqual(Buffer.from(bufs[1]), Buffer.from(bytes().subarray(30000, 34000)));
  });

  test('a failing read is NBD_EIO (an error offset when the error names one), reported to onError', async () => {
    const errors: unknown[] = [];
    const exp = memoryExport('disk', bytes(), { failAt: 5000 });
    const got = chunks(await executeRequest(req(NbdCmd.READ, 4096, 4096), undefined, session(exp, true, (e) => errors.push(e))));
    assert.deepEqual(got.map((k) => [k.type, k.flags, k.payload.readUInt32BE(0)]), [[ReplyType.ERROR_OFFSET, 1, NbdError.EIO]]);
    assert.equal(got[0].payload.readBigUInt64BE(got[0].payload.length - 8), 5000n);
    const simple = await executeRequest(req(NbdCmd.READ, 4096, 4096), undefined, session(exp, false, (e) => errors.push(e)));
    assert.deepEqual(simple.map(hex), ['67446698' + '00000005' + '0000000000000063'], 'no data after an error');
    assert.equal(errors.length, 2);
    assert.ok(errors[0] instanceof CorruptArchiveError);
  });

  test('refused requests: an error chunk with a message, or a simple error reply', async () => {
    const exp = memoryExport('disk', bytes());
    const got = chunks(await executeRequest(req(NbdCmd.READ, 65530, 10), undefined, session(exp, true)));
    assert.equal(got[0].type, ReplyType.ERROR);
    assert.equal(got[0].payload.readUInt32BE(0), NbdError.EINVAL);
    assert.match(got[0].payload.subarray(6).toString(), /outside the export/);
    assert.equal(hex((await executeRequest(req(NbdCmd.WRITE, 0, 1), new Uint8Array(1), session(exp, false)))[0]), '67446698' + '00000001' + '0000000000000063');
    assert.deepEqual(exp.calls, [], 'nothing was read or written');
  });

  test('block status: descriptors from the extents, one with REQ_ONE', async () => {
    const exp = memoryExport('disk', bytes());
    const all = chunks(await executeRequest(req(NbdCmd.BLOCK_STATUS, 0, 65536), undefined, session(exp, true)));
    assert.equal(all[0].type, ReplyType.BLOCK_STATUS);
    assert.equal(hex(all[0].payload), '00000001' + '00002000' + '00000000' + '00006000' + '00000003' + '00002000' + '00000000' + '00006000' + '00000003');
    const one = chunks(await executeRequest(req(NbdCmd.BLOCK_STATUS, 100, 65000, CmdFlag.REQ_ONE), undefined, session(exp, true)));
    assert.equal(hex(one[0].payload), '00000001' + hex(u32(8092)) + '00000000');
  });

  test('writes go to the writer; FUA adds a flush; flush flushes', async () => {
    const b = bytes();
    const exp = memoryExport('rw', b, { writable: true });
    const s = session(exp, true);
    const ok = '67446698' + '00000000' + '0000000000000063';
    assert.equal(hex((await executeRequest(req(NbdCmd.WRITE, 100, 3, CmdFlag.FUA), Uint8Array.of(1, 2, 3), s))[0]), ok);
    assert.equal(hex((await executeRequest(req(NbdCmd.WRITE_ZEROES, 0, 50), undefined, s))[0]), ok);
    assert.equal(hex((await executeRequest(req(NbdCmd.TRIM, 32768, 4096), undefined, s))[0]), ok);
    assert.equal(hex((await executeRequest(req(NbdCmd.FLUSH, 0, 0), undefined, s))[0]), ok);
    assert.deepEqual(exp.calls, ['write 100 3', 'flush', 'zero 0 50', 'trim 32768 4096', 'flush']);
    assert.deepEqual([...b.subarray(99, 104)], [7, 1, 2, 3, 7]);
    assert.ok(b.subarray(0, 50).every((x) => x === 0));
  });

  test('error values of failures', () => {
    assert.equal(nbdErrorOf(new UsageError('x')), NbdError.EINVAL);
    assert.equal(nbdErrorOf(new AbortedError('x')), NbdError.ESHUTDOWN);
    assert.equal(nbdErrorOf(new StoreError('x', {}, { cause: Object.assign(new Error('full'), { code: 'ENOSPC' }) })), NbdError.ENOSPC);
    assert.equal(nbdErrorOf(new StoreError('x')), NbdError.EIO);
    assert.equal(nbdErrorOf(new CorruptArchiveError('x')), NbdError.EIO);
    assert.equal(nbdErrorOf(new TypeError('bug')), NbdError.EIO);
  });
});
