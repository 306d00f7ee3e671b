import { packRunBlocks, RunBlockError, type RunRequest } from '../archive/decode-run.js';
import { inThreadRunDecoder, type BlockStore, type RunDecoder } from '../archive/run-decoder.js';
import type { ArchiveKeys } from '../crypto/archive-keys.js';

/** What a decode worker needs of one slot's archive (copies: keys stay inside the page's workers). */
export interface WorkerSlot {
  dictionary?: Uint8Array;
  keys?: ArchiveKeys;
  archiveId?: Uint8Array;
  verify: boolean;
}

interface Pending {
  resolve(out: Uint8Array): void;
  reject(err: Error): void;
}

/** One Web Worker of the pool and its runs in flight. */
interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  tokens: Set<number>;
  /** Settles when the worker's module has loaded (it says so), or rejects when it cannot. */
  ready: Promise<void>;
}

let pool: PoolWorker[] | undefined;
/** Set when the workers cannot run here (no Worker, blocked script): decoding stays in the page's thread. */
let broken = false;
let nextId = 1;
let nextToken = 1;

/** Where the worker script is: beside the chunk this module is bundled in (`globalThis.HEXZ_WORKER_URL` overrides it). */
function workerUrl(): string {
  return (globalThis as { HEXZ_WORKER_URL?: string }).HEXZ_WORKER_URL ?? new URL('./decode-worker.js', import.meta.url).href;
}

function startPool(): PoolWorker[] | undefined {
  if (broken || typeof Worker === 'undefined') return undefined;
  if (pool) return pool;
  // As many as cores, 2 to 4: the page's thread mostly waits on the network. Measured on 2
  // cores (256 MiB sequential, Chromium): 155–186 MiB/s with 2 workers, 129–154 with 1.
  // `globalThis.HEXZ_DECODE_WORKERS` (set before the first long read) overrides it.
  const n = (globalThis as { HEXZ_DECODE_WORKERS?: number }).HEXZ_DECODE_WORKERS ?? Math.max(2, Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 2));
  try {
    pool = Array.from({ length: n }, () => {
      const worker = new Worker(workerUrl(), { type: 'module', name: 'hexz-decode' });
      let started!: () => void;
      let failed!: (err: Error) => void;
      const w: PoolWorker = { worker, pending: new Map(), tokens: new Set(), ready: new Promise<void>((ok, fail) => ((started = ok), (failed = fail))) };
      w.ready.catch(() => {});
      worker.onmessage = (ev: MessageEvent<{ ready?: true; id: number; out?: Uint8Array; error?: string; kind?: RunBlockError['kind']; block?: number }>) => {
        const d = ev.data;
        if (d.ready) return started();
        const p = w.pending.get(d.id);
        w.pending.delete(d.id);
        if (d.out) p?.resolve(d.out);
        else p?.reject(new RunBlockError(d.error ?? 'decode failed', d.kind ?? 'internal', d.block ?? -1));
      };
      // A worker that cannot load (a missing or blocked script) breaks the pool before any run
      // was sent to it: runs then decode in the page's thread. One failing later fails its runs.
      worker.onerror = (ev) => {
        ev.preventDefault?.();
        broken = true;
        failed(new Error(ev.message || 'decode worker could not start'));
        for (const p of w.pending.values()) p.reject(new RunBlockError(`decode worker failed: ${ev.message || 'it stopped'}`, 'internal', -1));
        w.pending.clear();
      };
      return w;
    });
  } catch {
    broken = true;
    return undefined;
  }
  return pool;
}

/**
 * A {@link RunDecoder} that decodes on the page's pool of Web Workers (2 to 4, one per core):
 * what pays for long sequential reads, where decoding and hashing on the page's thread would
 * leave it no time to fetch. The pool is started on first use and kept
 * for the page. Where Workers cannot run (no Worker, the script blocked or missing), runs
 * decode in the page's thread instead: slower, never wrong.
 * @param stores the archive's block stores (`Archive.blockStores()`), slot 0 first.
 */
export function workerRunDecoder(stores: (BlockStore | undefined)[]): RunDecoder {
  const inThread = inThreadRunDecoder(stores);
  const workers = startPool();
  if (!workers) return inThread;
  const token = nextToken++;
  const slots: (WorkerSlot | null)[] = stores.map((s) => s ? {
    dictionary: s.dictionary, verify: s.verify,
    ...(s.cipher ? { keys: s.cipher.keys, archiveId: s.cipher.archiveId } : {}),
  } : null);
  return {
    async decodeRun(request: RunRequest): Promise<Uint8Array> {
      const w = workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
      if (broken || !(await w.ready.then(() => true, () => false))) return inThread.decodeRun(request);
      if (!w.tokens.has(token)) {
        w.worker.postMessage({ type: 'setup', token, slots });
        w.tokens.add(token);
      }
      const id = nextId++;
      const { fields, hashes } = packRunBlocks(request.blocks);
      // The stored bytes move to the worker (the caller owns them and never reads them again).
      const stored = request.stored.byteOffset === 0 && request.stored.byteLength === request.stored.buffer.byteLength ? request.stored : request.stored.slice();
      return await new Promise<Uint8Array>((resolve, reject) => {
        w.pending.set(id, { resolve, reject });
        w.worker.postMessage({ type: 'run', id, token, stored, fields, hashes, length: request.length }, [stored.buffer as ArrayBuffer, fields.buffer, hashes.buffer]);
      });
    },
  };
}
