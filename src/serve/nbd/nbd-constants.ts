/**
 * Numbers of the NBD protocol, as given in the NBD project's `doc/proto.md` (the section is named
 * beside each group). Only what this server speaks is listed; the experimental extensions
 * (extended headers, resize) are not.
 */

/** "Newstyle negotiation": ASCII `NBDMAGIC`, the first 8 bytes the server sends. */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** "Newstyle negotiation": ASCII `IHAVEOPT`, sent by the server after NBDMAGIC and before every option by the client. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** "Fixed newstyle negotiation": magic of every option reply. */
export const NBD_REP_MAGIC = 0x3e889045565a9n;
/** "Request message": magic of every transmission request. */
export const NBD_REQUEST_MAGIC = 0x25609513;
/** "Simple reply message". */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
/** "Structured reply chunk message". */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** "Handshake flags" (16 bits, server to client). */
export const HandshakeFlag = {
  FIXED_NEWSTYLE: 1 << 0,
  NO_ZEROES: 1 << 1,
} as const;

/** "Client flags" (32 bits, client to server); any other bit set makes the server drop the connection. */
export const ClientFlag = {
  C_FIXED_NEWSTYLE: 1 << 0,
  C_NO_ZEROES: 1 << 1,
} as const;

/** "Transmission flags" (16 bits, in NBD_INFO_EXPORT and the NBD_OPT_EXPORT_NAME reply). */
export const TransmissionFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

/** "Option types". */
export const NbdOpt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

/** "Option reply types"; errors have bit 31 set. */
export const NbdRep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x8000_0001,
  ERR_POLICY: 0x8000_0002,
  ERR_INVALID: 0x8000_0003,
  ERR_PLATFORM: 0x8000_0004,
  ERR_TLS_REQD: 0x8000_0005,
  ERR_UNKNOWN: 0x8000_0006,
  ERR_SHUTDOWN: 0x8000_0007,
  ERR_BLOCK_SIZE_REQD: 0x8000_0008,
  ERR_TOO_BIG: 0x8000_0009,
} as const;

/** "Option reply types", NBD_REP_INFO: the information types of NBD_OPT_INFO / NBD_OPT_GO. */
export const NbdInfo = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** "Request types". */
export const NbdCmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

/** "Command flags". */
export const CmdFlag = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
} as const;

/** "Structured reply flags". */
export const REPLY_FLAG_DONE = 1 << 0;

/** "Structured reply types"; error chunk types have bit 15 set. */
export const ReplyType = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

/** "Error values" of the transmission phase (the error field of replies). */
export const NbdError = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** "`base:allocation` metadata context": the only metadata context this server offers. */
export const BASE_ALLOCATION = 'base:allocation';
/** "`base:allocation` metadata context": the extent is not allocated (a hole). */
export const NBD_STATE_HOLE = 1 << 0;
/** "`base:allocation` metadata context": the extent reads as zeros. */
export const NBD_STATE_ZERO = 1 << 1;

/** Bytes of an option's header: IHAVEOPT, option, length ("Newstyle negotiation"). */
export const OPTION_HEADER_SIZE = 16;
/** Bytes of an option reply's header: magic, option, type, length ("Fixed newstyle negotiation"). */
export const OPTION_REPLY_HEADER_SIZE = 20;
/** Bytes of a request header: magic, flags, type, cookie, offset, length ("Request message"). */
export const REQUEST_SIZE = 28;
/** Bytes of a simple reply: magic, error, cookie ("Simple reply message"). */
export const SIMPLE_REPLY_SIZE = 16;
/** Bytes of a structured reply chunk's header: magic, flags, type, cookie, length ("Structured reply chunk message"). */
export const CHUNK_HEADER_SIZE = 20;

/** "Conventions": strings (export names, error messages) MUST be no longer than 4096 bytes. */
export const MAX_STRING_BYTES = 4096;
/**
 * "Size constraints": the maximum payload clients may assume without asking, 2^25 bytes, and
 * the one this server advertises: a larger read or write request is refused.
 */
export const DEFAULT_MAX_PAYLOAD = 1 << 25;
/** "NBD_REPLY_TYPE_BLOCK_STATUS": servers SHOULD NOT send more than 2^20 extents in one chunk. */
export const MAX_BLOCK_STATUS_EXTENTS = 1 << 20;
