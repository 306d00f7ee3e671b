/**
 * Runs async sections one at a time, in the order they asked. An overlay's appends go through
 * one: each needs the log end the previous one left, and a read-modify-write of an edge page
 * must not interleave with another write of that page.
 */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every section queued before it has finished (whether it resolved or threw). */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(() => fn());
    // The chain goes on after a failure: one failed write does not block the next.
    this.tail = result.catch(() => {});
    return result;
  }
}
