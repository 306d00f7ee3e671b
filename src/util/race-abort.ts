import { AbortedError } from '../errors.js';

/**
 * Resolves as `work` does, or rejects with AbortedError as soon as `signal` aborts. For work
 * shared by several callers (one fetch serving many reads): the work itself is not cancelled,
 * since others may still be waiting for it; only this caller stops waiting.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what = 'read'): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(new AbortedError(`${what} cancelled`));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(new AbortedError(`${what} cancelled`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
