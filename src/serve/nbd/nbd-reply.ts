/**
 * Pure encoding of transmission replies ("Simple reply message", "Structured reply chunk
 * message" and "Structured reply types" in the NBD project's doc/proto.md). Builders return
 * small header buffers; a read's data is never copied into them but written after them.
 */
import {
  CHUNK_HEADER_SIZE, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC, REPLY_FLAG_DONE, ReplyType,
  SIMPLE_REPLY_SIZE,
} from './nbd-constants.js';
import { encodeString } from './nbd-option-codec.js';
import type { ReadPiece } from './nbd-read-plan.js';

/** One `base:allocation` block status descriptor: a length in bytes (> 0) and its status flags. */
export interface StatusDescriptor {
  length: number;
  flags: number;
}

/** A simple reply header: magic, error (0 for success), cookie. A successful read's data follows it. */
export function simpleReply(cookie: bigint, error: number): Uint8Array {
  const out = new Uint8Array(SIMPLE_REPLY_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, NBD_SIMPLE_REPLY_MAGIC);
  v.setUint32(4, error);
  v.setBigUint64(8, cookie);
  return out;
}

/** NBD_REPLY_TYPE_NONE with NBD_REPLY_FLAG_DONE: success without content. */
export function noneChunk(cookie: bigint): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_SIZE);
  writeChunkHeader(new DataView(out.buffer), REPLY_FLAG_DONE, ReplyType.NONE, cookie, 0);
  return out;
}

/**
 * The first 28 bytes of an NBD_REPLY_TYPE_OFFSET_DATA chunk: header and offset; `dataLength`
 * bytes of data must follow.
 */
export function offsetDataHeader(cookie: bigint, offset: number, dataLength: number, done: boolean): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_SIZE + 8);
  const v = new DataView(out.buffer);
  writeChunkHeader(v, done ? REPLY_FLAG_DONE : 0, ReplyType.OFFSET_DATA, cookie, 8 + dataLength);
  v.setBigUint64(CHUNK_HEADER_SIZE, BigInt(offset));
  return out;
}

/** An NBD_REPLY_TYPE_OFFSET_HOLE chunk: `size` (> 0, < 2^32) bytes at `offset` read as zeros. */
export function offsetHoleChunk(cookie: bigint, offset: number, size: number, done: boolean): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_SIZE + 12);
  const v = new DataView(out.buffer);
  writeChunkHeader(v, done ? REPLY_FLAG_DONE : 0, ReplyType.OFFSET_HOLE, cookie, 12);
  v.setBigUint64(CHUNK_HEADER_SIZE, BigInt(offset));
  v.setUint32(CHUNK_HEADER_SIZE + 8, size);
  return out;
}

/**
 * An error chunk, final: NBD_REPLY_TYPE_ERROR_OFFSET when `offset` is given (it must lie inside
 * the request), else NBD_REPLY_TYPE_ERROR. `message` is cut to the 4096-byte string limit.
 */
export function errorChunk(cookie: bigint, error: number, message: string, offset?: number): Uint8Array {
  const text = encodeString(message);
  const tail = offset === undefined ? 0 : 8;
  const out = new Uint8Array(CHUNK_HEADER_SIZE + 6 + text.length + tail);
  const v = new DataView(out.buffer);
  writeChunkHeader(v, REPLY_FLAG_DONE, offset === undefined ? ReplyType.ERROR : ReplyType.ERROR_OFFSET, cookie, 6 + text.length + tail);
  v.setUint32(CHUNK_HEADER_SIZE, error);
  v.setUint16(CHUNK_HEADER_SIZE + 4, text.length);
  out.set(text, CHUNK_HEADER_SIZE + 6);
  if (offset !== undefined) v.setBigUint64(CHUNK_HEADER_SIZE + 6 + text.length, BigInt(offset));
  return out;
}

/** An NBD_REPLY_TYPE_BLOCK_STATUS chunk, final, for metadata context `contextId`. */
export function blockStatusChunk(cookie: bigint, contextId: number, descriptors: readonly StatusDescriptor[]): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_SIZE + 4 + 8 * descriptors.length);
  const v = new DataView(out.buffer);
  writeChunkHeader(v, REPLY_FLAG_DONE, ReplyType.BLOCK_STATUS, cookie, 4 + 8 * descriptors.length);
  v.setUint32(CHUNK_HEADER_SIZE, contextId);
  let at = CHUNK_HEADER_SIZE + 4;
  for (const d of descriptors) {
    v.setUint32(at, d.length);
    v.setUint32(at + 4, d.flags);
    at += 8;
  }
  return out;
}

/**
 * The whole structured reply to a read, as buffers to write in order: one OFFSET_DATA chunk per
 * data piece (its bytes a view of `data`, no copy) and one OFFSET_HOLE chunk per hole, the last
 * chunk flagged DONE. `data` holds the bytes of `dataOffset` onwards and covers every data piece.
 * An empty `pieces` (a read of 0 bytes) gives a single NONE chunk.
 */
export function structuredReadReply(cookie: bigint, pieces: readonly ReadPiece[], data: Uint8Array, dataOffset: number): Uint8Array[] {
  if (pieces.length === 0) return [noneChunk(cookie)];
  const out: Uint8Array[] = [];
  pieces.forEach((p, i) => {
    const done = i === pieces.length - 1;
    if (p.hole) out.push(offsetHoleChunk(cookie, p.offset, p.length, done));
    else {
      out.push(offsetDataHeader(cookie, p.offset, p.length, done));
      out.push(data.subarray(p.offset - dataOffset, p.offset - dataOffset + p.length));
    }
  });
  return out;
}

function writeChunkHeader(v: DataView, flags: number, type: number, cookie: bigint, length: number): void {
  v.setUint32(0, NBD_STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setBigUint64(8, cookie);
  v.setUint32(16, length);
}
