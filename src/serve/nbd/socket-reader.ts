import type { Socket } from 'node:net';

/**
 * Reads exact byte counts from a socket, with bounded buffering: the socket is paused once
 * `highWater` bytes (or the pending read's size, if larger) are buffered and nobody takes them,
 * so a client cannot make the server hold more than that by sending faster than it is served.
 * One consumer at a time (the connection's request loop).
 */
export class SocketReader {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already taken. */
  private head = 0;
  private bufferedBytes = 0;
  private waiter: { n: number; resolve: (bytes: Uint8Array | null) => void } | null = null;
  /** The socket ended or closed: no more bytes will come. */
  private ended = false;
  /** {@link interrupt} was called: reads that cannot be served from the buffer return null. */
  private interrupted = false;
  private discarding = false;

  /**
   * @param socket the connection; its 'data', 'end' and 'close' events are consumed here.
   * @param highWater bytes to buffer ahead of the consumer before pausing the socket.
   */
  constructor(private readonly socket: Socket, private readonly highWater = 256 << 10) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onEnd());
  }

  /** Bytes received and not yet taken. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  /** `n` bytes if they are all buffered already (no copy when they lie in one chunk), else undefined. */
  tryRead(n: number): Uint8Array | undefined {
    return this.bufferedBytes >= n ? this.take(n) : undefined;
  }

  /**
   * The next `n` bytes, or null when the socket ends first (or {@link interrupt} was called)
   * before `n` bytes came.
   */
  read(n: number): Promise<Uint8Array | null> {
    if (this.waiter) throw new Error('SocketReader: one read at a time'); // a bug in the caller, not a client error
    if (this.bufferedBytes >= n) return Promise.resolve(this.take(n));
    if (this.ended || this.interrupted) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = { n, resolve };
      this.flow();
    });
  }

  /**
   * Consumes the next `n` bytes without keeping them, `highWater` at a time (a payload being
   * refused is never held whole). False when the socket ends first.
   */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const k = Math.min(n, this.highWater);
      const got = this.tryRead(k) ?? await this.read(k);
      if (!got) return false;
      n -= k;
    }
    return true;
  }

  /** Ends a pending read (it returns null), and later reads that are not already buffered. */
  interrupt(): void {
    this.interrupted = true;
    this.settle(null);
  }

  /**
   * Drops what is buffered and everything that comes later, and lets the socket flow, so its
   * end is seen (a paused socket never emits 'end') once the connection is done with it.
   */
  discard(): void {
    this.discarding = true;
    this.chunks = [];
    this.head = 0;
    this.bufferedBytes = 0;
    this.settle(null);
    this.socket.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.discarding) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.waiter && this.bufferedBytes >= this.waiter.n) this.settle(this.take(this.waiter.n));
    this.flow();
  }

  private onEnd(): void {
    this.ended = true;
    this.settle(null);
  }

  private settle(value: Uint8Array | null): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    w.resolve(value);
  }

  /** Pauses the socket when enough is buffered for the consumer, resumes it when more is needed. */
  private flow(): void {
    if (this.discarding) return;
    const want = Math.max(this.highWater, this.waiter?.n ?? 0);
    if (this.bufferedBytes >= want) this.socket.pause();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  private take(n: number): Uint8Array {
    this.bufferedBytes -= n;
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    let out: Uint8Array;
    if (first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = new Uint8Array(n); // spans chunks: one copy, of exactly what was asked
      let at = 0;
      while (at < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length - this.head, n - at);
        out.set(c.subarray(this.head, this.head + k), at);
        at += k;
        this.head += k;
        if (this.head === c.length) {
          this.chunks.shift();
          this.head = 0;
        }
      }
    }
    if (!this.waiter) this.flow();
    return out;
  }
}
