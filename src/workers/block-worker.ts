/**
 * Worker-thread entry of the block pool: hashes and compresses blocks for packing, and decodes
 * and verifies blocks for extraction, and compresses qcow2 clusters for export
 * (codec/cluster-codec.ts). Imports only lower layers (codec, crypto, format, hash), never
 * pack/ or image/. Buffers are transferred both ways, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CodecSet } from '../codec/registry.js';
import { bytesEqual } from '../format/digest.js';
import { blake3 } from '../hash/blake3.js';
import { ClusterEncoder, encodeClusters } from '../codec/cluster-codec.js';
import { keyedBlake3 } from '../crypto/content-hash.js';
import { openSealed } from '../crypto/object-cipher.js';
import { KnownHashes } from '../hash/known-hashes.js';
import { compressBlocks, type CompressedBlocks, type CompressTools } from './compress-blocks.js';
import { blockAad } from '../format/seal-aad.js';
import { decodeRun, RunBlockError, unpackRunBlocks, type RunSlotTools } from '../archive/decode-run.js';
import type { BlockTask, BlockWorkerData, CheckDigestsResult, CheckDigestsTask, CompressBatchResult, CompressBatchTask, DecodeResult, DecodeRunTask, Qcow2CompressResult, TaskFailure, WorkerReady } from './block-task.js';

// The archive's zstd dictionary and keys arrive once, with the worker's creation data or in a
// setup message before the first task (not per task).
let data: BlockWorkerData = {};
let codecs: CodecSet;
let contentHash: (b: Uint8Array) => Uint8Array;
/** What compress and compress-batch tasks hash and compress with. */
let compressTools: CompressTools;
/** For decode-run tasks: how each archive of the chain opens, decodes and checks its blocks. */
let runSlots: RunSlotTools[] = [];
/** qcow2 cluster encoders by codec and level, created on first use. */
const clusterEncoders = new Map<string, ClusterEncoder>();

function configure(d: BlockWorkerData): void {
  data = d;
  codecs = new CodecSet(d.dictionary);
  const hash = d.hashKey ? keyedBlake3(d.hashKey) : blake3;
  contentHash = hash;
  const known = d.known ? new KnownHashes(d.known) : undefined;
  compressTools = { contentHash: (b) => hash(b), known, compress: (codec, b, level) => codecs.get(codec).compress(b, level) };
  runSlots = (d.slots ?? []).map((s) => {
    const digest = s.hashKey ? keyedBlake3(s.hashKey) : blake3;
    const { objectKey, archiveId } = s;
    return {
      codecs: new CodecSet(s.dictionary),
      digest: s.verify ? digest : undefined,
      open: objectKey && archiveId ? (sealed, b) => openSealed(objectKey, sealed, blockAad(archiveId, b.storedOffset, b.length, b.encoding, b.hash)) : undefined,
    };
  });
}
configure((workerData ?? {}) as BlockWorkerData);
// Loaded: the pool may now count on this thread answering at once (WorkerPool.ready).
parentPort!.postMessage({ id: -1, ready: true } satisfies WorkerReady);

parentPort!.on('message', (task: BlockTask) => {
  if (task.op === 'setup') {
    // A new pool's (or none, for a kept worker): nothing of the last one's blocks stays either.
    scratch = new Uint8Array(0);
    return configure(task.data);
  }
  if (task.op === 'compress') {
    try {
      const fields = new Float64Array(task.fields);
      const blocks: Uint8Array[] = [];
      for (let f = 0; f < fields.length; f += 3) blocks.push(new Uint8Array(task.buffers[fields[f]], fields[f + 2], fields[f + 1]));
      postCompressed(task.id, compressBlocks(blocks, task.codec, task.level, compressTools));
    } catch (err) {
      fail(task.id, 'internal', err);
    }
    return;
  }
  if (task.op === 'compress-batch') return void compressBatch(task);
  if (task.op === 'decode-run') return void runTask(task);
  if (task.op === 'check-digests') return checkDigests(task);
  if (task.op === 'qcow2-compress') {
    try {
      const key = `${task.codec}:${task.level}`;
      let enc = clusterEncoders.get(key);
      if (!enc) clusterEncoders.set(key, (enc = new ClusterEncoder(task.codec, task.level)));
      const { stored, lengths } = encodeClusters(enc, new Uint8Array(task.bytes), task.clusterSize);
      const result: Qcow2CompressResult = { id: task.id, stored: stored.buffer as ArrayBuffer, lengths: lengths.buffer as ArrayBuffer };
      parentPort!.postMessage(result, [result.stored, result.lengths]);
    } catch (err) {
      fail(task.id, 'internal', err);
    }
    return;
  }
  if (task.op !== 'decode') return fail((task as { id: number }).id, 'internal', `unknown task ${(task as { op: string }).op}`);
  let encoded: Uint8Array = new Uint8Array(task.bytes);
  if (task.aad) {
    if (!data.objectKey) return fail(task.id, 'internal', 'a sealed block was sent to a worker without the object key');
    try {
      encoded = openSealed(data.objectKey, encoded, new Uint8Array(task.aad));
    } catch (err) {
      return fail(task.id, 'auth', err);
    }
  }
  let block: Uint8Array;
  try {
    block = codecs.get(task.encoding).decompress(encoded, task.length);
  } catch (err) {
    return fail(task.id, 'decode', err);
  }
  if (task.hash && !bytesEqual(contentHash(block), new Uint8Array(task.hash))) return fail(task.id, 'hash', 'content hash mismatch');
  const own = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength ? block : block.slice();
  const decoded = own.buffer as ArrayBuffer;
  parentPort!.postMessage({ id: task.id, data: decoded } satisfies DecodeResult, [decoded]);
});

async function runTask(task: DecodeRunTask): Promise<void> {
  try {
    // Into the caller's shared memory when given; else not zero-filled (every byte of the output
    // is written), and its own ArrayBuffer (transferred).
    const blocks = unpackRunBlocks(new Float64Array(task.fields), new Uint8Array(task.hashes));
    const shared = task.out;
    const alloc = (n: number) => (shared ? new Uint8Array(shared, task.outOffset ?? 0, n) : Buffer.allocUnsafeSlow(n));
    const stored = new Uint8Array(task.bytes, task.bytesOffset ?? 0, task.bytesLength ?? task.bytes.byteLength - (task.bytesOffset ?? 0));
    const out = await decodeRun({ stored, blocks, length: task.length }, runSlots, alloc);
    const result: DecodeResult = { id: task.id, data: shared ? undefined : out.buffer as ArrayBuffer };
    parentPort!.postMessage(result, result.data ? [result.data] : []);
  } catch (err) {
    if (!(err instanceof RunBlockError)) return fail(task.id, 'internal', err);
    // Shared memory cannot be transferred: a prefix decoded into it goes back as a copy.
    const partial = err.partial?.buffer instanceof SharedArrayBuffer ? err.partial.slice() : err.partial;
    const failure: TaskFailure = { id: task.id, kind: err.kind, error: err.message, block: err.block, partial: partial?.buffer as ArrayBuffer | undefined, partialLength: partial?.length };
    parentPort!.postMessage(failure, failure.partial ? [failure.partial] : []);
  }
}

/** Answers a check-digests task: the first span whose leading checksum does not match the rest of it. */
function checkDigests(task: CheckDigestsTask): void {
  try {
    const bytes = new Uint8Array(task.bytes);
    const spans = new Float64Array(task.spans);
    let first = -1;
    for (let i = 0; i < spans.length / 2; i++) {
      const span = bytes.subarray(spans[2 * i], spans[2 * i + 1]);
      if (span.length < task.prefix || !bytesEqual(blake3(span.subarray(task.prefix)).subarray(0, task.prefix), span.subarray(0, task.prefix))) {
        first = i;
        break;
      }
    }
    parentPort!.postMessage({ id: task.id, first } satisfies CheckDigestsResult);
  } catch (err) {
    fail(task.id, 'internal', err);
  }
}

/** Laid-out bytes of compress-batch tasks: one buffer per worker, reused (never transferred). */
let scratch = new Uint8Array(0);
/** A task is using `scratch` (a decode awaiting a seal opening could let another task start). */
let scratchBusy = false;

/** Lays out a batch (base blocks decoded and checked, patches over them), then hashes and compresses each block. */
async function compressBatch(task: CompressBatchTask): Promise<void> {
  let mine = false;
  const alloc = (n: number) => {
    if (scratchBusy) return new Uint8Array(n);
    scratchBusy = mine = true;
    if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
    return scratch.subarray(0, n);
  };
  try {
    let input: Uint8Array;
    try {
      const blocks = unpackRunBlocks(new Float64Array(task.fields), new Uint8Array(task.hashes));
      input = await decodeRun({ stored: new Uint8Array(task.bytes), blocks, length: task.length }, runSlots, alloc);
    } catch (err) {
      if (!(err instanceof RunBlockError)) return fail(task.id, 'internal', err);
      const failure: TaskFailure = { id: task.id, kind: err.kind, error: err.message, block: err.block };
      return void parentPort!.postMessage(failure);
    }
    const pf = new Float64Array(task.patchFields);
    const pb = new Uint8Array(task.patches);
    for (let f = 0; f < pf.length; f += 3) {
      const to = pf[f];
      const length = pf[f + 1];
      const at = pf[f + 2];
      if (at < 0) input.fill(0, to, to + length);
      else input.set(pb.subarray(at, at + length), to);
    }
    const lengths = new Uint32Array(task.lengths);
    const blocks: Uint8Array[] = [];
    for (let i = 0, at = 0; i < lengths.length; at += lengths[i], i++) blocks.push(input.subarray(at, at + lengths[i]));
    // Laid out in the reused scratch buffer: compressBlocks copies raw blocks out of it.
    postCompressed(task.id, compressBlocks(blocks, task.codec, task.level, { ...compressTools, allZero }));
  } catch (err) {
    fail(task.id, 'internal', err);
  } finally {
    if (mine) scratchBusy = false;
  }
}

/** Sends a compress or compress-batch task's result, its buffers transferred. */
function postCompressed(id: number, r: CompressedBlocks): void {
  const result: CompressBatchResult = {
    id, hashes: r.hashes.buffer, storedLengths: r.storedLengths.buffer, encodings: r.encodings.buffer, flags: r.flags.buffer, stored: r.stored.buffer,
  };
  parentPort!.postMessage(result, [result.hashes, result.storedLengths, result.encodings, result.flags, result.stored]);
}

/** True when every byte is zero (a native compare against a zero buffer, a page at a time). */
function allZero(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; at < b.length; at += ZERO_PAGE.length) {
    const n = Math.min(ZERO_PAGE.length, b.length - at);
    if (!b.subarray(at, at + n).equals(ZERO_PAGE.subarray(0, n))) return false;
  }
  return true;
}
const ZERO_PAGE = Buffer.alloc(64 << 10);

function fail(id: number, kind: TaskFailure['kind'], err: unknown): void {
  const failure: TaskFailure = { id, kind, error: String((err as Error)?.message ?? err) };
  parentPort!.postMessage(failure);
}
