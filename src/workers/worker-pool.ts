import { Worker } from 'node:worker_threads';
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CodecId } from '../format/constants.js';
import { BlockDecodeError, type BlockDecoder, type BlockDecodeRequest } from '../archive/block-decoder.js';
import type { BlockTask, BlockWorkerData, CheckDigestsResult, SetupTask, CompressBatchResult, CompressResult, DecodeResult, Qcow2CompressResult, TaskFailure, WorkerReady } from './block-task.js';
import { packRunBlocks, RunBlockError, type RunRequest } from '../archive/decode-run.js';

type TaskResult = CompressBatchResult | DecodeResult | Qcow2CompressResult | CheckDigestsResult;

/** A decode task that failed in a worker; `kind` says how. The pool is the Node {@link BlockDecoder}. */
export { BlockDecodeError as BlockTaskError };

type Pending = { resolve: (r: TaskResult) => void; reject: (e: Error) => void; slot: number };

/**
 * A fixed pool of worker threads for CPU-heavy block work: hashing + compression when
 * packing, decoding + hash checks when extracting. Tasks go to the least-loaded worker; each
 * returns a promise. Callers bound the number in flight and consume results in their own order.
 */
export class WorkerPool implements BlockDecoder {
  /** Each worker, its tasks in flight, and `up`, settled by `starting` once it says it is ready (or the pool fails). */
  private readonly workers: { worker: Worker; load: number; up: Promise<void>; starting?: { resolve: () => void; reject: (e: Error) => void }; detach?: () => void }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Tasks sent that use the workers' data (all but check-digests): {@link configure} comes before them. */
  private configuredTasks = 0;
  private failure: Error | null = null;
  /** What new workers start with: the constructor's data, or the last {@link configure}'s. */
  private shared: BlockWorkerData;

  /**
   * Starts `size` workers (at least one). `shared` is sent to each worker once at start: the
   * archive's zstd dictionary (used for every zstd task) and, for encrypted archives, the
   * keyed-hash and object keys.
   */
  constructor(size: number, shared: BlockWorkerData = {}) {
    this.shared = shared;
    this.grow(Math.max(1, size));
  }

  /**
   * Starts workers until there are `size` (none when there are that many already), with the
   * data the pool was last given (constructor or {@link configure}). A thread costs tens of
   * milliseconds of CPU to start, so a caller that learns late how much work there is can start
   * with one and grow.
   * @throws Error when the pool has failed or been closed.
   */
  grow(size: number): void {
    if (this.failure) throw this.failure;
    const { ext, url } = workerEntry();
    while (this.workers.length < size) {
      const workerData = this.shared;
      const spare = takeSpare();
      let entry: (typeof this.workers)[number];
      if (spare) {
        // Up already: it takes this pool's data before anything else (messages arrive in order).
        entry = { worker: spare, load: 0, up: Promise.resolve() };
        spare.postMessage({ op: 'setup', id: -1, data: workerData } satisfies BlockTask);
      } else {
        // Built workers are plain JavaScript: they do not take the process's options (a loader
        // such as `--import tsx` would cost each of them 100 ms or more to start).
        const worker = ext === '.ts' ? tsWorker(url, workerData) : new Worker(url, { workerData, execArgv: [] });
        entry = { worker, load: 0, up: Promise.resolve() };
        const e = entry;
        entry.up = new Promise<void>((resolve, reject) => (e.starting = { resolve, reject }));
        entry.up.catch(() => {}); // a pool that fails says so through its tasks; ready() reports it to whoever waits
      }
      const worker = entry.worker;
      const onMessage = (r: TaskResult | TaskFailure | WorkerReady) => {
        if ('ready' in r) {
          entry.starting?.resolve();
          entry.starting = undefined;
          // Held by ready() meanwhile; an idle pool must not keep the process alive. Never after
          // close() or a failure: terminate() holds the worker until its exit event, and a late
          // unref would let the event loop empty first (close() would never resolve).
          if (!this.failure && entry.load === 0) worker.unref();
        } else this.settle(r);
      };
      const onError = (err: Error) => this.fail(err);
      const onExit = (code: number) => code !== 0 && this.fail(new Error(`block worker exited with code ${code}`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      // Only these: Node's own listeners on a Worker (which reference its port) must stay.
      entry.detach = () => worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      worker.unref();
      this.workers.push(entry);
    }
  }

  /**
   * Replaces what the constructor's `shared` gave every worker, so a pool can start its threads
   * (tens of milliseconds each) while the archive they will work for is still being opened.
   * @throws Error when a task that uses the data was submitted already (it would run with the
   *   old data); {@link checkDigests} does not.
   */
  configure(shared: BlockWorkerData): void {
    if (this.configuredTasks) throw new Error('internal: a worker pool is configured before its first task that uses its data');
    this.shared = shared;
    // Messages reach a worker in order: the setup arrives before any task.
    for (const w of this.workers) w.worker.postMessage({ op: 'setup', id: -1, data: shared } satisfies BlockTask);
  }

  /**
   * Resolves once every worker started so far (not those a later {@link grow} adds) has loaded
   * its modules and takes tasks at once: a thread takes tens of milliseconds to start, during
   * which it competes for the cores with whoever is being served. A server waits for this
   * before it says it is ready.
   * @throws Error (rejects) when the pool has failed or been closed, or fails (any worker) or is
   *   closed before all of them are up.
   */
  ready(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    // Idle workers are unreferenced: the process would not wait for them to start.
    for (const w of this.workers) if (w.starting) w.worker.ref();
    return Promise.all(this.workers.map((w) => w.up)).then(() => {});
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Hashes and compresses `blocks` in one task, results in order. With `transfer`, the blocks'
   * ArrayBuffers are transferred (detached here): a buffer may hold several of the blocks but no
   * bytes the caller still needs. Without, the blocks are copied into one buffer first.
   */
  async compress(blocks: Uint8Array[], codec: CodecId, level: number, options: { transfer: boolean }): Promise<CompressResult[]> {
    const buffers: ArrayBuffer[] = [];
    const fields = new Float64Array(blocks.length * 3);
    if (options.transfer) {
      const index = new Map<ArrayBufferLike, number>();
      blocks.forEach((b, i) => {
        let k = index.get(b.buffer);
        if (k === undefined) index.set(b.buffer, (k = buffers.push(b.buffer as ArrayBuffer) - 1));
        fields.set([k, b.length, b.byteOffset], i * 3);
      });
    } else {
      const copy = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
      let at = 0;
      blocks.forEach((b, i) => {
        copy.set(b, at);
        fields.set([0, b.length, at], i * 3);
        at += b.length;
      });
      buffers.push(copy.buffer);
    }
    const r = (await this.submit({ op: 'compress', id: 0, buffers, fields: fields.buffer, codec, level })) as CompressBatchResult;
    const lengths = new Uint32Array(r.storedLengths);
    const encodings = new Uint8Array(r.encodings);
    const flags = new Uint8Array(r.flags);
    const out: CompressResult[] = [];
    for (let i = 0, at = 0; i < lengths.length; at += lengths[i], i++) {
      out.push({ hash: new Uint8Array(r.hashes, i * 32, 32), stored: new Uint8Array(r.stored, at, lengths[i]), encoding: encodings[i] as CodecId, known: flags[i] === 1 });
    }
    return out;
  }

  /**
   * Lays out `request.length` bytes (the stored base blocks decoded and checked as
   * {@link decodeRun} does, bytes no block covers zero, then `patches` over them: (to, length,
   * at) triples into `patchBytes`, at = -1 for zeros), cuts them into blocks of `lengths` and
   * hashes and compresses each in one task. Buffers are transferred when they own theirs (else
   * copied). Per block, in order: all zero (nothing else set), or its 32-byte hash, stored bytes
   * (a view into one buffer) and codec (0 = raw), or known (in the known set: not compressed).
   * @throws RunBlockError naming the base block that failed and how.
   */
  async compressBatch(request: RunRequest, patches: Float64Array, patchBytes: Uint8Array, lengths: Uint32Array, codec: CodecId, level: number): Promise<BatchBlock[]> {
    const { fields, hashes } = packRunBlocks(request.blocks);
    const task = {
      op: 'compress-batch' as const, id: 0, bytes: owned(request.stored).buffer as ArrayBuffer, fields: fields.buffer as ArrayBuffer, hashes: hashes.buffer as ArrayBuffer,
      patchFields: ownedBuffer(patches), patches: owned(patchBytes).buffer as ArrayBuffer, length: request.length, lengths: ownedBuffer(lengths), codec, level,
    };
    const r = (await this.submit(task)) as CompressBatchResult;
    const storedLengths = new Uint32Array(r.storedLengths);
    const encodings = new Uint8Array(r.encodings);
    const flags = new Uint8Array(r.flags);
    const out: BatchBlock[] = [];
    for (let i = 0, at = 0; i < storedLengths.length; at += storedLengths[i], i++) {
      out.push({ zero: flags[i] === 2, known: flags[i] === 1, hash: new Uint8Array(r.hashes, i * 32, 32), stored: new Uint8Array(r.stored, at, storedLengths[i]), encoding: encodings[i] as CodecId });
    }
    return out;
  }

  /**
   * Decodes (a copy of) stored bytes to exactly `length` bytes and, when `hash` is given, checks
   * their content hash. With `aad` the bytes are a sealed block, opened first with the pool's object key.
   * @throws BlockDecodeError with kind 'auth', 'decode' or 'hash' on failure.
   */
  async decode({ stored, encoding, length, hash, aad }: BlockDecodeRequest): Promise<Uint8Array> {
    // Copies: the caller's arrays may share a buffer (a coalesced read, a memory source) or be kept.
    // new Uint8Array(x) always copies exactly x (Buffer#slice would be a view of a larger buffer).
    const copy = (x: Uint8Array) => new Uint8Array(x).buffer;
    const task = { op: 'decode' as const, id: 0, bytes: copy(stored), encoding, length, hash: hash && copy(hash), aad: aad && copy(aad) };
    const r = (await this.submit(task)) as DecodeResult;
    return new Uint8Array(r.data!);
  }

  /**
   * Decodes a run of stored blocks into one buffer of logical bytes (archive/decode-run.ts),
   * with the keys and dictionaries of the archives given at start as `slots`. The request's
   * `stored` buffer is transferred when it owns its whole ArrayBuffer (else copied). An
   * `output` in shared memory is decoded into in place (and returned); any other is not used.
   * @throws RunBlockError naming the block that failed and how.
   */
  async decodeRun(request: RunRequest): Promise<Uint8Array> {
    // Shared memory is read in place (never transferable); anything else is transferred or copied.
    const own = request.stored.buffer instanceof SharedArrayBuffer ? request.stored : owned(request.stored);
    const { fields, hashes } = packRunBlocks(request.blocks);
    const output = request.output && request.output.length >= request.length && request.output.buffer instanceof SharedArrayBuffer ? request.output : undefined;
    const task = {
      op: 'decode-run' as const, id: 0, bytes: own.buffer as ArrayBuffer | SharedArrayBuffer, bytesOffset: own.byteOffset, bytesLength: own.byteLength,
      fields: fields.buffer as ArrayBuffer, hashes: hashes.buffer as ArrayBuffer, length: request.length,
      out: output?.buffer as SharedArrayBuffer | undefined, outOffset: output?.byteOffset,
    };
    const r = (await this.submit(task)) as DecodeResult;
    return output ? output.subarray(0, request.length) : new Uint8Array(r.data!);
  }

  /**
   * Zero-checks and compresses whole qcow2 clusters (`bytes` is transferred when it owns its
   * buffer, else copied); see EncodedClusters in codec/cluster-codec.ts for the result.
   * @throws BlockTaskError (kind 'internal') when encoding fails.
   */
  async qcow2Compress(bytes: Uint8Array, clusterSize: number, codec: 'zlib' | 'zstd', level: number): Promise<{ stored: Uint8Array; lengths: Uint32Array }> {
    const own = owned(bytes);
    const r = (await this.submit({ op: 'qcow2-compress', id: 0, bytes: own.buffer as ArrayBuffer, clusterSize, codec, level })) as Qcow2CompressResult;
    return { stored: new Uint8Array(r.stored), lengths: new Uint32Array(r.lengths) };
  }

  /**
   * Checks spans of `bytes` that each start with a checksum of the rest (an overlay's records,
   * docs/FORMAT.md §O.3): the first `prefix` bytes of span i = `[spans[2i], spans[2i + 1])` must
   * be the first `prefix` bytes of plain BLAKE3-256 of the span after them. `bytes` is
   * transferred when it owns its buffer (else copied). Needs no {@link configure}: it may be
   * sent before it.
   * @returns the index of the first span that does not match, or −1.
   */
  async checkDigests(bytes: Uint8Array, spans: Float64Array, prefix = 16): Promise<number> {
    const own = owned(bytes);
    const r = (await this.submit({ op: 'check-digests', id: 0, bytes: own.buffer as ArrayBuffer, spans: ownedBuffer(spans), prefix })) as CheckDigestsResult;
    return r.first;
  }

  /**
   * Stops every worker; tasks still pending are rejected and late results ignored. A pool that
   * did not fail keeps up to {@link MAX_SPARES} idle, started workers for the next pool of the
   * process (for {@link SPARE_MS}; see {@link WorkerPool.releaseSpares}), their data dropped.
   */
  async close(): Promise<void> {
    // Chosen before fail(), which ends every worker's start: only threads that are up and idle.
    const keep = this.failure ? [] : this.workers.filter((w) => w.load === 0 && !w.starting).slice(0, Math.max(0, MAX_SPARES - spares.length));
    // Without this, a result posted before terminate() could unref the worker in settle() and
    // let the event loop empty before the worker's exit event, so close() would never resolve.
    this.fail(new Error('worker pool closed'));
    for (const w of keep) {
      w.detach?.();
      park(w.worker);
    }
    await Promise.all(this.workers.filter((w) => !keep.includes(w)).map((w) => w.worker.terminate()));
  }

  /** Stops the workers kept for the next pool (tests; a process that wants its threads gone now). */
  static async releaseSpares(): Promise<void> {
    const all = spares.splice(0);
    for (const s of all) clearTimeout(s.timer);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  private submit(task: Exclude<BlockTask, SetupTask>): Promise<TaskResult> {
    if (this.failure) return Promise.reject(this.failure);
    task.id = this.nextId++;
    if (task.op !== 'check-digests') this.configuredTasks++;
    let slot = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.workers[i].load < this.workers[slot].load) slot = i;
    this.workers[slot].load++;
    if (this.workers[slot].load === 1) this.workers[slot].worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(task.id, { resolve, reject, slot });
      const transfer = task.op === 'compress' ? [...task.buffers, task.fields]
        : task.op === 'decode-run' ? (task.bytes instanceof SharedArrayBuffer ? [task.fields, task.hashes] : [task.bytes, task.fields, task.hashes])
        : [task.bytes, ...(task.op === 'decode' ? [task.hash, task.aad].filter((b): b is ArrayBuffer => !!b) : task.op === 'compress-batch' ? [task.fields, task.hashes, task.patchFields, task.patches, task.lengths]
          : task.op === 'check-digests' ? [task.spans] : [])];
      this.workers[slot].worker.postMessage(task, transfer);
    });
  }

  private settle(r: TaskResult | TaskFailure): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    const w = this.workers[p.slot];
    // An idle pool must not keep the process alive.
    if (--w.load === 0) w.worker.unref();
    if ('error' in r) p.reject(taskError(r));
    else p.resolve(r);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.workers) {
      w.starting?.reject(err);
      w.starting = undefined;
    }
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** The worker's entry module, found once. */
let entryModule: { ext: string; url: URL } | undefined;

/**
 * Where workers start: the bundle `npm run build` makes (scripts/build-worker.mjs: one module to
 * load, ~20 ms sooner) when present, else block-worker with this module's extension (.ts under
 * tsx in tests, .js once built).
 */
function workerEntry(): { ext: string; url: URL } {
  if (entryModule) return entryModule;
  const ext = extname(fileURLToPath(import.meta.url));
  const plain = new URL(`./block-worker${ext}`, import.meta.url);
  const bundle = new URL('./block-worker.bundle.js', import.meta.url);
  // Not a bundle older than the code it was made from (dist rebuilt by tsc alone).
  const fresh = ext === '.js' && existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(plain).mtimeMs;
  entryModule = { ext, url: fresh ? bundle : plain };
  return entryModule;
}

/** The module workers start from (a file: URL): the bundle once built, see {@link workerEntry}. For diagnostics and tests. */
export function blockWorkerEntry(): string {
  return workerEntry().url.href;
}

/** Idle workers a closed pool keeps for the next one. */
const MAX_SPARES = 2;
/**
 * How long (ms) a kept worker waits for a next pool: a thread costs tens of milliseconds of CPU
 * to start, more than a small job (a commit of a few megabytes) takes once it runs, and a
 * process that packs, commits or extracts several archives in a row, or a server that commits
 * overlays, starts one pool after another.
 */
const SPARE_MS = 5000;
/** Workers of closed pools, started and idle, holding no archive's data; unreferenced. */
const spares: { worker: Worker; timer: ReturnType<typeof setTimeout>; detach: () => void }[] = [];

/** Keeps `worker` (idle, up, no pool's listeners) for the next pool, for {@link SPARE_MS}. */
function park(worker: Worker): void {
  // No keys or dictionary of the closed pool's archive stay in a thread nobody uses.
  worker.postMessage({ op: 'setup', id: -1, data: {} } satisfies BlockTask);
  worker.unref();
  const drop = () => {
    const i = spares.findIndex((s) => s.worker === worker);
    if (i >= 0) clearTimeout(spares.splice(i, 1)[0].timer);
  };
  const onError = () => {
    drop();
    void worker.terminate();
  };
  worker.on('exit', drop).on('error', onError);
  const timer = setTimeout(() => {
    drop();
    void worker.terminate();
  }, SPARE_MS);
  timer.unref();
  spares.push({ worker, timer, detach: () => worker.off('exit', drop).off('error', onError) });
}

/** A kept worker that still runs, its listeners removed, or undefined. */
function takeSpare(): Worker | undefined {
  for (let s = spares.pop(); s; s = spares.pop()) {
    clearTimeout(s.timer);
    s.detach();
    // A thread that has ended (its exit event not yet delivered) says so by a threadId of −1.
    if (s.worker.threadId >= 0) return s.worker;
    void s.worker.terminate();
  }
  return undefined;
}

/**
 * `bytes` itself when it owns its whole ArrayBuffer (so it can be transferred), else a copy.
 * Uint8Array's slice, not the argument's own: a Buffer's `slice` is a view of the same memory,
 * whose transfer would detach (and send) the whole buffer it is part of.
 */
function owned(bytes: Uint8Array): Uint8Array {
  // Shared memory cannot be transferred: a copy (its slice is ordinary memory) goes instead.
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer) ? bytes : Uint8Array.prototype.slice.call(bytes);
}

/** A typed array's buffer, itself when the array spans all of it (to transfer), else a copy of its bytes. */
function ownedBuffer(a: Float64Array | Uint32Array): ArrayBuffer {
  return (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a.buffer : a.slice().buffer) as ArrayBuffer;
}

/** The error a failed task rejects with. */
function taskError(r: TaskFailure): Error {
  return r.block === undefined ? new BlockDecodeError(r.error, r.kind) : new RunBlockError(r.error, r.kind, r.block, r.partial && new Uint8Array(r.partial, 0, r.partialLength));
}

/** One block of a {@link WorkerPool.compressBatch} result. */
export interface BatchBlock {
  zero: boolean;
  known: boolean;
  hash: Uint8Array;
  stored: Uint8Array;
  encoding: CodecId;
}

/**
 * Under tsx (tests, development) Node 20 does not apply the parent's loader hooks to a
 * worker's entry module, so the worker registers tsx itself before importing the TS entry.
 */
function tsWorker(url: URL, workerData: unknown): Worker {
  const code = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}
