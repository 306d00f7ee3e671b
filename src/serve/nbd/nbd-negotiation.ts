/**
 * The option haggling of the fixed newstyle handshake as a pure function: one option in, the
 * replies to send and what to do next out. The connection code only moves bytes; every
 * protocol decision of the handshake is here, where it is tested without sockets.
 */
import type { ServeExport } from '../serve-export.js';
import {
  BASE_ALLOCATION, DEFAULT_MAX_PAYLOAD, NbdInfo, NbdOpt, NbdRep, TransmissionFlag,
} from './nbd-constants.js';
import {
  buildExportNameReply, buildInfoBlockSize, buildInfoExport, buildInfoString, buildOptionError,
  buildOptionReply, buildRepMetaContext, buildRepServer, decodeString, parseInfoRequest, parseMetaContextRequest,
  type BlockSizeConstraints,
} from './nbd-option-codec.js';

/** The id this server gives `base:allocation` in NBD_OPT_SET_META_CONTEXT (any nonzero value works). */
export const BASE_ALLOCATION_ID = 1;
/** Largest preferred block size advertised, in bytes: bigger archive blocks still advertise this. */
export const MAX_PREFERRED_BLOCK = 2 << 20;

/** What the handshake has agreed so far on one connection. {@link answerOption} updates it. */
export interface NegotiationState {
  /** NBD_OPT_STRUCTURED_REPLY was acknowledged. */
  structured: boolean;
  /** The client set NBD_FLAG_C_NO_ZEROES (only changes the NBD_OPT_EXPORT_NAME reply). */
  noZeroes: boolean;
  /**
   * The outcome of the last NBD_OPT_SET_META_CONTEXT: the export it named and whether it
   * selected `base:allocation`; null before any (or after one that failed).
   */
  meta: { exportName: string; allocation: boolean } | null;
}

/** What the server knows when it answers an option. */
export interface NegotiationContext {
  /** The exports, in order; the first is the default export (empty name). */
  exports: readonly ServeExport[];
  /** Largest read/write payload accepted, in bytes (NBD_INFO_BLOCK_SIZE maximum). */
  maxPayload: number;
  /** The server is closing: options other than NBD_OPT_ABORT get NBD_REP_ERR_SHUTDOWN. */
  shuttingDown?: boolean;
}

/** The agreed parameters of the transmission phase. */
export interface TransmissionParams {
  export: ServeExport;
  /** Transmission flags sent to the client. */
  flags: number;
  structured: boolean;
  /** The metadata context id of `base:allocation`, or null when block status was not negotiated. */
  allocationId: number | null;
}

/** What to do after an option: every variant but `drop` carries replies to send first. */
export type OptionOutcome =
  | { kind: 'continue'; replies: Uint8Array[] }
  | { kind: 'transmit'; replies: Uint8Array[]; params: TransmissionParams }
  | { kind: 'abort'; replies: Uint8Array[] }
  | { kind: 'drop'; reason: string };

/** A fresh state for a connection whose client sent `clientFlags`. */
export function initialNegotiationState(noZeroes: boolean): NegotiationState {
  return { structured: false, noZeroes, meta: null };
}

/**
 * Answers one option. `state` is updated in place (structured replies, metadata contexts).
 * Never throws: malformed data gives NBD_REP_ERR_INVALID, an unknown option
 * NBD_REP_ERR_UNSUP, an unknown export NBD_REP_ERR_UNKNOWN (or, for NBD_OPT_EXPORT_NAME, which
 * cannot answer an error, a `drop`).
 */
export function answerOption(state: NegotiationState, option: number, data: Uint8Array, ctx: NegotiationContext): OptionOutcome {
  const cont = (...replies: Uint8Array[]): OptionOutcome => ({ kind: 'continue', replies });
  const error = (type: number, message: string) => cont(buildOptionError(option, type, message));
  if (option === NbdOpt.ABORT) return { kind: 'abort', replies: [buildOptionReply(option, NbdRep.ACK)] };
  if (ctx.shuttingDown) {
    if (option === NbdOpt.EXPORT_NAME) return { kind: 'drop', reason: 'server is shutting down' };
    return error(NbdRep.ERR_SHUTDOWN, 'server is shutting down');
  }
  switch (option) {
    case NbdOpt.EXPORT_NAME: {
      const name = decodeString(data);
      const exp = name === null ? undefined : findExport(ctx.exports, name);
      if (!exp) return { kind: 'drop', reason: `NBD_OPT_EXPORT_NAME of unknown export ${JSON.stringify(name ?? '<not UTF-8>')}` };
      const params = transmissionParams(state, exp);
      return { kind: 'transmit', replies: [buildExportNameReply(exp.size, params.flags, state.noZeroes)], params };
    }
    case NbdOpt.LIST:
      if (data.length !== 0) return error(NbdRep.ERR_INVALID, 'NBD_OPT_LIST takes no data');
      return cont(...ctx.exports.map((e) => buildRepServer(option, e.name, e.description)), buildOptionReply(option, NbdRep.ACK));
    case NbdOpt.STARTTLS:
      return error(NbdRep.ERR_UNSUP, 'TLS is not supported by this server');
    case NbdOpt.INFO:
    case NbdOpt.GO: {
      const req = parseInfoRequest(data);
      if (!req) return error(NbdRep.ERR_INVALID, 'malformed NBD_OPT_INFO/NBD_OPT_GO data');
      const exp = findExport(ctx.exports, req.name);
      if (!exp) return error(NbdRep.ERR_UNKNOWN, `no export named ${JSON.stringify(req.name)}`);
      const params = transmissionParams(state, exp);
      // NBD_INFO_EXPORT is mandatory; the size constraints are sent unasked (clients ignore what they
      // did not ask for), name and description only when asked.
      const replies = [
        buildInfoExport(option, exp.size, params.flags),
        buildInfoBlockSize(option, blockSizeConstraints(exp, ctx.maxPayload)),
      ];
      if (req.requests.includes(NbdInfo.NAME)) replies.push(buildInfoString(option, NbdInfo.NAME, exp.name));
      if (req.requests.includes(NbdInfo.DESCRIPTION)) replies.push(buildInfoString(option, NbdInfo.DESCRIPTION, exp.description));
      replies.push(buildOptionReply(option, NbdRep.ACK));
      return option === NbdOpt.GO ? { kind: 'transmit', replies, params } : cont(...replies);
    }
    case NbdOpt.STRUCTURED_REPLY:
      if (data.length !== 0) return error(NbdRep.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      state.structured = true;
      return cont(buildOptionReply(option, NbdRep.ACK));
    case NbdOpt.LIST_META_CONTEXT:
    case NbdOpt.SET_META_CONTEXT:
      return metaContext(state, option, data, ctx);
    default:
      return error(NbdRep.ERR_UNSUP, `option ${option} is not supported`);
  }
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: only `base:allocation` exists. */
function metaContext(state: NegotiationState, option: number, data: Uint8Array, ctx: NegotiationContext): OptionOutcome {
  const set = option === NbdOpt.SET_META_CONTEXT;
  const error = (type: number, message: string): OptionOutcome => ({ kind: 'continue', replies: [buildOptionError(option, type, message)] });
  // "Issuing this command replaces all previously-set metadata contexts (including when this command fails)".
  if (set) state.meta = null;
  // SET "MUST NOT be requested unless structured replies have been negotiated"; LIST only SHOULD
  // not, so a client may still ask what exists.
  if (set && !state.structured) return error(NbdRep.ERR_INVALID, 'negotiate structured replies before NBD_OPT_SET_META_CONTEXT');
  const req = parseMetaContextRequest(data);
  if (!req) return error(NbdRep.ERR_INVALID, 'malformed metadata context request');
  const exp = findExport(ctx.exports, req.name);
  if (!exp) return error(NbdRep.ERR_UNKNOWN, `no export named ${JSON.stringify(req.name)}`);
  // `base:` is a wildcard for LIST only; in SET it "MUST" be ignored. Unknown namespaces and leaves are ignored.
  const allocation = set
    ? req.queries.includes(BASE_ALLOCATION)
    : req.queries.length === 0 || req.queries.some((q) => q === BASE_ALLOCATION || q === 'base:');
  if (set) state.meta = { exportName: exp.name, allocation };
  const replies: Uint8Array[] = [];
  if (allocation) replies.push(buildRepMetaContext(option, set ? BASE_ALLOCATION_ID : 0, BASE_ALLOCATION));
  replies.push(buildOptionReply(option, NbdRep.ACK));
  return { kind: 'continue', replies };
}

/** The flags and features of the transmission phase with `exp`, given what was negotiated. */
function transmissionParams(state: NegotiationState, exp: ServeExport): TransmissionParams {
  const allocation = state.structured && state.meta !== null && state.meta.allocation && state.meta.exportName === exp.name;
  return {
    export: exp,
    flags: transmissionFlags(exp, state.structured),
    structured: state.structured,
    allocationId: allocation ? BASE_ALLOCATION_ID : null,
  };
}

/**
 * Transmission flags of `exp`: writable exports (those with a writer) take flush, FUA, trim and
 * write-zeroes; read-only ones say so and allow several connections (nothing is cached per
 * connection, so every connection sees the same bytes); DF is offered with structured replies.
 */
export function transmissionFlags(exp: ServeExport, structured: boolean): number {
  let flags = TransmissionFlag.HAS_FLAGS;
  if (exp.writer) flags |= TransmissionFlag.SEND_FLUSH | TransmissionFlag.SEND_FUA | TransmissionFlag.SEND_TRIM | TransmissionFlag.SEND_WRITE_ZEROES;
  else flags |= TransmissionFlag.READ_ONLY | TransmissionFlag.CAN_MULTI_CONN;
  if (structured) flags |= TransmissionFlag.SEND_DF;
  return flags;
}

/**
 * NBD_INFO_BLOCK_SIZE of `exp`: any alignment (minimum 1: reads are byte-addressed), the
 * archive block as the preferred size (a power of two from 4 KiB to {@link MAX_PREFERRED_BLOCK},
 * since a request smaller than a block still decodes the whole block), and `maxPayload`.
 */
export function blockSizeConstraints(exp: ServeExport, maxPayload = DEFAULT_MAX_PAYLOAD): BlockSizeConstraints {
  const block = exp.blockSize > 0 ? 2 ** Math.floor(Math.log2(exp.blockSize)) : 4096;
  const preferred = Math.min(Math.max(block, 4096), MAX_PREFERRED_BLOCK, largestPowerOfTwo(maxPayload));
  return { minimum: 1, preferred, maximum: maxPayload };
}

/** The export a client means by `name`: the empty name is the default export, the first one. */
export function findExport(exports: readonly ServeExport[], name: string): ServeExport | undefined {
  return name === '' ? exports[0] : exports.find((e) => e.name === name);
}

function largestPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(n, 1)));
}
