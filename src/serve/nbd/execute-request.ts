/**
 * Runs one NBD transmission request against an export and returns the reply to send, as
 * buffers to write in order. No sockets here: the connection decides when the reply goes out.
 * Every failure becomes an error reply; nothing thrown escapes.
 */
import { AbortedError, CorruptArchiveError, HexzError, UsageError } from '../../errors.js';
import type { ServeExport } from '../serve-export.js';
import { statusDescriptors } from './nbd-block-status.js';
import { CmdFlag, MAX_BLOCK_STATUS_EXTENTS, NbdCmd, NbdError } from './nbd-constants.js';
import { planRead } from './nbd-read-plan.js';
import {
  blockStatusChunk, errorChunk, noneChunk, offsetDataHeader, simpleReply, structuredReadReply,
} from './nbd-reply.js';
import { checkRequest, type NbdRequest, type RequestLimits } from './nbd-request.js';

/**
 * Extents looked up per structured read: enough for any read of up to 32 MiB over 4 KiB blocks
 * that alternate data and zeros; past them the rest of the read is sent as data.
 */
export const MAX_READ_EXTENTS = 8192;
/**
 * Descriptors per block status reply without NBD_CMD_FLAG_REQ_ONE (128 KiB of reply): below the
 * spec's 2^20, and a client asks again from where a reply stops.
 */
export const MAX_STATUS_EXTENTS = Math.min(16384, MAX_BLOCK_STATUS_EXTENTS);

/**
 * Structured reads up to this many bytes fetch extents and data concurrently; larger ones look
 * up the extents first so holes are not read at all (a 32 MiB read of a hole allocates nothing).
 */
export const EAGER_READ_MAX = 256 << 10;

const EMPTY = new Uint8Array(0);

/** The transmission phase of one connection, as negotiated. */
export interface Session {
  export: ServeExport;
  /** Structured replies were negotiated. */
  structured: boolean;
  /** Metadata context id of `base:allocation`, or null when it was not selected. */
  allocationId: number | null;
  /** What requests may do (size, writability, max payload). */
  limits: RequestLimits;
  /** Called with every failure of the export (read, write, extents), for the log. */
  onError?: (error: unknown, request: NbdRequest) => void;
}

/** The {@link RequestLimits} of `exp` after a handshake. */
export function sessionLimits(exp: ServeExport, structured: boolean, allocationId: number | null, maxPayload: number): RequestLimits {
  return { size: exp.size, writable: exp.writer !== undefined, structured, blockStatus: allocationId !== null, maxPayload };
}

/**
 * Executes `req` (with its payload for a write) and returns the reply buffers: for a read the
 * data buffers are views of what the export returned, never copies.
 */
export async function executeRequest(req: NbdRequest, payload: Uint8Array | undefined, s: Session, signal?: AbortSignal): Promise<Uint8Array[]> {
  const refusal = checkRequest(req, s.limits);
  if (refusal) return errorReply(req, s, refusal.error, refusal.message);
  const exp = s.export;
  try {
    switch (req.type) {
      case NbdCmd.READ:
        return await read(req, s, signal);
      case NbdCmd.BLOCK_STATUS: {
        const max = req.flags & CmdFlag.REQ_ONE ? 1 : MAX_STATUS_EXTENTS;
        const extents = await exp.extents(req.offset, req.length, max, signal);
        return [blockStatusChunk(req.cookie, s.allocationId!, statusDescriptors(req.offset, req.length, extents))];
      }
    }
    // checkRequest let only writes through to here, and only on an export with a writer.
    const w = exp.writer!;
    switch (req.type) {
      case NbdCmd.WRITE:
        if (req.length) await w.write(req.offset, payload ?? EMPTY);
        break;
      case NbdCmd.TRIM:
        if (req.length) await w.trim(req.offset, req.length);
        break;
      case NbdCmd.WRITE_ZEROES:
        if (req.length) await w.writeZeroes(req.offset, req.length);
        break;
      case NbdCmd.FLUSH:
        await w.flush();
        return [simpleReply(req.cookie, 0)];
    }
    if (req.flags & CmdFlag.FUA) await w.flush();
    // A simple reply is allowed for anything but a read even with structured replies, and is shorter.
    return [simpleReply(req.cookie, 0)];
  } catch (err) {
    s.onError?.(err, req);
    const offset = err instanceof CorruptArchiveError ? err.location.offset : undefined;
    const inside = offset !== undefined && offset >= req.offset && offset < req.offset + req.length;
    return errorReply(req, s, nbdErrorOf(err), err instanceof Error ? err.message : String(err), inside ? offset : undefined);
  }
}

/**
 * A read: a simple reply with the data; with structured replies, data chunks for the data and
 * hole chunks for the zero extents (so zeros are neither read nor sent), or one data chunk when
 * the client asked not to fragment (DF).
 */
async function read(req: NbdRequest, s: Session, signal?: AbortSignal): Promise<Uint8Array[]> {
  const { cookie, offset, length } = req;
  const exp = s.export;
  if (!s.structured) {
    if (length === 0) return [simpleReply(cookie, 0)];
    const data = await exp.read(offset, length, signal);
    return [simpleReply(cookie, 0), data];
  }
  if (length === 0) return [noneChunk(cookie)];
  if (req.flags & CmdFlag.DF) {
    const data = await exp.read(offset, length, signal);
    return [offsetDataHeader(cookie, offset, length, true), data];
  }
  if (length <= EAGER_READ_MAX) {
    // Small reads (random I/O, latency-bound): the bytes and the extents at once rather than one
    // after the other (from one index walk where the export can). Reading a hole costs no block
    // decode, only the zeroed buffer.
    const { extents, data } = exp.readWithExtents
      ? await exp.readWithExtents(offset, length, signal)
      : await Promise.all([exp.extents(offset, length, MAX_READ_EXTENTS, signal), exp.read(offset, length, signal)]).then(([x, d]) => ({ extents: x, data: d }));
    return unlessUnsent(exp, structuredReadReply(cookie, planRead(offset, length, extents).pieces, data, offset), data);
  }
  const plan = planRead(offset, length, await exp.extents(offset, length, MAX_READ_EXTENTS, signal));
  const data = plan.read ? await exp.read(plan.read.offset, plan.read.length, signal) : EMPTY;
  return unlessUnsent(exp, structuredReadReply(cookie, plan.pieces, data, plan.read?.offset ?? 0), data);
}

/**
 * `reply`, after giving `data` back to the export when no buffer of the reply is a view of it
 * (a read that turned out to be all holes): the connection gives back only what it sends.
 */
function unlessUnsent(exp: ServeExport, reply: Uint8Array[], data: Uint8Array): Uint8Array[] {
  if (exp.recycle && !reply.some((b) => b.buffer === data.buffer)) exp.recycle(data);
  return reply;
}

/** The error reply to `req`: an error chunk with structured replies, else a simple reply. */
function errorReply(req: NbdRequest, s: Session, error: number, message: string, offset?: number): Uint8Array[] {
  return [s.structured ? errorChunk(req.cookie, error, message, offset) : simpleReply(req.cookie, error)];
}

/**
 * The NBD error value of a failure: a range the export refuses is EINVAL, a full disk ENOSPC
 * ("Error values": EDQUOT and EFBIG map to it too), a cancelled request ESHUTDOWN (the server
 * is closing), anything else (a corrupt block, a failing store) EIO.
 */
export function nbdErrorOf(err: unknown): number {
  if (err instanceof UsageError) return NbdError.EINVAL;
  if (err instanceof AbortedError) return NbdError.ESHUTDOWN;
  const code = ((err instanceof HexzError ? err.cause : err) as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return NbdError.ENOSPC;
  return NbdError.EIO;
}
