import { unlink } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { UsageError } from '../../errors.js';
import type { ServeExport } from '../serve-export.js';
import { DEFAULT_MAX_PAYLOAD } from './nbd-constants.js';
import { NbdConnection, type NbdLog } from './nbd-connection.js';

export type { NbdLog, NbdLogEntry } from './nbd-connection.js';

/** The IANA port of NBD ("Newstyle negotiation"). */
export const NBD_DEFAULT_PORT = 10809;

/** Options of {@link startNbdServer}. */
export interface NbdServerOptions {
  /** What to serve; the first is the default export (the one an empty export name selects). */
  exports: readonly ServeExport[];
  /** Address to listen on (default 127.0.0.1); ignored with `socketPath`. */
  host?: string;
  /** TCP port (default 10809; 0 picks a free one); ignored with `socketPath`. */
  port?: number;
  /** Listen on this Unix socket instead of TCP. */
  socketPath?: string;
  /** Connections served at once (default 256); Node closes connections beyond it as they come. */
  maxConnections?: number;
  /** Requests executing at once per connection (default 32). */
  maxInFlight?: number;
  /**
   * Largest read or write payload accepted, in bytes (default and maximum 32 MiB, the payload
   * every client may assume; advertised in NBD_INFO_BLOCK_SIZE).
   */
  maxPayload?: number;
  /** A client must finish the handshake within this many ms (default 60 000; 0: no limit). */
  handshakeTimeoutMs?: number;
  /** Receives problems: misbehaving clients (disconnected) and failing reads/writes (answered with errors). */
  log?: NbdLog;
}

/** A running NBD server. */
export interface NbdServer {
  /** The address listened on: the host (as given) and the bound port, or the Unix socket path. */
  readonly address: { host: string; port: number } | { socketPath: string };
  /** Connections open now. */
  readonly connectionCount: number;
  /**
   * NBD URIs of the exports, in export order: `nbd://HOST:PORT/NAME`, or
   * `nbd+unix:///NAME?socket=PATH` for a Unix socket.
   */
  urls(): string[];
  /**
   * Stops listening and ends every connection cleanly: requests in flight get their replies,
   * requests already received after that NBD_ESHUTDOWN, then each socket is ended. Connections
   * still open after `timeoutMs` (default 5000) are destroyed. Idempotent.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Bytes of option data accepted in the handshake: a GO with a 4096-byte name needs about 4.1 KiB. */
const MAX_OPTION_LENGTH = 64 << 10;

/**
 * Starts an NBD server (fixed newstyle, structured replies, `base:allocation` block status; no
 * TLS) for `exports`, and resolves once it listens.
 * @throws UsageError when there are no exports, two share a name, a limit is out of range, or
 *   the address cannot be listened on (in use, permission denied).
 * @example
 * const archive = await Archive.open('vm.hxz');
 * const server = await startNbdServer({ exports: archiveExports([{ name: 'vm', archive }]), port: 0 });
 * console.log(server.urls()); // [ 'nbd://127.0.0.1:41234/disk' ]
 * await server.close();
 */
export async function startNbdServer(options: NbdServerOptions): Promise<NbdServer> {
  const exports = [...options.exports];
  if (exports.length === 0) throw new UsageError('nothing to serve: no exports');
  const names = new Set<string>();
  for (const e of exports) {
    if (names.has(e.name)) throw new UsageError(`two exports are named ${e.name}`);
    names.add(e.name);
  }
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (!Number.isInteger(maxPayload) || maxPayload < 4096 || maxPayload > DEFAULT_MAX_PAYLOAD) {
    throw new UsageError(`maxPayload must be an integer from 4096 to ${DEFAULT_MAX_PAYLOAD}, got ${maxPayload}`);
  }
  const maxInFlight = options.maxInFlight ?? 32;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new UsageError(`maxInFlight must be a positive integer, got ${maxInFlight}`);
  const log = options.log ?? (() => {});
  const connections = new Set<NbdConnection>();
  let nextId = 1;
  let closing: Promise<void> | undefined;

  const server: Server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    const id = nextId++;
    const conn = new NbdConnection(socket, {
      id,
      exports,
      maxPayload,
      maxOptionLength: MAX_OPTION_LENGTH,
      maxInFlight,
      // Two maximum-size requests' worth: a client streaming 32 MiB reads keeps two going.
      maxInFlightBytes: 2 * maxPayload,
      maxQueuedBytes: 8 << 20,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 60_000,
      log,
    });
    connections.add(conn);
    void conn.closed.then(() => connections.delete(conn));
    if (closing) conn.shutdown();
    void conn.run();
  });
  server.maxConnections = options.maxConnections ?? 256;

  const socketPath = options.socketPath;
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? NBD_DEFAULT_PORT;
  const listen = () => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve();
    };
    if (socketPath !== undefined) server.listen(socketPath, listening);
    else server.listen(port, host, listening);
  });
  try {
    try {
      await listen();
    } catch (err) {
      // A Unix socket left by a server that was killed: nobody answers on it, so take it over.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || socketPath === undefined || !(await isStaleSocket(socketPath))) throw err;
      await unlink(socketPath);
      await listen();
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const where = socketPath ?? `${host}:${port}`;
    throw new UsageError(`cannot listen for NBD on ${where}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}`, {}, { cause: err });
  }
  server.on('error', (err) => log(`nbd: server error: ${err.message}`, { level: 'error', message: `server error: ${err.message}`, connection: 0, error: err }));

  const address: NbdServer['address'] = socketPath !== undefined
    ? { socketPath }
    : { host, port: (server.address() as AddressInfo).port };

  return {
    address,
    get connectionCount() {
      return connections.size;
    },
    urls: () => exports.map((e) => nbdUri(address, e.name)),
    close(closeOptions = {}) {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.shutdown();
        const all = Promise.all([...connections].map((c) => c.closed));
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, closeOptions.timeoutMs ?? 5000); });
        await Promise.race([all, timeout]);
        clearTimeout(timer);
        for (const c of connections) c.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}

/**
 * The NBD URI of export `name` (the NBD project's doc/uri.md): the export name is the path after
 * the first slash, each segment percent-encoded, so `vm/disk` stays `…/vm/disk`.
 */
export function nbdUri(address: NbdServer['address'], name: string): string {
  const path = name.split('/').map(encodeURIComponent).join('/');
  if ('socketPath' in address) return `nbd+unix:///${path}?socket=${encodeURIComponent(address.socketPath).replace(/%2F/g, '/')}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `nbd://${host}:${address.port}/${path}`;
}

/** True when `path` is a Unix socket nobody accepts connections on (ECONNREFUSED). */
function isStaleSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
