/**
 * The NBD server with real clients (qemu-img, qemu-io, nbdinfo, nbdcopy, python libnbd) and
 * with raw sockets playing bad clients. Every server listens on 127.0.0.1 port 0 (or a Unix
 * socket in a temp dir) and is closed by its test. Clients run as child processes without
 * blocking the event loop: the server runs in this process.
 *
 * A missing client program skips its tests with a message; with CI=true it is a failure.
 */
import { memoryExport } from './memory-export.ts';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorruptArchiveError, UsageError } from '../src/errors.ts';
import { Archive } from '../src/node/archive.ts';
import type { ServeExport } from '../src/serve/serve-export.ts';
import { archiveExports } from '../src/serve/archive-exports.ts';
import { startRunDecoderPool } from '../src/node/run-decoder-pool.ts';
import { startNbdServer, type NbdServer, type NbdServerOptions } from '../src/serve/nbd/nbd-server.ts';
import type { NbdLogEntry } from '../src/serve/nbd/nbd-connection.ts';
import { Rng, assertBytes, packSmall, tempDir, writeData } from './helpers.ts';

// ---------------------------------------------------------------------------------------------
// Client programs

const CI = process.env.CI === 'true';
const runs = (cmd: string, args: string[]) => spawnSync(cmd, args).status === 0;
const PYTHON = ['python3', '/usr/bin/python3'].find((p) => runs(p, ['-c', 'import nbd']));

/**
 * The `skip` option for tests needing `what`: false when it is available, else a reason. With
 * CI=true a missing program is not skipped quietly: a failing test says which one is missing.
 */
function requireTool(what: string, available: boolean, hint: string): string | false {
  if (available) return false;
  if (CI) test(`${what} is installed (required in CI)`, () => assert.fail(`${what} is missing: ${hint}`));
  const reason = `${what} not installed (${hint})`;
  console.log(`# ${reason}: tests skipped`);
  return reason;
}
const noQemu = requireTool('qemu-img/qemu-io', runs('qemu-img', ['--version']) && runs('qemu-io', ['--version']), 'Debian package qemu-utils');
const noNbdinfo = requireTool('nbdinfo/nbdcopy', runs('nbdinfo', ['--version']) && runs('nbdcopy', ['--version']), 'Debian package libnbd-bin');
const noPython = requireTool('python3 with libnbd', PYTHON !== undefined, 'Debian package python3-libnbd');

/** Runs a program without blocking the event loop; fails the test with its stderr unless `allowFail`. */
function run(cmd: string, args: string[], options: { allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      if (code !== 0 && !options.allowFail) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a python libnbd script; it prints one JSON value. */
async function python(script: string, ...args: string[]): Promise<any> {
  const { stdout } = await run(PYTHON!, ['-c', script, ...args]);
  return JSON.parse(stdout);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// Data: 64 KiB blocks of constant bytes (qemu-io -P can check them), zero blocks and random
// blocks, and a last block of 12 KiB.

const BS = 65536;
const SIZE = 64 * BS + 3 * 4096;
/** The byte block `i` is filled with, 0 for zero blocks, -1 for random ones. */
const blockByte = (i: number) => (i % 8 === 3 || i % 8 === 4 ? 0 : i % 8 === 5 ? -1 : 1 + ((i * 37) % 250));

function makeDisk(): Uint8Array {
  const raw = new Uint8Array(SIZE);
  const rng = new Rng(11);
  for (let i = 0; i * BS < SIZE; i++) {
    const piece = raw.subarray(i * BS, Math.min(SIZE, (i + 1) * BS));
    const b = blockByte(i);
    if (b < 0) rng.fill(piece);
    else piece.fill(b);
  }
  return raw;
}

/** The zero and data runs of `raw` at block granularity, as nbdinfo --map prints them. */
function expectedMap(raw: Uint8Array): string[] {
  const runs: { offset: number; length: number; zero: boolean }[] = [];
  for (let at = 0; at < raw.length; at += BS) {
    const end = Math.min(raw.length, at + BS);
    const zero = raw.subarray(at, end).every((x) => x === 0);
    const last = runs[runs.length - 1];
    if (last && last.zero === zero) last.length += end - at;
    else runs.push({ offset: at, length: end - at, zero });
  }
  return runs.map((r) => `${r.offset} ${r.length} ${r.zero ? 3 : 0}`);
}

// ---------------------------------------------------------------------------------------------
// Exports made in tests

/** Starts a server on 127.0.0.1:0 (or `socketPath`), runs `fn`, closes the server. */
async function withServer(exports: ServeExport[], fn: (server: NbdServer, logs: NbdLogEntry[]) => Promise<void>, options: Partial<NbdServerOptions> = {}): Promise<void> {
  const logs: NbdLogEntry[] = [];
  const server = await startNbdServer({ host: '127.0.0.1', port: 0, ...options, exports, log: (_line, entry) => logs.push(entry) });
  try {
    await fn(server, logs);
  } finally {
    await server.close();
  }
  assert.equal(server.connectionCount, 0, 'every connection ended');
}

const portOf = (s: NbdServer) => ('port' in s.address ? s.address.port : assert.fail('not TCP'));
const uri = (s: NbdServer, name: string) => `nbd://127.0.0.1:${portOf(s)}/${name}`;

// ---------------------------------------------------------------------------------------------
// A raw NBD client over node:net, written from doc/proto.md independently of the server code.

const NBD_CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6, BLOCK_STATUS: 7 };

class RawClient {
  readonly closed: Promise<void>;
  isClosed = false;
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => { this.chunks.push(c); this.have += c.length; this.waiter?.(); });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => { this.isClosed = true; this.waiter?.(); resolve(); }));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(...parts: Uint8Array[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** Exactly `n` bytes; rejects if the connection closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.have < n) {
      if (this.isClosed) throw new Error(`connection closed with ${this.have} of ${n} bytes`);
      await new Promise<void>((resolve) => { this.waiter = resolve; });
      this.waiter = null;
    }
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.have -= n;
    return all.subarray(0, n);
  }

  /** Resolves when the server closes the connection, fails after `ms`. */
  async closesWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms); })]);
    clearTimeout(timer);
  }

  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    assert.equal(h.readBigUInt64BE(0), 0x3e889045565a9n);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(h.readUInt32BE(16)) };
  }

  sendOption(option: number, data: Uint8Array = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.write('IHAVEOPT', 0, 'latin1');
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(h, data);
  }

  /**
   * Greeting and client flags, then either NBD_OPT_EXPORT_NAME (`old`) or structured replies,
   * base:allocation and NBD_OPT_GO as asked. Returns the export size and transmission flags.
   */
  async handshake(o: { name?: string; structured?: boolean; meta?: boolean; old?: boolean; noZeroes?: boolean } = {}): Promise<{ size: number; flags: number }> {
    const g = await this.read(18);
    assert.equal(g.subarray(0, 16).toString('latin1'), 'NBDMAGICIHAVEOPT');
    assert.equal(g.readUInt16BE(16), 3);
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(1 | (o.noZeroes ? 2 : 0));
    this.write(flags);
    const name = Buffer.from(o.name ?? 'disk');
    if (o.old) {
      this.sendOption(1, name);
      const r = await this.read(o.noZeroes ? 10 : 134);
      return { size: Number(r.readBigUInt64BE(0)), flags: r.readUInt16BE(8) };
    }
    if (o.structured) {
      this.sendOption(8);
      assert.equal((await this.optionReply()).type, 1);
    }
    if (o.meta) {
      const q = Buffer.from('base:allocation');
      const d = Buffer.alloc(4 + name.length + 4 + 4 + q.length);
      d.writeUInt32BE(name.length, 0); name.copy(d, 4); d.writeUInt32BE(1, 4 + name.length);
      d.writeUInt32BE(q.length, 8 + name.length); q.copy(d, 12 + name.length);
      this.sendOption(10, d);
      assert.equal((await this.optionReply()).type, 4);
      assert.equal((await this.optionReply()).type, 1);
    }
    const go = Buffer.alloc(4 + name.length + 2);
    go.writeUInt32BE(name.length, 0);
    name.copy(go, 4);
    this.sendOption(7, go);
    let info: { size: number; flags: number } | undefined;
    for (;;) {
      const r = await this.optionReply();
      if (r.type === 1) break;
      assert.equal(r.type, 3, `GO answered 0x${r.type.toString(16)}: ${r.data.toString()}`);
      if (r.data.readUInt16BE(0) === 0) info = { size: Number(r.data.readBigUInt64BE(2)), flags: r.data.readUInt16BE(10) };
    }
    return info ?? assert.fail('no NBD_INFO_EXPORT');
  }

  request(type: number, offset: number, length: number, o: { cookie?: bigint; flags?: number; payload?: Uint8Array } = {}): void {
    const b = Buffer.alloc(28);
    b.writeUInt32BE(0x25609513, 0);
    b.writeUInt16BE(o.flags ?? 0, 4);
    b.writeUInt16BE(type, 6);
    b.writeBigUInt64BE(o.cookie ?? 1n, 8);
    b.writeBigUInt64BE(BigInt(offset), 16);
    b.writeUInt32BE(length, 24);
    this.write(b, o.payload ?? Buffer.alloc(0));
  }

  /** A simple reply; `dataLength` bytes follow it when it succeeded. */
  async simpleReply(dataLength = 0): Promise<{ error: number; cookie: bigint; data: Buffer }> {
    const h = await this.read(16);
    assert.equal(h.readUInt32BE(0), 0x67446698, 'simple reply magic');
    const error = h.readUInt32BE(4);
    return { error, cookie: h.readBigUInt64BE(8), data: error ? Buffer.alloc(0) : await this.read(dataLength) };
  }

  /** A whole structured reply (chunks up to DONE), for one cookie. */
  async structuredReply(): Promise<{ cookie: bigint; chunks: { type: number; payload: Buffer }[] }> {
    const chunks = [];
    let cookie = -1n;
    for (;;) {
      const h = await this.read(20);
      assert.equal(h.readUInt32BE(0), 0x668e33ef, 'structured reply magic');
      cookie = h.readBigUInt64BE(8);
      chunks.push({ type: h.readUInt16BE(6), payload: await this.read(h.readUInt32BE(16)) });
      if (h.readUInt16BE(4) & 1) return { cookie, chunks };
    }
  }

  /** Reassembles a structured read reply of [offset, offset + length), checking coverage. */
  static assemble(offset: number, length: number, chunks: { type: number; payload: Buffer }[]): Buffer {
    const out = Buffer.alloc(length);
    let covered = 0;
    for (const c of chunks) {
      if (c.type === 1) {
        const at = Number(c.payload.readBigUInt64BE(0)) - offset;
        c.payload.copy(out, at, 8);
        covered += c.payload.length - 8;
      } else if (c.type === 2) covered += c.payload.readUInt32BE(8);
      else if (c.type !== 0) assert.fail(`chunk type 0x${c.type.toString(16)} (error ${c.payload.readUInt32BE(0)})`);
    }
    assert.equal(covered, length, 'the chunks cover the request');
    return out;
  }
}

// ---------------------------------------------------------------------------------------------

describe('NBD server', { timeout: 120_000 }, () => {
  const tmp = tempDir('hexz-nbd-');
  const p = tmp.path;
  const raw = makeDisk();
  const memory = new Rng(3).fill(new Uint8Array(1 << 20));
  memory.fill(0, 256 << 10, 768 << 10);
  let a: Archive;
  let b: Archive;
  /** One archive: the export `disk`. */
  let single: ServeExport[];
  /** Two archives: `a/disk`, `b/disk`, `b/memory`. */
  let several: ServeExport[];

  before(async () => {
    writeData(p('disk.raw'), raw);
    writeData(p('memory.raw'), memory);
    await packSmall({ disk: p('disk.raw'), output: p('a.hxz'), blockSize: BS });
    await packSmall({ disk: p('disk.raw'), memory: p('memory.raw'), output: p('b.hxz'), blockSize: BS });
    a = await Archive.open(p('a.hxz'));
    b = await Archive.open(p('b.hxz'));
    single = archiveExports([{ name: 'a', archive: a }]);
    several = archiveExports([{ name: 'a', archive: a }, { name: 'b', archive: b }]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    tmp.cleanup();
  });

  test('qemu-img convert of the export equals the source', { skip: noQemu }, async () => {
    await withServer(single, async (s) => {
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(s, 'disk'), p('qemu.raw')]);
      assertBytes(readFileSync(p('qemu.raw')), raw, 'qemu-img convert');
    });
  });

  test('nbdcopy with 4 connections equals the source', { skip: noNbdinfo }, async () => {
    await withServer(single, async (s) => {
      await run('nbdcopy', ['--connections=4', uri(s, 'disk'), p('nbdcopy.raw')]);
      assertBytes(readFileSync(p('nbdcopy.raw')), raw, 'nbdcopy');
    });
  });

  test('nbdinfo --map shows the zero blocks as hole,zero', { skip: noNbdinfo }, async () => {
    await withServer(single, async (s) => {
      const { stdout } = await run('nbdinfo', ['--map', uri(s, 'disk')]);
      const lines = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
      assert.deepEqual(lines.map((f) => f.slice(0, 3).join(' ')), expectedMap(raw));
      for (const f of lines) assert.equal(f[3], f[2] === '3' ? 'hole,zero' : 'data');
      assert.ok(lines.some((f) => f[2] === '3'), 'the image has holes');
    });
  });

  test('nbdinfo --list shows every export with its description; --json the details', { skip: noNbdinfo }, async () => {
    await withServer(several, async (s) => {
      const list = (await run('nbdinfo', ['--list', uri(s, '')])).stdout;
      for (const name of ['a/disk', 'b/disk', 'b/memory']) assert.match(list, new RegExp(`export="${name}":`));
      assert.match(list, /description: memory stream of .*b\.hxz/);
      const info = JSON.parse((await run('nbdinfo', ['--json', uri(s, 'b/memory')])).stdout);
      const e = info.exports[0];
      assert.equal(info.structured, true);
      assert.equal(e['export-name'], 'b/memory');
      assert.equal(e['export-size'], memory.length);
      assert.match(e.description, /memory stream of .*b\.hxz/);
      assert.deepEqual(e.contexts, ['base:allocation']);
      assert.equal(e.is_read_only, true);
      assert.equal(e.can_multi_conn, true);
      assert.equal(e.can_flush, false);
      assert.equal(e.can_df, true);
      assert.deepEqual([e.block_size_minimum, e.block_size_preferred, e.block_size_maximum], [1, BS, 32 << 20]);
    });
  });

  test('qemu-io random reads see the right bytes', { skip: noQemu }, async () => {
    await withServer(single, async (s) => {
      const rng = new Rng(9);
      const commands: string[] = [];
      for (let k = 0; k < 24; k++) {
        let i: number;
        do i = rng.int(64); while (blockByte(i) < 0);
        const off = i * BS + rng.int(BS / 512) * 512;
        const len = Math.min((i + 1) * BS - off, 512 * rng.range(1, 64));
        commands.push('-c', `read -P ${blockByte(i)} ${off} ${len}`);
      }
      commands.push('-c', `read -P ${blockByte(64)} ${64 * BS} ${3 * 4096}`); // the short last block
      commands.push('-c', `read -P 0 ${3 * BS} ${2 * BS}`); // two zero blocks: answered with a hole chunk
      const { stdout } = await run('qemu-io', ['-r', '-f', 'raw', uri(s, 'disk'), ...commands]);
      assert.doesNotMatch(stdout, /Pattern verification failed|failed/);
      assert.equal(stdout.match(/^read \d+\/\d+ bytes/gm)?.length, 26);
    });
  });

  test('libnbd without structured replies: simple replies, read-only, multi-conn; past the end is EINVAL and the connection stays', { skip: noPython }, async () => {
    await withServer(single, async (s) => {
      const script = `
import nbd, sys, json, hashlib
h = nbd.NBD()
h.set_request_structured_replies(False)
h.connect_uri(sys.argv[1])
out = {'structured': h.get_structured_replies_negotiated(), 'multi': h.can_multi_conn(), 'ro': h.is_read_only(), 'size': h.get_size(), 'reads': []}
for off, n in [(0, 4096), (3 * 65536 - 100, 300), (0, 1 << 20), (${SIZE - 10}, 10)]:
    out['reads'].append(hashlib.sha256(h.pread(n, off)).hexdigest())
h.set_strict_mode(0)
try:
    h.pread(20, ${SIZE - 10})
    out['past_end'] = 'ok'
except nbd.Error as e:
    out['past_end'] = e.errnum
out['after'] = hashlib.sha256(h.pread(4096, 65536)).hexdigest()
h.shutdown()
print(json.dumps(out))
`;
      const out = await python(script, uri(s, 'disk'));
      assert.equal(out.structured, false);
      assert.equal(out.multi, true);
      assert.equal(out.ro, true);
      assert.equal(out.size, SIZE);
      assert.deepEqual(out.reads, [[0, 4096], [3 * BS - 100, 300], [0, 1 << 20], [SIZE - 10, 10]].map(([o, n]) => sha(raw.subarray(o, o + n))));
      assert.equal(out.past_end, 22, 'EINVAL');
      assert.equal(out.after, sha(raw.subarray(BS, BS + 4096)));
    });
  });

  test('several archives: NAME/stream exports, the empty name is the first, unknown names fail', { skip: noPython }, async () => {
    await withServer(several, async (s) => {
      const script = `
import nbd, sys, json, hashlib
out = {}
for name in sys.argv[2:]:
    h = nbd.NBD()
    try:
        h.connect_uri(sys.argv[1] + name)
        out[name] = [h.get_size(), hashlib.sha256(h.pread(h.get_size(), 0)).hexdigest()]
        h.shutdown()
    except nbd.Error as e:
        out[name] = 'error'
print(json.dumps(out))
`;
      const out = await python(script, uri(s, ''), 'a/disk', 'b/disk', 'b/memory', '', 'c/disk', 'disk');
      assert.deepEqual(out['a/disk'], [SIZE, sha(raw)]);
      assert.deepEqual(out['b/disk'], [SIZE, sha(raw)]);
      assert.deepEqual(out['b/memory'], [memory.length, sha(memory)]);
      assert.deepEqual(out[''], [SIZE, sha(raw)], 'default export');
      assert.equal(out['c/disk'], 'error');
      assert.equal(out.disk, 'error', 'with several archives the names are prefixed');
      assert.deepEqual(s.urls(), ['a/disk', 'b/disk', 'b/memory'].map((n) => uri(s, n)));
    });
  });

  test('old clients: NBD_OPT_EXPORT_NAME with and without the 124 zero bytes, simple replies', async () => {
    await withServer(single, async (s) => {
      for (const noZeroes of [true, false]) {
        const c = await RawClient.connect(portOf(s));
        const { size, flags } = await c.handshake({ old: true, noZeroes });
        assert.equal(size, SIZE);
        assert.equal(flags & 0b11, 0b11, 'HAS_FLAGS | READ_ONLY');
        assert.equal(flags & (1 << 7), 0, 'no DF without structured replies');
        c.request(NBD_CMD.READ, 5 * BS - 7, 4096, { cookie: 0xabcdefn });
        const r = await c.simpleReply(4096);
        assert.equal(r.error, 0);
        assert.equal(r.cookie, 0xabcdefn);
        assertBytes(r.data, raw.subarray(5 * BS - 7, 6 * BS - 7 - (BS - 4096)));
        c.request(NBD_CMD.DISC, 0, 0);
        await c.closesWithin(2000);
      }
      // An unknown name cannot be answered with an error: the server disconnects.
      const bad = await RawClient.connect(portOf(s));
      await assert.rejects(bad.handshake({ old: true, name: 'nope' }), /connection closed/);
    });
  });

  test('structured replies: holes as hole chunks, block status with REQ_ONE, several requests in flight answered by cookie', async () => {
    await withServer(single, async (s) => {
      const c = await RawClient.connect(portOf(s));
      const { flags } = await c.handshake({ structured: true, meta: true });
      assert.ok(flags & (1 << 7), 'DF offered');
      // Blocks 3 and 4 are zero: a read over 2..5 has a hole chunk in the middle.
      const reads = [[2 * BS, 4 * BS], [0, 1 << 20], [SIZE - 5000, 5000], [BS + 1, 3]];
      reads.forEach(([o, n], k) => c.request(NBD_CMD.READ, o, n, { cookie: BigInt(k + 1) }));
      c.request(NBD_CMD.BLOCK_STATUS, 3 * BS + 100, 10 * BS, { cookie: 100n, flags: 1 << 3 });
      c.request(NBD_CMD.BLOCK_STATUS, 0, SIZE, { cookie: 101n });
      const replies = new Map<bigint, { type: number; payload: Buffer }[]>();
      for (let k = 0; k < reads.length + 2; k++) {
        const r = await c.structuredReply();
        replies.set(r.cookie, r.chunks);
      }
      reads.forEach(([o, n], k) => assertBytes(RawClient.assemble(o, n, replies.get(BigInt(k + 1))!), raw.subarray(o, o + n), `read ${k}`));
      assert.deepEqual(replies.get(1n)!.map((ch) => ch.type), [1, 2, 1], 'data, hole, data');
      const one = replies.get(100n)![0].payload;
      assert.deepEqual([one.length, one.readUInt32BE(4), one.readUInt32BE(8)], [12, 2 * BS - 100, 3], 'one extent: the rest of the hole');
      const all = replies.get(101n)![0].payload;
      const descs = [];
      for (let at = 4, off = 0; at < all.length; at += 8) {
        descs.push(`${off} ${all.readUInt32BE(at)} ${all.readUInt32BE(at + 4)}`);
        off += all.readUInt32BE(at);
      }
      assert.deepEqual(descs, expectedMap(raw));
      // DF: one data chunk, zeros included.
      c.request(NBD_CMD.READ, 2 * BS, 4 * BS, { cookie: 7n, flags: 1 << 2 });
      const df = await c.structuredReply();
      assert.deepEqual(df.chunks.map((ch) => ch.type), [1]);
      assertBytes(RawClient.assemble(2 * BS, 4 * BS, df.chunks), raw.subarray(2 * BS, 6 * BS));
      c.request(NBD_CMD.DISC, 0, 0);
      await c.closesWithin(2000);
    });
  });

  test('writable export: libnbd write, flush, trim, zero; qemu-io write -P and flush; read back', { skip: noPython || noQemu }, async () => {
    const bytes = new Uint8Array(1 << 20).fill(0x11);
    const exp = memoryExport('rw', bytes, { writable: true, blockSize: 4096 });
    await withServer([exp], async (s) => {
      const script = `
import nbd, sys, json
h = nbd.NBD()
h.connect_uri(sys.argv[1])
out = {'ro': h.is_read_only(), 'multi': h.can_multi_conn(), 'flush': h.can_flush(), 'trim': h.can_trim(), 'zero': h.can_zero(), 'fua': h.can_fua()}
h.pwrite(b'\\x42' * 8192, 4096)
h.pwrite(b'\\x43' * 100, 70000, nbd.CMD_FLAG_FUA)
h.flush()
h.trim(131072, 65536)
h.zero(300000, 4096)
h.zero(4096, 4096, nbd.CMD_FLAG_NO_HOLE)
out['a'] = list(h.pread(4, 4094))
out['b'] = list(h.pread(2, 299999 + 4096))
h.shutdown()
print(json.dumps(out))
`;
      const out = await python(script, uri(s, 'rw'));
      assert.deepEqual(out, { ro: false, multi: false, flush: true, trim: true, zero: true, fua: true, a: [0x11, 0x11, 0, 0], b: [0, 0x11] });
      assert.equal(bytes.subarray(4096, 304096).findIndex((x) => x !== 0), -1, 'zeroed');
      assert.equal(exp.flushes, 2, 'flush and FUA');
      const w = await run('qemu-io', ['-f', 'raw', uri(s, 'rw'), '-c', 'write -P 5 0 4k', '-c', 'flush']);
      assert.match(w.stdout, /wrote 4096\/4096 bytes at offset 0/);
      assert.ok(bytes.subarray(0, 4096).every((x) => x === 5));
      const r = await run('qemu-io', ['-r', '-f', 'raw', uri(s, 'rw'), '-c', 'read -P 5 0 4k', '-c', 'read -P 0 4k 4k']);
      assert.doesNotMatch(r.stdout, /failed/);
    });
  });

  test('bad clients: garbage, huge option lengths, truncated requests, disconnects mid-reply; the server stays up', async () => {
    await withServer(single, async (s, logs) => {
      const port = portOf(s);
      // Not NBD at all: the first 4 bytes are taken as client flags, which are unknown.
      const http = await RawClient.connect(port);
      http.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      await http.closesWithin(2000);
      // Right flags, garbage instead of IHAVEOPT.
      const junk = await RawClient.connect(port);
      await junk.read(18);
      junk.write(Buffer.from([0, 0, 0, 1]), Buffer.alloc(16, 0xee));
      await junk.closesWithin(2000);
      // A 4 GiB option: dropped at once, nothing allocated.
      const huge = await RawClient.connect(port);
      await huge.read(18);
      const h = Buffer.alloc(20);
      h.writeUInt32BE(1, 0); h.write('IHAVEOPT', 4, 'latin1'); h.writeUInt32BE(7, 12); h.writeUInt32BE(0xffffffff, 16);
      huge.write(h);
      await huge.closesWithin(2000);
      // Half a request, then the client leaves.
      const half = await RawClient.connect(port);
      await half.handshake();
      half.write(Buffer.from([0x25, 0x60, 0x95, 0x13, 0, 0, 0, 0, 0, 1]));
      half.socket.end();
      await half.closesWithin(2000);
      // A bad request magic in transmission.
      const magic = await RawClient.connect(port);
      await magic.handshake();
      magic.write(Buffer.alloc(28, 0x77));
      await magic.closesWithin(2000);
      // A 4 MiB read whose reply the client abandons after a few bytes.
      const quitter = await RawClient.connect(port);
      await quitter.handshake();
      quitter.request(NBD_CMD.READ, 0, 4 << 20);
      await quitter.read(100);
      quitter.socket.destroy();
      // NBD_OPT_ABORT: ACK, then the end.
      const aborter = await RawClient.connect(port);
      await aborter.read(18);
      aborter.write(Buffer.from([0, 0, 0, 3]));
      aborter.sendOption(2);
      assert.equal((await aborter.optionReply()).type, 1);
      await aborter.closesWithin(2000);
      // Still serving.
      const c = await RawClient.connect(port);
      await c.handshake({ name: '' });
      c.request(NBD_CMD.READ, BS, 1000);
      assertBytes((await c.simpleReply(1000)).data, raw.subarray(BS, BS + 1000));
      c.socket.destroy();
      assert.ok(logs.filter((l) => l.level === 'warn').length >= 4, 'protocol violations are logged');
      assert.equal(logs.filter((l) => l.level === 'error').length, 0);
    });
  });

  test('refused requests keep the connection: past the end, unknown command, block status unnegotiated, write to read-only', async () => {
    await withServer(single, async (s) => {
      for (const structured of [false, true]) {
        const c = await RawClient.connect(portOf(s));
        await c.handshake({ structured });
        const errorOf = async () => {
          if (!structured) return (await c.simpleReply()).error;
          const r = await c.structuredReply();
          assert.equal(r.chunks.length, 1);
          return r.chunks[0].payload.readUInt32BE(0);
        };
        c.request(NBD_CMD.READ, SIZE - 10, 20);
        assert.equal(await errorOf(), 22, 'EINVAL past the end');
        c.request(NBD_CMD.READ, 0, (32 << 20) + 1);
        assert.equal(await errorOf(), 22, 'EINVAL over the max payload');
        c.request(42, 0, 10);
        assert.equal(await errorOf(), 22, 'EINVAL for an unknown command');
        c.request(NBD_CMD.BLOCK_STATUS, 0, 10);
        assert.equal(await errorOf(), 22, 'EINVAL without a metadata context');
        c.request(NBD_CMD.WRITE, 0, 4096, { payload: Buffer.alloc(4096, 1) });
        assert.equal(await errorOf(), 1, 'EPERM on a read-only export, payload skipped');
        c.request(NBD_CMD.READ, 0, 4096, { cookie: 5n });
        const data = structured ? RawClient.assemble(0, 4096, (await c.structuredReply()).chunks) : (await c.simpleReply(4096)).data;
        assertBytes(data, raw.subarray(0, 4096), 'a good read after the refusals');
        c.request(NBD_CMD.DISC, 0, 0);
        await c.closesWithin(2000);
      }
    });
  });

  test('a client that never finishes the handshake is disconnected after the timeout', async () => {
    await withServer(single, async (s, logs) => {
      const c = await RawClient.connect(portOf(s));
      await c.read(18);
      await c.closesWithin(3000);
      assert.match(logs.map((l) => l.message).join('\n'), /handshake not finished after 200 ms/);
    }, { handshakeTimeoutMs: 200 });
  });

  test('a write larger than the maximum payload disconnects (its payload cannot be skipped)', async () => {
    await withServer([memoryExport('rw', new Uint8Array(1 << 20), { writable: true, blockSize: 4096 })], async (s, logs) => {
      const c = await RawClient.connect(portOf(s));
      await c.handshake({ name: 'rw' });
      c.request(NBD_CMD.WRITE, 0, 0xfffffff0);
      await c.closesWithin(2000);
      assert.match(logs.map((l) => l.message).join('\n'), /larger than the maximum payload/);
    });
  });

  test('100 parallel connections each read; all answered', async () => {
    await withServer(single, async (s) => {
      const rng = new Rng(4);
      await Promise.all(Array.from({ length: 100 }, async (_, k) => {
        const off = rng.int(SIZE - 8192);
        const c = await RawClient.connect(portOf(s));
        await c.handshake({ structured: k % 2 === 0 });
        c.request(NBD_CMD.READ, off, 8192);
        const data = k % 2 === 0 ? RawClient.assemble(off, 8192, (await c.structuredReply()).chunks) : (await c.simpleReply(8192)).data;
        assertBytes(data, raw.subarray(off, off + 8192), `connection ${k}`);
        c.request(NBD_CMD.DISC, 0, 0);
        await c.closed;
      }));
    });
  });

  test('read errors become NBD_EIO replies and are logged; the connection goes on', async () => {
    const [disk] = single;
    const failing: ServeExport = {
      ...disk,
      // Only `read` fails here: the server must fall back to it and `extents`.
      readWithExtents: undefined,
      read: (offset, length, signal) => offset <= 2 * BS && 2 * BS < offset + length
        ? Promise.reject(new CorruptArchiveError('block 2 fails its hash check', { stream: 'disk', offset: 2 * BS, stage: 'block' }))
        : disk.read(offset, length, signal),
    };
    await withServer([failing], async (s, logs) => {
      const c = await RawClient.connect(portOf(s));
      await c.handshake({ structured: true });
      c.request(NBD_CMD.READ, BS, 2 * BS);
      const r = await c.structuredReply();
      assert.deepEqual(r.chunks.map((ch) => [ch.type, ch.payload.readUInt32BE(0)]), [[0x8002, 5]], 'ERROR_OFFSET, EIO');
      assert.equal(r.chunks[0].payload.readBigUInt64BE(r.chunks[0].payload.length - 8), BigInt(2 * BS));
      c.request(NBD_CMD.READ, 0, 100);
      assertBytes(RawClient.assemble(0, 100, (await c.structuredReply()).chunks), raw.subarray(0, 100));
      c.socket.destroy();
      const errors = logs.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1);
      assert.ok(errors[0].error instanceof CorruptArchiveError);
      assert.equal(errors[0].export, 'disk');
    });
  });

  test('a client that stops reading stops being served: requests stay bounded, all answered once it reads', async () => {
    const exp = memoryExport('big', new Rng(8).fill(new Uint8Array(4 << 20)), { blockSize: 4096 });
    await withServer([exp], async (s) => {
      const c = await RawClient.connect(portOf(s));
      await c.handshake({ name: 'big' });
      const N = 200;
      for (let k = 0; k < N; k++) c.request(NBD_CMD.READ, (k % 4) << 20, 1 << 20, { cookie: BigInt(k) });
      c.socket.pause();
      // Wait until the server stops reading: the count of reads stays put.
      let last = -1;
      for (let i = 0; i < 100 && exp.reads !== last; i++) {
        last = exp.reads;
        await sleep(100);
      }
      assert.ok(exp.reads < N / 2, `${exp.reads} of ${N} 1 MiB reads started while the client read nothing`);
      c.socket.resume();
      const seen = new Set<bigint>();
      for (let k = 0; k < N; k++) {
        const r = await c.simpleReply(1 << 20);
        assert.equal(r.error, 0);
        seen.add(r.cookie);
      }
      assert.equal(seen.size, N);
      assert.equal(exp.reads, N);
      c.socket.destroy();
    });
  });

  test('pooled reads decode into recycled memory: replies held back by a client that stops reading keep their own bytes', async () => {
    const pool = startRunDecoderPool(a, 2);
    try {
      const [exp] = archiveExports([{ name: 'a', archive: a, decoder: pool }]);
      await withServer([exp], async (s) => {
        // Reads of more than two blocks decode on the pool into memory that goes back once the
        // reply is written: while the client reads nothing, replies queue in the server, and a
        // reply whose memory went back too early would carry a later read's bytes. 45 MiB in all:
        // more than the kernel's socket buffers and the server's reply queue hold.
        const N = 240;
        const lengthOf = (k: number) => [3 * BS + 5, 256 << 10, 5 * BS][k % 3];
        const offsetOf = (k: number) => ((k * 7 + 1) * 37 * 4096) % (raw.length - lengthOf(k));
        for (const structured of [false, true]) {
          const c = await RawClient.connect(portOf(s));
          await c.handshake({ name: 'disk', structured });
          c.socket.pause();
          for (let k = 0; k < N; k++) c.request(NBD_CMD.READ, offsetOf(k), lengthOf(k), { cookie: BigInt(k) });
          await sleep(300);
          c.socket.resume();
          const seen = new Set<number>();
          for (let i = 0; i < N; i++) {
            let k: number;
            let got: Buffer;
            if (structured) {
              const r = await c.structuredReply();
              k = Number(r.cookie);
              got = RawClient.assemble(offsetOf(k), lengthOf(k), r.chunks);
            } else {
              // Simple replies come in request order here only by chance: read the header first.
              const h = await c.read(16);
              assert.equal(h.readUInt32BE(4), 0, 'no error');
              k = Number(h.readBigUInt64BE(8));
              got = await c.read(lengthOf(k));
            }
            seen.add(k);
            assertBytes(got, raw.subarray(offsetOf(k), offsetOf(k) + lengthOf(k)), `${structured ? 'structured' : 'simple'} read ${k}`);
          }
          assert.equal(seen.size, N);
          c.socket.destroy();
        }
      });
    } finally {
      await pool.close();
    }
  });

  test('close(): replies in flight are delivered, idle clients are ended, nothing listens any more', async () => {
    const exp = memoryExport('slow', new Uint8Array(1 << 20).fill(9), { readDelayMs: 300, blockSize: 4096 });
    const server = await startNbdServer({ host: '127.0.0.1', port: 0, exports: [exp] });
    const port = portOf(server);
    const busy = await RawClient.connect(port);
    await busy.handshake({ name: 'slow' });
    const idle = await RawClient.connect(port);
    await idle.handshake({ name: 'slow' });
    const haggling = await RawClient.connect(port);
    await haggling.read(18);
    busy.request(NBD_CMD.READ, 0, 4096, { cookie: 3n });
    await sleep(50);
    const closing = server.close();
    const r = await busy.simpleReply(4096);
    assert.deepEqual([r.error, r.cookie, r.data.every((x) => x === 9)], [0, 3n, true]);
    await Promise.all([busy.closesWithin(2000), idle.closesWithin(2000), haggling.closesWithin(2000)]);
    await closing;
    assert.equal(server.connectionCount, 0);
    await assert.rejects(RawClient.connect(port), /ECONNREFUSED/);
  });

  test('a Unix socket: nbd+unix URI for nbdinfo; a stale socket file is taken over', { skip: noNbdinfo }, async () => {
    // A server killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p('nbd.sock'))}, () => console.log('up'))`]);
    await once(child.stdout, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(existsSync(p('nbd.sock')));
    await withServer(single, async (s) => {
      const [url] = s.urls();
      assert.equal(url, `nbd+unix:///disk?socket=${p('nbd.sock')}`);
      const info = JSON.parse((await run('nbdinfo', ['--json', url])).stdout);
      assert.equal(info.exports[0]['export-size'], SIZE);
      await run('nbdcopy', [url, p('unix.raw')]);
      assertBytes(readFileSync(p('unix.raw')), raw, 'nbdcopy over a Unix socket');
    }, { socketPath: p('nbd.sock') });
    assert.ok(!existsSync(p('nbd.sock')), 'removed on close');
  });

  test('an address in use is a UsageError', async () => {
    await withServer(single, async (s) => {
      await assert.rejects(startNbdServer({ exports: single, host: '127.0.0.1', port: portOf(s) }), (err: unknown) => err instanceof UsageError && /address in use/.test(err.message));
      await assert.rejects(startNbdServer({ exports: [] }), UsageError);
    });
  });
});
