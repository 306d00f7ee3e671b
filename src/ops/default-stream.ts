import type { StreamName } from '../format/constants.js';

/**
 * The stream commands use when none is named: disk if present, else memory. In a module of its
 * own so `hexz cat` does not load extract's writer to ask.
 */
export function defaultStream(a: { hasStream(name: StreamName): boolean }): StreamName {
  return a.hasStream('disk') || !a.hasStream('memory') ? 'disk' : 'memory';
}
