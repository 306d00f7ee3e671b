import type { CodecId } from '../format/constants.js';

/**
 * Blocks sent to a worker to be hashed and compressed, in one message: several blocks per message
 * (a megabyte of input, typically the blocks of one read) cost the two threads a fraction of
 * one message per 64 KiB block. `buffers` are transferred; block i is `fields[3i+1]` bytes long
 * at offset `fields[3i+2]` of `buffers[fields[3i]]`.
 */
export interface CompressTask {
  op: 'compress';
  id: number;
  buffers: ArrayBuffer[];
  /** A Float64Array's buffer: (buffer index, length, offset) per block. */
  fields: ArrayBuffer;
  codec: CodecId;
  level: number;
}

/** Stored bytes sent to a worker to be decoded and (optionally) checked against `hash`. */
export interface DecodeTask {
  op: 'decode';
  id: number;
  bytes: ArrayBuffer;
  encoding: CodecId;
  /** Logical length the block must decode to. */
  length: number;
  /** Expected content hash, or undefined to skip verification. */
  hash?: ArrayBuffer;
  /** Associated data of the block's seal (encrypted archives, §12.3): open it before decoding. */
  aad?: ArrayBuffer;
}

/** Whole qcow2 clusters sent to a worker to be zero-checked and compressed. `bytes` is transferred. */
export interface Qcow2CompressTask {
  op: 'qcow2-compress';
  id: number;
  /** A multiple of `clusterSize` bytes. */
  bytes: ArrayBuffer;
  clusterSize: number;
  codec: 'zlib' | 'zstd';
  level: number;
}

/**
 * A run of stored blocks sent to a worker to be decoded into one buffer of logical bytes
 * (archive/decode-run.ts); each block names the slot of the archive holding it, whose keys and
 * dictionary the worker received at start ({@link BlockWorkerData.slots}). `bytes` is transferred,
 * or shared when it is shared memory.
 */
export interface DecodeRunTask {
  op: 'decode-run';
  id: number;
  /**
   * The stored bytes of the run's blocks, back to back: all of an ArrayBuffer, or `bytesLength`
   * bytes at `bytesOffset` of shared memory (a server's recycled buffer, read in place and not
   * kept after the result is posted).
   */
  bytes: ArrayBuffer | SharedArrayBuffer;
  bytesOffset?: number;
  bytesLength?: number;
  /** The blocks, as packRunBlocks packs them: a Float64Array's and a Uint8Array's buffers. */
  fields: ArrayBuffer;
  hashes: ArrayBuffer;
  /** Logical length of the output. */
  length: number;
  /**
   * Shared memory to decode into, at `outOffset` (at least `length` bytes), instead of a buffer
   * of the worker's own transferred back: a reader that recycles its output buffers spares both
   * threads an allocation per run and the main thread the garbage collections that large
   * transferred buffers cause. The result then carries no data.
   */
  out?: SharedArrayBuffer;
  outOffset?: number;
}

/**
 * Blocks to make and then hash and compress each, in one message (a commit's re-cut blocks:
 * the sender's thread is what limits small blocks, so fewer messages). The worker lays out
 * `length` bytes: the stored base blocks of `fields`/`hashes` (as a decode-run task's, checked
 * the same way; bytes no block covers are zero), then the patches over them, and cuts the result
 * into blocks of `lengths`. Per block: all-zero ones are only flagged; the others are hashed and
 * compressed (or flagged known). Buffers are transferred.
 */
export interface CompressBatchTask {
  op: 'compress-batch';
  id: number;
  /** The stored bytes of the base blocks, back to back (may be empty). */
  bytes: ArrayBuffer;
  /** The base blocks, as packRunBlocks packs them (may be empty). */
  fields: ArrayBuffer;
  hashes: ArrayBuffer;
  /** Bytes laid over the base: a Float64Array's buffer of (to, length, at) per patch, `at` into `patches` or -1 for zeros. */
  patchFields: ArrayBuffer;
  patches: ArrayBuffer;
  /** Logical bytes laid out (Σ lengths). */
  length: number;
  /** A Uint32Array's buffer: the length of each block, in order. */
  lengths: ArrayBuffer;
  codec: CodecId;
  level: number;
}

/**
 * Spans of `bytes` that each start with a checksum of the rest of them: the first `prefix` bytes
 * of the span are the first `prefix` bytes of plain BLAKE3-256 of its bytes after the prefix (an
 * overlay's records, docs/FORMAT.md §O.3). Checked off the sender's thread, where a commit reads
 * thousands of records. `bytes` is transferred.
 */
export interface CheckDigestsTask {
  op: 'check-digests';
  id: number;
  bytes: ArrayBuffer;
  /** A Float64Array's buffer: (start, end) per span, offsets into `bytes`. */
  spans: ArrayBuffer;
  /** Checksum bytes at the start of each span, 1..32. */
  prefix: number;
}

/** What a worker returns for a check-digests task: the index of the first span that does not match, or −1. */
export interface CheckDigestsResult {
  id: number;
  first: number;
}

/**
 * Replaces the worker's creation data (dictionary, keys, known hashes, slots): lets a pool start
 * its threads before the archive they work for is open (WorkerPool.configure). Sent before any
 * other task; no reply.
 */
export interface SetupTask {
  op: 'setup';
  id: number;
  data: BlockWorkerData;
}

export type BlockTask = CompressTask | DecodeTask | Qcow2CompressTask | DecodeRunTask | CompressBatchTask | CheckDigestsTask | SetupTask;

/** One block of a compress task's result, as {@link WorkerPool.compress} returns it (views of the task's buffers). */
export interface CompressResult {
  /** Content hash of the block (32 bytes): BLAKE3-256, keyed in encrypted archives. */
  hash: Uint8Array;
  /** The bytes to store: compressed, or the input itself when compression did not shrink it; empty when known. */
  stored: Uint8Array;
  /** Codec of `stored` (0 = raw). */
  encoding: CodecId;
  /** The hash is in the pool's known set: nothing was compressed and `stored` is empty. */
  known: boolean;
}

/**
 * What a worker returns for a compress or compress-batch task, per block in order, in a few flat
 * buffers (a buffer per block and hash cost the receiving thread more than their bytes): its hash
 * (32 bytes each, back to back), stored length and codec (0 = raw), and a flag; `stored` holds the
 * stored bytes back to back. A failing base block of a compress-batch task fails it as a
 * decode-run task's would (`block`). Buffers are transferred.
 */
export interface CompressBatchResult {
  id: number;
  hashes: ArrayBuffer;
  /** A Uint32Array's buffer. */
  storedLengths: ArrayBuffer;
  /** Uint8Array buffers: codec, and a flag per block: 1 known, 2 all zero (neither is compressed). */
  encodings: ArrayBuffer;
  flags: ArrayBuffer;
  stored: ArrayBuffer;
}

/** What a worker returns for a qcow2-compress task (see EncodedClusters in codec/cluster-codec.ts). */
export interface Qcow2CompressResult {
  id: number;
  /** Stored bytes of the non-zero clusters, back to back. */
  stored: ArrayBuffer;
  /** Per cluster: 0 all zero, clusterSize stored raw, else the compressed length. */
  lengths: ArrayBuffer;
}

/** What a worker returns for a decode task. */
export interface DecodeResult {
  id: number;
  /** The decoded bytes; absent when the task decoded into shared memory it was given. */
  data?: ArrayBuffer;
}

/** Posted once by a worker when its modules have loaded and it takes tasks (id -1: no task's). */
export interface WorkerReady {
  id: -1;
  ready: true;
}

/** A failed task: `kind` says whether the seal failed, decoding failed or the content hash did not match. */
export interface TaskFailure {
  id: number;
  error: string;
  kind: 'auth' | 'decode' | 'hash' | 'internal';
  /** For a decode-run task: the index of the block that failed, and the output before it (`partialLength` bytes of `partial`). */
  block?: number;
  partial?: ArrayBuffer;
  partialLength?: number;
}

/** What a worker needs to open, decode and check the blocks of one archive of a thin chain (decode-run tasks). */
export interface RunSlotData {
  /** The archive's zstd dictionary. */
  dictionary?: Uint8Array;
  /** Encrypted archives: the keyed-hash key, the object key and the archive id its seals are bound to (§12.3). */
  hashKey?: Uint8Array;
  objectKey?: Uint8Array;
  archiveId?: Uint8Array;
  /** Check each block's content hash. */
  verify: boolean;
}

/** What every worker receives once, at start. */
export interface BlockWorkerData {
  /** The archive's zstd dictionary, for every zstd compress and decode task. */
  dictionary?: Uint8Array;
  /** Encrypted archives (§12.1): the keyed-hash key, and the object key that opens sealed blocks. */
  hashKey?: Uint8Array;
  objectKey?: Uint8Array;
  /**
   * Content hashes the packer will store as references (a KnownHashes buffer): compress tasks
   * whose block hashes into it are not compressed (the result has `known` set).
   */
  known?: SharedArrayBuffer;
  /** For decode-run tasks: each slot's archive (0 the one read, k its parent k, §15.3). */
  slots?: RunSlotData[];
}
