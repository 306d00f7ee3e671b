/**
 * Waiting for a pipelined HTTP/1.1 response's turn on its connection. Node answers pipelined
 * requests in order: a response behind another has no socket yet, only buffers what is written
 * to it, and is never told ('close') when the connection dies. A body must therefore not start
 * before its response owns the connection — else a client pipelining many large GETs would have
 * all of them read into memory at once, and their writers would wait forever for a 'drain'.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Tracks, per connection, the responses waiting for their turn. One per server. */
export class ResponseTurns {
  private readonly waiting = new WeakMap<Socket, Set<() => void>>();

  /**
   * Resolves once `res` owns its connection — at once (a plain `true`, no promise) unless it
   * waits behind earlier pipelined responses — or with false when the connection closes first.
   */
  wait(req: IncomingMessage, res: ServerResponse): boolean | Promise<boolean> {
    if (res.socket) return !res.socket.destroyed;
    const socket = req.socket;
    if (socket.destroyed) return false;
    let waiters = this.waiting.get(socket);
    if (!waiters) {
      const set = (waiters = new Set());
      this.waiting.set(socket, set);
      // One listener per connection however many responses wait on it (no listener-leak warning).
      socket.once('close', () => [...set].forEach((wake) => wake()));
    }
    const set = waiters;
    return new Promise((resolve) => {
      const wake = (): void => {
        set.delete(wake);
        res.off('socket', wake);
        resolve(res.socket !== null && !res.socket.destroyed);
      };
      set.add(wake);
      res.on('socket', wake); // ServerResponse.assignSocket emits it when the turn comes
    });
  }
}
