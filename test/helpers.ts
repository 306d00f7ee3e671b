/**
 * Shared helpers of the test suite: deterministic data, temporary directories, byte
 * comparison, and running the built CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Archive, pack, type PackOptions, type PackResult, type StreamName } from '../src/index.ts';

// ---------------------------------------------------------------------------------------------
// Deterministic data

/** xorshift32: small, fast and deterministic; never use Math.random in tests. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x9e3779b9;
  }

  /** Next unsigned 32-bit value. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.s = x;
    return x;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Fills `out` with pseudo-random bytes. */
  fill(out: Uint8Array): Uint8Array {
    const words = Math.floor(out.length / 4);
    if (out.byteOffset % 4 === 0 && words > 0) {
      const u32 = new Uint32Array(out.buffer, out.byteOffset, words);
      for (let i = 0; i < words; i++) u32[i] = this.next();
    } else {
      for (let i = 0; i < words * 4; i += 4) {
        const v = this.next();
        out[i] = v; out[i + 1] = v >>> 8; out[i + 2] = v >>> 16; out[i + 3] = v >>> 24;
      }
    }
    for (let i = words * 4; i < out.length; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** `n` pseudo-random (incompressible) bytes. */
export function randomData(n: number, seed = 1): Uint8Array {
  return new Rng(seed).fill(new Uint8Array(n));
}

const WORDS = ['disk', 'memory', 'block', 'sector', 'inode', 'page', 'kernel', 'zstd', 'hexz', 'snapshot', 'the', 'a', '\n'];

/** Fills `out` with compressible text-like bytes. */
function fillText(out: Uint8Array, rng: Rng): void {
  let at = 0;
  while (at < out.length) {
    const w = WORDS[rng.int(WORDS.length)];
    for (let k = 0; k < w.length && at < out.length; k++) out[at++] = w.charCodeAt(k);
    if (at < out.length) out[at++] = 0x20;
  }
}

/**
 * `size` bytes made of `unit`-sized pieces cycling through five kinds so that every kind is
 * present: random, compressible text, zeros, a copy of an earlier random/text piece (which
 * dedups when `unit` is the pack block size), and random-then-zeros (a block that is only
 * partly zero and so must be stored).
 */
export function mixedData(size: number, options: { unit?: number; seed?: number } = {}): Uint8Array {
  const unit = options.unit ?? 4096;
  const rng = new Rng(options.seed ?? 7);
  const out = new Uint8Array(size);
  const copyable: number[] = [];
  for (let i = 0, at = 0; at < size; i++, at += unit) {
    const n = Math.min(unit, size - at);
    const piece = out.subarray(at, at + n);
    switch (i % 5) {
      case 0:
        rng.fill(piece);
        copyable.push(at);
        break;
      case 1:
        fillText(piece, rng);
        copyable.push(at);
        break;
      case 2:
        break; // zeros
      case 3:
        if (copyable.length) {
          const from = copyable[rng.int(copyable.length)];
          piece.set(out.subarray(from, from + n));
        } else rng.fill(piece);
        break;
      case 4:
        rng.fill(piece.subarray(0, n >> 1));
        break;
    }
  }
  return out;
}

/** Splits `data` into chunks of odd, varying sizes (1, 7, 4095, 4097, 65537 bytes, ...). */
export function oddChunks(data: Uint8Array, seed = 3): Buffer[] {
  const sizes = [1, 7, 4095, 4097, 65537, 3, 12345, 100_003];
  const rng = new Rng(seed);
  const out: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const n = Math.min(sizes[rng.int(sizes.length)], data.length - at);
    out.push(Buffer.from(data.subarray(at, at + n))); // copies
    at += n;
  }
  return out;
}

/** A Node Readable that yields `data` in odd-sized chunks. */
export function readableOf(data: Uint8Array, seed = 3): Readable {
  return Readable.from(oddChunks(data, seed));
}

// ---------------------------------------------------------------------------------------------
// Files and directories

/** A fresh temporary directory and a function removing it. */
export function tempDir(prefix = 'hexz-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `data` to `path` and returns the path. */
export function writeData(path: string, data: Uint8Array): string {
  writeFileSync(path, data);
  return path;
}

/** Sorted names in `dir`. */
export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Packs with few workers (worker start-up dominates small packs). */
export function packSmall(options: PackOptions): Promise<PackResult> {
  return pack({ workers: 1, ...options });
}

/** The whole of `stream`, read through readAt. */
export async function readAll(a: Archive, stream: StreamName): Promise<Uint8Array> {
  return a.readAt(stream, 0, a.size(stream));
}

/** Concatenates what a Readable yields. */
export async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Assertions

/** Byte-exact equality with a short message naming the first difference (no huge diffs). */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (actual.length !== expected.length) {
    assert.fail(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(e)) return;
  let i = 0;
  while (a[i] === e[i]) i++;
  assert.fail(`${what}: first difference at byte ${i} (got ${a[i]}, expected ${e[i]})`);
}

/** True when every byte is zero. */
export function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// CLI

/** The built executable (npm test builds dist/ first). */
export const HEXZ_BIN = fileURLToPath(new URL('../bin/hexz.js', import.meta.url));

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Preload that makes a FileHandle the CLI never closed warn before it exits (see the file). */
const GC_BEFORE_EXIT = new URL('./setup/gc-before-exit.mjs', import.meta.url).href;

/**
 * Runs `node bin/hexz.js ...args` synchronously; `input` is piped to stdin. Fails when Node
 * printed a process warning (an unclosed FileHandle, a listener leak, a deprecation).
 */
export function runCli(args: string[], options: { input?: Uint8Array; cwd?: string; env?: Record<string, string | undefined> } = {}): CliResult {
  const env = { ...process.env, ...options.env };
  delete env.HEXZ_DEBUG;
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import ${GC_BEFORE_EXIT}`.trim();
  const spawnOptions: SpawnSyncOptions = {
    cwd: options.cwd, env, input: options.input, maxBuffer: 512 * 1024 * 1024, timeout: 60_000,
  };
  const r = spawnSync(process.execPath, [HEXZ_BIN, ...args], spawnOptions);
  if (r.error) throw r.error;
  const stderr = (r.stderr as Buffer).toString('utf8');
  assertNoNodeWarning(stderr, `hexz ${args.join(' ')}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout as Buffer, stderr };
}

/**
 * Node prints process warnings on stderr as `(node:PID) Warning: ...`, `(node:PID) [DEP0137]
 * DeprecationWarning: ...`, `MaxListenersExceededWarning: ...`. The CLI's own messages start
 * `hexz: ` (lower-case `warning:`), so any of these marks means a leak Node noticed in a CLI run
 * (test/setup/fail-on-warning.ts does the same for the test processes).
 */
export const NODE_WARNING = /\(node:\d+\)|[A-Za-z]*Warning: /;

/** Fails when `stderr` of a spawned `node` holds a Node process warning. */
export function assertNoNodeWarning(stderr: string, what: string): void {
  if (NODE_WARNING.test(stderr)) assert.fail(`${what}: Node printed a process warning on stderr:\n${stderr}`);
}

/** The documented error shape: exactly one line, starting `hexz: `, no stack trace. */
export function assertOneErrorLine(stderr: string, what: string): void {
  assert.ok(!stderr.includes('    at '), `${what}: stack trace on stderr:\n${stderr}`);
  assert.ok(stderr.endsWith('\n'), `${what}: stderr does not end with a newline: ${JSON.stringify(stderr)}`);
  const lines = stderr.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got ${lines.length}:\n${stderr}`);
  assert.ok(lines[0].startsWith('hexz: '), `${what}: stderr line does not start with 'hexz: ': ${lines[0]}`);
}

