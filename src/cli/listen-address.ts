import { UsageError } from '../errors.js';

/** Where a server listens. */
export interface ListenAddress {
  host: string;
  /** 0 asks the system for a free port. */
  port: number;
}

/**
 * Parses `[HOST:]PORT` (IPv6 hosts in brackets: `[::1]:10809`); the host defaults to
 * `defaultHost` (127.0.0.1: nothing is exposed beyond this machine unless asked).
 * @throws UsageError for a port that is not 0–65535 or a malformed value.
 */
export function parseListenAddress(value: string, defaultHost = '127.0.0.1'): ListenAddress {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d+)$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new UsageError(`${value}: expected [HOST:]PORT with a port from 0 to 65535`);
  const host = m[1] === undefined ? defaultHost : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}
