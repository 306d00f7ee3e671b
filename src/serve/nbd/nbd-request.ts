/**
 * Pure decode and validation of NBD transmission requests ("Request message", "Request types",
 * "Error values" in the NBD project's doc/proto.md).
 */
import { UsageError } from '../../errors.js';
import { CmdFlag, NBD_REQUEST_MAGIC, NbdCmd, NbdError, REQUEST_SIZE } from './nbd-constants.js';

/** One request header (28 bytes); a write's payload follows it on the wire. */
export interface NbdRequest {
  /** Command flags (`CmdFlag`). */
  flags: number;
  /** Command (`NbdCmd`). */
  type: number;
  /** Opaque 64-bit value the reply must carry back. */
  cookie: bigint;
  /** Byte offset in the export (above 2^53 it loses precision, but is then out of range anyway). */
  offset: number;
  /** Length in bytes (of the payload for a write, of the effect otherwise). */
  length: number;
}

/** What a request may do on a connection, as negotiated. */
export interface RequestLimits {
  /** Export size in bytes. */
  size: number;
  /** The export has a writer. */
  writable: boolean;
  /** Structured replies were negotiated (NBD_CMD_FLAG_DF is then valid on reads). */
  structured: boolean;
  /** `base:allocation` was selected (NBD_CMD_BLOCK_STATUS is then valid). */
  blockStatus: boolean;
  /** Largest read or write payload in bytes. */
  maxPayload: number;
}

/** Why a request is refused: the NBD error value and a message for a structured error chunk. */
export interface RequestRefusal {
  error: number;
  message: string;
}

/**
 * Decodes a 28-byte request header.
 * @throws UsageError when the magic is not NBD_REQUEST_MAGIC: the stream cannot be resynchronised,
 *   so the caller drops the connection.
 */
export function parseRequest(bytes: Uint8Array): NbdRequest {
  if (bytes.length !== REQUEST_SIZE) throw new UsageError(`NBD request header must be ${REQUEST_SIZE} bytes, got ${bytes.length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0);
  if (magic !== NBD_REQUEST_MAGIC) throw new UsageError(`bad NBD request magic 0x${magic.toString(16)}`);
  return {
    flags: v.getUint16(4),
    type: v.getUint16(6),
    cookie: v.getBigUint64(8),
    offset: v.getUint32(16) * 0x1_0000_0000 + v.getUint32(20),
    length: v.getUint32(24),
  };
}

/**
 * Flags each command accepts. FUA is accepted (and ignored where nothing is written) on every
 * command because "existing clients are known to set this bit on other commands".
 */
function allowedFlags(type: number, limits: RequestLimits): number {
  switch (type) {
    case NbdCmd.READ: return CmdFlag.FUA | (limits.structured ? CmdFlag.DF : 0);
    case NbdCmd.WRITE_ZEROES: return CmdFlag.FUA | CmdFlag.NO_HOLE;
    case NbdCmd.BLOCK_STATUS: return CmdFlag.FUA | CmdFlag.REQ_ONE;
    default: return CmdFlag.FUA;
  }
}

/**
 * Checks a request against the export and what was negotiated, before any work: unknown
 * commands and flags, commands not advertised, ranges past the end, oversized reads.
 * NBD_CMD_DISC is always accepted. The errors follow "Error values": EINVAL for reads, trims and
 * block status past the end, ENOSPC for writes past the end, EPERM for writes to a read-only
 * export.
 * @returns null when the request may run, else the refusal to reply with.
 */
export function checkRequest(req: NbdRequest, limits: RequestLimits): RequestRefusal | null {
  const refuse = (error: number, message: string): RequestRefusal => ({ error, message });
  const { type, offset, length } = req;
  const known = type === NbdCmd.READ || type === NbdCmd.WRITE || type === NbdCmd.DISC || type === NbdCmd.FLUSH
    || type === NbdCmd.TRIM || type === NbdCmd.WRITE_ZEROES || type === NbdCmd.BLOCK_STATUS;
  if (!known) return refuse(NbdError.EINVAL, `command ${type} is not supported`);
  if (type === NbdCmd.DISC) return null;
  const bad = req.flags & ~allowedFlags(type, limits);
  if (bad) return refuse(NbdError.EINVAL, `flags 0x${bad.toString(16)} are not valid for command ${type}`);
  const pastEnd = offset > limits.size || length > limits.size - offset;
  const range = `${length} bytes at offset ${offset} are outside the export (${limits.size} bytes)`;
  switch (type) {
    case NbdCmd.READ:
      if (length > limits.maxPayload) return refuse(NbdError.EINVAL, `read of ${length} bytes is larger than the maximum payload (${limits.maxPayload} bytes)`);
      return pastEnd ? refuse(NbdError.EINVAL, range) : null;
    case NbdCmd.BLOCK_STATUS:
      if (!limits.blockStatus) return refuse(NbdError.EINVAL, 'block status needs the base:allocation metadata context');
      if (length === 0) return refuse(NbdError.EINVAL, 'block status of 0 bytes');
      return pastEnd ? refuse(NbdError.EINVAL, range) : null;
    case NbdCmd.FLUSH:
      return limits.writable ? null : refuse(NbdError.EINVAL, 'flush is not supported on a read-only export');
    default: // WRITE, TRIM, WRITE_ZEROES
      if (!limits.writable) return refuse(NbdError.EPERM, 'the export is read-only');
      if (pastEnd) return refuse(type === NbdCmd.TRIM ? NbdError.EINVAL : NbdError.ENOSPC, range);
      return null;
  }
}
