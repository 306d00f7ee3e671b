/**
 * Pure encode/decode of the NBD handshake ("Handshake" and "Option types" / "Option reply
 * types" in the NBD project's doc/proto.md): bytes in, plain objects out, no I/O.
 */
import { UsageError } from '../../errors.js';
import {
  HandshakeFlag, MAX_STRING_BYTES, NBD_INIT_MAGIC, NBD_OPTS_MAGIC, NBD_REP_MAGIC, NbdInfo, NbdRep,
  OPTION_HEADER_SIZE, OPTION_REPLY_HEADER_SIZE,
} from './nbd-constants.js';

const utf8 = new TextEncoder();
/** Fatal: an export name that is not UTF-8 is a malformed option, not a name to look up. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The header of one option the client sends ("Newstyle negotiation"). */
export interface OptionHeader {
  /** Option type (`NbdOpt`). */
  option: number;
  /** Length in bytes of the option data that follows. */
  length: number;
}

/** Decoded data of NBD_OPT_INFO / NBD_OPT_GO. */
export interface InfoRequest {
  /** Export name; '' asks for the default export. */
  name: string;
  /** The NBD_INFO types the client asked for, in its order. */
  requests: number[];
}

/** Decoded data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
export interface MetaContextRequest {
  /** Export name the contexts are for. */
  name: string;
  /** Query strings (`namespace:leaf`). */
  queries: string[];
}

/** Size constraints of NBD_INFO_BLOCK_SIZE ("Size constraints"), in bytes. */
export interface BlockSizeConstraints {
  minimum: number;
  preferred: number;
  maximum: number;
}

/**
 * The 18 bytes the server sends on connect: NBDMAGIC, IHAVEOPT and the handshake flags
 * (fixed newstyle and no-zeroes, which this server always offers).
 */
export function buildGreeting(): Uint8Array {
  const out = new Uint8Array(18);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, NBD_INIT_MAGIC);
  v.setBigUint64(8, NBD_OPTS_MAGIC);
  v.setUint16(16, HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES);
  return out;
}

/**
 * Decodes the 4-byte client flags.
 * @throws UsageError when `bytes` is not 4 bytes long.
 */
export function parseClientFlags(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new UsageError(`NBD client flags must be 4 bytes, got ${bytes.length}`);
  return view(bytes).getUint32(0);
}

/**
 * Decodes the 16-byte header of an option: IHAVEOPT, option type, data length.
 * @throws UsageError when the magic is not IHAVEOPT (the client does not speak newstyle NBD)
 *   or `bytes` is not 16 bytes long.
 */
export function parseOptionHeader(bytes: Uint8Array): OptionHeader {
  if (bytes.length !== OPTION_HEADER_SIZE) throw new UsageError(`NBD option header must be ${OPTION_HEADER_SIZE} bytes, got ${bytes.length}`);
  const v = view(bytes);
  if (v.getBigUint64(0) !== NBD_OPTS_MAGIC) throw new UsageError(`NBD option does not start with IHAVEOPT (0x${v.getBigUint64(0).toString(16)})`);
  return { option: v.getUint32(8), length: v.getUint32(12) };
}

/**
 * Decodes the data of NBD_OPT_INFO / NBD_OPT_GO: a 32-bit name length, the name, a 16-bit
 * count and that many 16-bit information requests.
 * @returns null when the data is malformed (lengths that do not add up, a name longer than
 *   4096 bytes or not UTF-8): the server answers NBD_REP_ERR_INVALID.
 */
export function parseInfoRequest(data: Uint8Array): InfoRequest | null {
  if (data.length < 6) return null;
  const v = view(data);
  const nameLength = v.getUint32(0);
  if (nameLength > data.length - 6 || nameLength > MAX_STRING_BYTES) return null;
  const name = decodeString(data.subarray(4, 4 + nameLength));
  if (name === null) return null;
  let at = 4 + nameLength;
  const count = v.getUint16(at);
  at += 2;
  if (data.length - at !== count * 2) return null;
  const requests: number[] = [];
  for (let i = 0; i < count; i++, at += 2) requests.push(v.getUint16(at));
  return { name, requests };
}

/**
 * Decodes the data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: a 32-bit name
 * length, the name, a 32-bit query count, then each query as a 32-bit length and a string.
 * @returns null when the data is malformed (a length reaching past the data, trailing bytes,
 *   a string over 4096 bytes or not UTF-8): the server answers NBD_REP_ERR_INVALID.
 */
export function parseMetaContextRequest(data: Uint8Array): MetaContextRequest | null {
  const v = view(data);
  let at = 0;
  const readString = (): string | null => {
    if (data.length - at < 4) return null;
    const n = v.getUint32(at);
    at += 4;
    if (n > data.length - at || n > MAX_STRING_BYTES) return null;
    const s = decodeString(data.subarray(at, at + n));
    at += n;
    return s;
  };
  const name = readString();
  if (name === null || data.length - at < 4) return null;
  const count = v.getUint32(at);
  at += 4;
  // Each query takes at least its 4-byte length: refuse a count the data cannot hold before looping.
  if (count > (data.length - at) / 4) return null;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const q = readString();
    if (q === null) return null;
    queries.push(q);
  }
  return at === data.length ? { name, queries } : null;
}

/** An option reply ("Fixed newstyle negotiation"): magic, option, reply type, length, data. */
export function buildOptionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(OPTION_REPLY_HEADER_SIZE + data.length);
  const v = view(out);
  v.setBigUint64(0, NBD_REP_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type);
  v.setUint32(16, data.length);
  out.set(data, OPTION_REPLY_HEADER_SIZE);
  return out;
}

/** An error option reply with a human-readable message (cut to 4096 bytes). */
export function buildOptionError(option: number, type: number, message: string): Uint8Array {
  return buildOptionReply(option, type, encodeString(message));
}

/** NBD_REP_SERVER: one export of NBD_OPT_LIST, its name then its description. */
export function buildRepServer(option: number, name: string, description: string): Uint8Array {
  const n = encodeString(name);
  const d = encodeString(description);
  const data = new Uint8Array(4 + n.length + d.length);
  view(data).setUint32(0, n.length);
  data.set(n, 4);
  data.set(d, 4 + n.length);
  return buildOptionReply(option, NbdRep.SERVER, data);
}

/** NBD_REP_INFO with NBD_INFO_EXPORT: size in bytes and transmission flags. */
export function buildInfoExport(option: number, size: number, flags: number): Uint8Array {
  const data = new Uint8Array(12);
  const v = view(data);
  v.setUint16(0, NbdInfo.EXPORT);
  v.setBigUint64(2, BigInt(size));
  v.setUint16(10, flags);
  return buildOptionReply(option, NbdRep.INFO, data);
}

/** NBD_REP_INFO with NBD_INFO_BLOCK_SIZE. */
export function buildInfoBlockSize(option: number, c: BlockSizeConstraints): Uint8Array {
  const data = new Uint8Array(14);
  const v = view(data);
  v.setUint16(0, NbdInfo.BLOCK_SIZE);
  v.setUint32(2, c.minimum);
  v.setUint32(6, c.preferred);
  v.setUint32(10, c.maximum);
  return buildOptionReply(option, NbdRep.INFO, data);
}

/** NBD_REP_INFO with NBD_INFO_NAME or NBD_INFO_DESCRIPTION: a 16-bit type then the string. */
export function buildInfoString(option: number, info: typeof NbdInfo.NAME | typeof NbdInfo.DESCRIPTION, text: string): Uint8Array {
  const s = encodeString(text);
  const data = new Uint8Array(2 + s.length);
  view(data).setUint16(0, info);
  data.set(s, 2);
  return buildOptionReply(option, NbdRep.INFO, data);
}

/** NBD_REP_META_CONTEXT: a 32-bit context id (0 in list replies) and the context name. */
export function buildRepMetaContext(option: number, id: number, name: string): Uint8Array {
  const s = encodeString(name);
  const data = new Uint8Array(4 + s.length);
  view(data).setUint32(0, id);
  data.set(s, 4);
  return buildOptionReply(option, NbdRep.META_CONTEXT, data);
}

/**
 * The reply to NBD_OPT_EXPORT_NAME ("Newstyle negotiation"): size, transmission flags and,
 * unless the client negotiated NBD_FLAG_C_NO_ZEROES, 124 reserved zero bytes.
 */
export function buildExportNameReply(size: number, flags: number, noZeroes: boolean): Uint8Array {
  const out = new Uint8Array(noZeroes ? 10 : 134);
  const v = view(out);
  v.setBigUint64(0, BigInt(size));
  v.setUint16(8, flags);
  return out;
}

/** UTF-8 bytes of `text`, cut at a character boundary to the 4096-byte string limit. */
export function encodeString(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length <= MAX_STRING_BYTES) return bytes;
  let end = MAX_STRING_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // do not split a multi-byte character
  return bytes.subarray(0, end);
}

/** A protocol string: UTF-8 without NUL, at most 4096 bytes ("Conventions"), or null when it is not one. */
export function decodeString(bytes: Uint8Array): string | null {
  if (bytes.length > MAX_STRING_BYTES || bytes.includes(0)) return null;
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
