import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlockResult, BlockTask } from './block-task.js';

/**
 * A fixed pool of packing workers. Tasks go to the least-loaded worker; each returns a
 * promise of its result. Callers bound the number in flight (the packer keeps a FIFO of
 * promises and writes results in input order).
 */
export class WorkerPool {
  private readonly workers: { worker: Worker; load: number }[] = [];
  private readonly pending = new Map<number, { resolve: (r: BlockResult) => void; reject: (e: Error) => void; slot: number }>();
  private nextId = 0;
  private failure: Error | null = null;

  /** Starts `size` workers (at least one). */
  constructor(size: number) {
    // Same extension as this module: .ts under tsx (tests), .js once built.
    const ext = extname(fileURLToPath(import.meta.url));
    const url = new URL(`./pack-worker${ext}`, import.meta.url);
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = ext === '.ts' ? tsWorker(url) : new Worker(url);
      worker.on('message', (r: BlockResult) => this.settle(r));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => code !== 0 && this.fail(new Error(`packing worker exited with code ${code}`)));
      this.workers.push({ worker, load: 0 });
    }
  }

  /** Hashes and compresses `bytes` (its buffer is transferred and must not be used after). */
  run(bytes: Uint8Array, codec: BlockTask['codec'], level: number): Promise<BlockResult> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i].load < this.workers[slot].load) slot = i;
    const id = this.nextId++;
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    const task: BlockTask = { id, bytes: own.buffer as ArrayBuffer, codec, level };
    this.workers[slot].load++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      this.workers[slot].worker.postMessage(task, [task.bytes]);
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private settle(r: BlockResult): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.workers[p.slot].load--;
    if (r.error) p.reject(new Error(r.error));
    else p.resolve(r);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/**
 * Under tsx (tests, development) Node 20 does not apply the parent's loader hooks to a
 * worker's entry module, so the worker registers tsx itself before importing the TS entry.
 */
function tsWorker(url: URL): Worker {
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true });
}
