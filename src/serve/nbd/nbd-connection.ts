import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import { AbortedError, UsageError } from '../../errors.js';
import type { ServeExport } from '../serve-export.js';
import { executeRequest, sessionLimits, type Session } from './execute-request.js';
import { ClientFlag, NbdCmd, NbdError, OPTION_HEADER_SIZE, REQUEST_SIZE } from './nbd-constants.js';
import { answerOption, initialNegotiationState, type TransmissionParams } from './nbd-negotiation.js';
import { buildGreeting, parseClientFlags, parseOptionHeader } from './nbd-option-codec.js';
import { errorChunk, simpleReply } from './nbd-reply.js';
import { parseRequest, type NbdRequest } from './nbd-request.js';
import { SocketReader } from './socket-reader.js';

/** A problem worth a line in the server's log, with its structured fields. */
export interface NbdLogEntry {
  /** `warn`: a misbehaving client (it was disconnected); `error`: a failing read or write (the client got an error reply). */
  level: 'warn' | 'error';
  message: string;
  /** Connection number (1, 2, ... per server). */
  connection: number;
  /** The export in use, once chosen. */
  export?: string;
  /** The error behind the entry (a CorruptArchiveError, StoreError, ...). */
  error?: unknown;
}

/**
 * The log callback: `line` is the entry as one line of text (`nbd: connection 3 (disk): …`), for
 * callers that print; `entry` has the fields, for callers that filter or emit JSON.
 */
export type NbdLog = (line: string, entry: NbdLogEntry) => void;

/** Limits and hooks of one connection (filled in by the server). */
export interface ConnectionOptions {
  id: number;
  exports: readonly ServeExport[];
  /** Largest read/write payload in bytes. */
  maxPayload: number;
  /** Largest option data accepted in the handshake, in bytes; a longer one drops the connection. */
  maxOptionLength: number;
  /** Requests executing at once; the socket is not read while this many are in flight. */
  maxInFlight: number;
  /** Read/write bytes of the requests in flight beyond which no further request is read. */
  maxInFlightBytes: number;
  /** Reply bytes written but not yet taken by the kernel beyond which no further request is read. */
  maxQueuedBytes: number;
  /** The handshake must end within this many ms (0: no limit). */
  handshakeTimeoutMs: number;
  log: NbdLog;
}

/**
 * One client connection: the fixed newstyle handshake, then the transmission phase with
 * requests executed concurrently and replies written as they complete. Bounded: at most
 * `maxInFlight` requests and about `maxInFlightBytes` of payload in flight, and no request is
 * read while more than `maxQueuedBytes` of replies wait to go out: a client that stops reading
 * stops being served, and the server holds at most that, its requests in flight and one
 * request's payload for it.
 *
 * The queue bound is the socket's buffered length, not `write()`'s return value: that turns
 * false past the socket's high-water mark (16 KiB in Node 20), i.e. after every large read reply, and
 * waiting for 'drain' (an empty buffer) each time would stall a client that keeps 64 reads in
 * flight. Each reply's last write reports back when the kernel took it, so the check is redone
 * as the queue shrinks.
 */
export class NbdConnection {
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  private readonly reader: SocketReader;
  private readonly abort = new AbortController();
  private shuttingDown = false;
  private inHandshake = true;
  private exportName: string | undefined;
  private inFlight = 0;
  private inFlightBytes = 0;
  /** Waits for room for one more request (see {@link hasRoom}); woken by {@link signal}. */
  private roomWaiter: (() => void) | null = null;
  /** Waits for every request in flight to complete; woken by {@link signal}. */
  private idleWaiter: (() => void) | null = null;
  private readonly flushed = () => this.signal();
  private handshakeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly socket: Socket, private readonly options: ConnectionOptions) {
    this.reader = new SocketReader(socket);
    // Every request in flight passes this signal down, and each layer of a read (index, cache,
    // store) may listen on it: up to a few listeners per request, all removed as reads finish.
    setMaxListeners(Math.max(10, options.maxInFlight * 8), this.abort.signal);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    // A client vanishing (ECONNRESET, EPIPE) is routine: the connection just ends, unlogged.
    socket.on('error', () => {});
    socket.on('drain', () => this.signal());
    socket.once('close', () => {
      clearTimeout(this.handshakeTimer);
      this.abort.abort(new AbortedError('NBD client disconnected'));
      this.signal();
    });
    socket.setNoDelay(true); // no Nagle delay on replies ("Protocol phases"); a no-op on a Unix socket
    if (options.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(() => {
        if (!this.inHandshake) return;
        this.log('warn', `handshake not finished after ${options.handshakeTimeoutMs} ms: disconnecting`);
        socket.destroy();
      }, options.handshakeTimeoutMs);
      this.handshakeTimer.unref();
    }
  }

  /** Runs the connection to its end; never rejects. */
  async run(): Promise<void> {
    try {
      const params = await this.handshake();
      this.inHandshake = false;
      clearTimeout(this.handshakeTimer);
      if (params) await this.transmit(params);
      this.finish();
    } catch (err) {
      // Only protocol violations get here (bad magic, unknown flags, oversized lengths: UsageError
      // from the parsers and the checks above): the stream cannot be trusted any further.
      this.log('warn', `${err instanceof Error ? err.message : String(err)}: disconnecting`, err);
      this.socket.destroy();
    }
  }

  /**
   * Starts a clean stop: requests already fully received are answered (in-flight ones with their
   * replies, later ones with NBD_ESHUTDOWN, options with NBD_REP_ERR_SHUTDOWN), then the
   * connection ends. `closed` resolves when it has.
   */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.reader.interrupt();
    this.signal();
  }

  /** Ends the connection now (in-flight replies are lost). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Option haggling; the transmission parameters, or null when the connection is to end. */
  private async handshake(): Promise<TransmissionParams | null> {
    this.send([buildGreeting()]);
    const flagBytes = await this.reader.read(4);
    if (!flagBytes) return null;
    const clientFlags = parseClientFlags(flagBytes);
    if (clientFlags & ~(ClientFlag.C_FIXED_NEWSTYLE | ClientFlag.C_NO_ZEROES)) {
      throw new UsageError(`unknown NBD client flags 0x${clientFlags.toString(16)}`);
    }
    const state = initialNegotiationState((clientFlags & ClientFlag.C_NO_ZEROES) !== 0);
    const { exports, maxPayload, maxOptionLength } = this.options;
    for (;;) {
      // The reply queue bound holds in the handshake too: a client that sends options and never
      // reads the replies (each 30-byte NBD_OPT_INFO gets ~200 bytes back) would otherwise make
      // the server buffer replies without limit. Stop reading options until the queue drains.
      while (this.socket.writableLength >= this.options.maxQueuedBytes && !this.socket.destroyed) {
        await new Promise<void>((resolve) => { this.roomWaiter = resolve; });
      }
      const headerBytes = await this.reader.read(OPTION_HEADER_SIZE);
      if (!headerBytes) return null;
      const header = parseOptionHeader(headerBytes);
      if (header.length > maxOptionLength) {
        throw new UsageError(`NBD option ${header.option} has ${header.length} bytes of data (at most ${maxOptionLength} accepted)`);
      }
      const data = await this.reader.read(header.length);
      if (!data) return null;
      const outcome = answerOption(state, header.option, data, { exports, maxPayload, shuttingDown: this.shuttingDown });
      if (outcome.kind === 'drop') throw new UsageError(outcome.reason);
      this.send(outcome.replies);
      if (outcome.kind === 'abort') return null;
      if (outcome.kind === 'transmit') return outcome.params;
    }
  }

  /** The transmission phase: reads requests while there is room, executes them concurrently. */
  private async transmit(params: TransmissionParams): Promise<void> {
    const exp = params.export;
    this.exportName = exp.name;
    const session: Session = {
      export: exp,
      structured: params.structured,
      allocationId: params.allocationId,
      limits: sessionLimits(exp, params.structured, params.allocationId, this.options.maxPayload),
      onError: (err, req) => {
        if (err instanceof AbortedError && this.abort.signal.aborted) return; // the client left
        this.log('error', `command ${req.type} of ${req.length} bytes at offset ${req.offset} failed: ${err instanceof Error ? err.message : String(err)}`, err);
      },
    };
    for (;;) {
      if (!this.shuttingDown && !this.hasRoom()) {
        await new Promise<void>((resolve) => { this.roomWaiter = resolve; });
        if (this.socket.destroyed) return;
        continue;
      }
      const header = this.reader.tryRead(REQUEST_SIZE) ?? await this.reader.read(REQUEST_SIZE);
      if (!header) return; // end of stream (or shutdown with nothing more received)
      const req = parseRequest(header);
      let payload: Uint8Array | undefined;
      if (req.type === NbdCmd.WRITE) {
        // The payload cannot be skipped without reading it, and reading 4 GiB to refuse it is what
        // a denial of service wants: drop the connection instead.
        if (req.length > this.options.maxPayload) throw new UsageError(`write of ${req.length} bytes is larger than the maximum payload (${this.options.maxPayload} bytes)`);
        if (!session.export.writer) {
          // Refused anyway (EPERM): consume the payload without holding it, or 256 clients
          // each sending 32 MiB writes to a read-only export would make the server hold 8 GiB.
          if (!(await this.reader.skip(req.length))) return;
        } else {
          payload = this.reader.tryRead(req.length) ?? await this.reader.read(req.length) ?? undefined;
          if (!payload) return;
        }
      }
      if (req.type === NbdCmd.DISC) return;
      if (this.shuttingDown) this.send(this.shutdownReply(req, session));
      else this.dispatch(req, payload, session);
    }
  }

  private dispatch(req: NbdRequest, payload: Uint8Array | undefined, session: Session): void {
    const cost = req.type === NbdCmd.READ || req.type === NbdCmd.WRITE ? req.length : 0;
    this.inFlight++;
    this.inFlightBytes += cost;
    executeRequest(req, payload, session, this.abort.signal)
      .then((reply) => this.send(reply, session.export))
      .catch((err) => {
        // A bug (executeRequest answers every failure): the client would wait forever for this reply.
        this.log('error', `request failed unexpectedly: ${String(err)}`, err);
        this.socket.destroy();
      })
      .finally(() => {
        this.inFlight--;
        this.inFlightBytes -= cost;
        this.signal();
      });
  }

  private shutdownReply(req: NbdRequest, session: Session): Uint8Array[] {
    const message = 'server is shutting down';
    return [session.structured ? errorChunk(req.cookie, NbdError.ESHUTDOWN, message) : simpleReply(req.cookie, NbdError.ESHUTDOWN)];
  }

  /** Room for one more request: under both in-flight bounds and the reply queue bound. */
  private hasRoom(): boolean {
    return this.inFlight < this.options.maxInFlight && this.inFlightBytes < this.options.maxInFlightBytes
      && this.socket.writableLength < this.options.maxQueuedBytes;
  }

  /** Something changed (a request completed, replies left, the socket closed, shutdown): wake waiters. */
  private signal(): void {
    const room = this.roomWaiter;
    if (room && (this.hasRoom() || this.shuttingDown || this.socket.destroyed)) {
      this.roomWaiter = null;
      room();
    }
    const idle = this.idleWaiter;
    if (idle && (this.inFlight === 0 || this.socket.destroyed)) {
      this.idleWaiter = null;
      idle();
    }
  }

  /**
   * Waits for the requests in flight, then ends the socket (after everything written is sent).
   * The rest of what the client sends is discarded so its end is seen and the socket closes.
   */
  private finish(): void {
    const end = () => {
      this.reader.discard();
      if (!this.socket.destroyed) this.socket.end();
    };
    if (this.inFlight === 0) end();
    else this.idleWaiter = end;
  }

  /**
   * Writes one reply's buffers as one write where possible: corked, they leave in a single
   * writev. Write errors surface as the socket's 'error' event (the client went away).
   */
  private send(buffers: Uint8Array[], exp?: ServeExport): void {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return;
    const done = exp?.recycle && buffers.some((b) => b.buffer instanceof SharedArrayBuffer) ? this.recycling(buffers, exp) : this.flushed;
    if (buffers.length === 1) {
      s.write(buffers[0], done);
      return;
    }
    s.cork();
    const last = buffers.length - 1;
    for (let i = 0; i < last; i++) if (buffers[i].length) s.write(buffers[i]);
    s.write(buffers[last], done);
    s.uncork();
  }

  /**
   * The write callback of a reply whose data the export lent from its recycled memory: once the
   * reply's last buffer is written (so every one before it), the memory goes back. Not after a
   * failed write: the socket is gone and its buffers are left to the garbage collector.
   */
  private recycling(buffers: Uint8Array[], exp: ServeExport): (err?: Error | null) => void {
    return (err) => {
      if (!err) for (const b of buffers) exp.recycle!(b);
      this.signal();
    };
  }

  private log(level: NbdLogEntry['level'], message: string, error?: unknown): void {
    const entry: NbdLogEntry = { level, message, connection: this.options.id, export: this.exportName, error };
    this.options.log(`nbd: connection ${entry.connection}${entry.export ? ` (${entry.export})` : ''}: ${message}`, entry);
  }
}
