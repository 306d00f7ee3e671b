/**
 * The front index area (docs/FORMAT.md §7, version 7): its size rule and what the writer puts in
 * it (every node of a small archive; the top levels of a big one), through every output the
 * writer has (a file, a pipe input of unknown size, an encrypted archive, a dictionary, an S3
 * multipart upload holding the area back with the header), and the reader's preload of the tail.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Archive } from '../src/index.ts';
import { verify } from '../src/ops/verify.ts';
import { FIRST_CONTACT_BYTES, HEADER_SIZE, LEAF_RECORDS, NODE_MAX_RECORDS, SEAL_OVERHEAD } from '../src/format/constants.ts';
import { nodeSize } from '../src/format/index-node.ts';
import { entryBound, frontAreaSize, levelsAbove, planFront, treeBytes } from '../src/pack/front-index.ts';
import { SourceWrapper } from '../src/store/source-wrapper.ts';
import type { ReadOptions } from '../src/store/types.ts';
import { FileSource } from '../src/store/file-source.ts';
import { S3Source } from '../src/store/s3-source.ts';
import { Crafter, type CraftNode } from './craft.ts';
import { FakeS3 } from './fake-s3.ts';
import { assertBytes, mixedData, packSmall, randomData, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-front-');
after(() => tmp.cleanup());
const BS = 4096;
const FULL = nodeSize(NODE_MAX_RECORDS);
/** A full leaf as the writer fills it (256 entries). */
const LEAF = nodeSize(LEAF_RECORDS);

/** Every node of `stream`, root first, as stored (offset, length, level). */
function nodesOf(c: Crafter, stream: number): CraftNode[] {
  const out: CraftNode[] = [];
  const walk = (n: CraftNode) => {
    out.push(n);
    if (n.level > 0) for (let i = 0; i < (n.plain.length - 16) / 64; i++) walk(c.child(stream, n, i));
  };
  walk(c.root(stream));
  return out;
}

/** `blocks` copies of one non-zero 4 KiB block, then `tail` (as a pipe: size unknown to the packer). */
function repeatedBlocks(blocks: number, tail = new Uint8Array(0)): Readable {
  const block = Buffer.alloc(BS, 0x5a);
  return Readable.from((function* () {
    for (let i = 0; i < blocks; i += 64) yield Buffer.concat(Array.from({ length: Math.min(64, blocks - i) }, () => block));
    if (tail.length) yield Buffer.from(tail);
  })());
}

describe('front index area: sizes', () => {
  test('tree shapes follow from the counts (leaves of 256, internal fan-out 1024, the last node of a level partial)', () => {
    assert.deepEqual(levelsAbove(1, 0), []);
    assert.deepEqual(levelsAbove(3, 0), [{ nodes: 1, bytes: nodeSize(3) }]);
    assert.deepEqual(levelsAbove(2049, 28), [{ nodes: 3, bytes: 2 * (FULL + 28) + nodeSize(1) + 28 }, { nodes: 1, bytes: nodeSize(3) + 28 }]);
    assert.equal(treeBytes(0, 0), 0);
    assert.equal(treeBytes(1, 0), nodeSize(1));
    assert.equal(treeBytes(256, 0), LEAF);
    assert.equal(treeBytes(257, 0), LEAF + nodeSize(1) + nodeSize(2));
    assert.equal(treeBytes(1024, 28), 4 * (LEAF + 28) + nodeSize(4) + 28);
    // 1024 leaves under one level-1 node, the 1025th makes a second one and a level-2 root.
    assert.equal(treeBytes(1024 * 256, 0), 1024 * LEAF + FULL);
    assert.equal(treeBytes(1024 * 256 + 1, 0), 1024 * LEAF + nodeSize(1) + FULL + nodeSize(1) + nodeSize(2));
    assert.equal(treeBytes(Infinity, 0), Infinity);
  });

  test('entries are bounded by the logical size: one per block, with CDC one per minimum chunk plus one per block', () => {
    assert.equal(entryBound(0, BS), 0);
    assert.equal(entryBound(1, BS), 1);
    assert.equal(entryBound(10 * BS + 1, BS), 11);
    assert.equal(entryBound(undefined, BS), Infinity);
    assert.equal(entryBound(1 << 20, 131072, 16384), 64 + 8);
  });

  test('the area is the index bound, at most what the first contact leaves after the header and the dictionary', () => {
    assert.equal(frontAreaSize(0, 0), 0);
    assert.equal(frontAreaSize(272, 0), 272);
    assert.equal(frontAreaSize(Infinity, 0), FIRST_CONTACT_BYTES - HEADER_SIZE);
    assert.equal(frontAreaSize(Infinity, 112640 + SEAL_OVERHEAD), FIRST_CONTACT_BYTES - HEADER_SIZE - 112640 - SEAL_OVERHEAD);
  });

  test('planning: everything when it fits, else whole levels from the top across both streams', () => {
    const small = { leafBytes: nodeSize(10), levels: [] };
    const big = { leafBytes: 5000 * FULL, levels: levelsAbove(5000, 0) };
    assert.equal(planFront([small], 1 << 20), 1);
    assert.equal(planFront([small], 100), 0);
    assert.equal(planFront([big], FIRST_CONTACT_BYTES - HEADER_SIZE), 1, 'the root only: 5 level-1 nodes do not fit');
    assert.equal(planFront([big, small], FIRST_CONTACT_BYTES - HEADER_SIZE), 1, 'both roots (one of them a leaf)');
    const wide = { leafBytes: 3000 * FULL, levels: levelsAbove(3000, 0) };
    assert.equal(planFront([wide], FIRST_CONTACT_BYTES - HEADER_SIZE), 2, 'root and its 3 children');
    assert.equal(planFront([], 0), 0);
  });
});

describe('front index area: what the writer puts there', () => {
  test('a small archive has every node in front, right after the header: its area is exactly its index', async () => {
    // 1280 + 256 entries: five leaves and a root, and one leaf; 96 KiB of index.
    const disk = mixedData(5 << 20, { unit: BS, seed: 3 });
    const memory = mixedData(1 << 20, { unit: BS, seed: 4 });
    const out = tmp.path('small.hxz');
    await packSmall({ disk: writeData(tmp.path('small.disk'), disk), memory: writeData(tmp.path('small.mem'), memory), output: out, blockSize: BS });
    const c = new Crafter(readFileSync(out));
    const h = c.header;
    const nodes = [...nodesOf(c, 0), ...nodesOf(c, 1)];
    const bytes = nodes.reduce((n, x) => n + x.length, 0);
    // The sizes bound the entries exactly here: no two zero blocks are neighbours (no run merges).
    assert.equal(h.data.offset, HEADER_SIZE + bytes, 'the area is exactly the index');
    for (const n of nodes) assert.ok(n.offset >= HEADER_SIZE && n.offset + n.length <= h.data.offset, `node at ${n.offset}`);
    assert.equal(h.metadata.offset, h.data.offset + h.data.length, 'nothing but the metadata after the data region');
    assert.ok(h.streams[0].rootLevel === 1 && h.streams[1].rootLevel === 0);
    assert.equal(h.streams[0].rootOffset, HEADER_SIZE, 'roots first');
    await assertReads(out, { disk, memory });
  });

  test('a pipe (size unknown) gets the largest area; an empty stream of known size none', async () => {
    const disk = mixedData(100 << 10, { unit: BS, seed: 5 });
    const out = tmp.path('pipe.hxz');
    await packSmall({ disk: Readable.from([Buffer.from(disk)]), output: out, blockSize: BS });
    const h = new Crafter(readFileSync(out)).header;
    assert.equal(h.data.offset, FIRST_CONTACT_BYTES);
    assert.equal(h.streams[0].rootOffset, HEADER_SIZE);
    await assertReads(out, { disk });
    const empty = tmp.path('empty.hxz');
    await packSmall({ disk: writeData(tmp.path('empty.raw'), new Uint8Array(0)), output: empty });
    assert.equal(new Crafter(readFileSync(empty)).header.data.offset, HEADER_SIZE);
  });

  test('a bigger archive has its internal levels in front and its leaves after the data region; encrypted the same', async () => {
    // 5004 entries: 20 leaves (320 KiB) do not fit in the area, their root does.
    const tail = randomData(3 * BS + 5, 8);
    for (const encrypted of [false, true]) {
      const out = tmp.path(`bigger-${encrypted}.hxz`);
      const r = await packSmall({
        disk: repeatedBlocks(5000, tail), output: out, blockSize: BS, compression: 'lz4',
        archiveId: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
        encrypt: encrypted ? { password: 'pw', kdf: { memoryKiB: 64, iterations: 1, lanes: 1 } } : undefined,
      });
      const a = await Archive.open(out, { password: encrypted ? 'pw' : undefined });
      const c = new Crafter(readFileSync(out), a.dataKey);
      await a.close();
      const h = c.header;
      assert.equal(h.data.offset, FIRST_CONTACT_BYTES, 'size unknown: the largest area');
      assert.equal(r.header.streams[0].entryCount, 5004);
      const nodes = nodesOf(c, 0);
      const root = nodes[0];
      assert.equal(root.level, 1);
      assert.equal(root.offset, HEADER_SIZE, 'the root is in front');
      const leaves = nodes.filter((n) => n.level === 0);
      assert.equal(leaves.length, 20);
      for (const n of leaves) assert.ok(n.offset >= h.data.offset + h.data.length, `leaf at ${n.offset} after the data region`);
      assert.equal(leaves[0].offset, h.data.offset + h.data.length, 'leaves right after the data region');
      assert.equal(leaves[0].length, LEAF + (encrypted ? SEAL_OVERHEAD : 0));
      const expected = new Uint8Array(5000 * BS + tail.length).fill(0x5a);
      expected.set(tail, 5000 * BS);
      await assertReads(out, { disk: expected }, encrypted ? 'pw' : undefined);
    }
  });

  test('a dictionary comes first, the area after it', async () => {
    const disk = mixedData(2 << 20, { unit: BS, seed: 9 });
    const out = tmp.path('dict.hxz');
    try {
      await packSmall({ disk: writeData(tmp.path('dict.raw'), disk), output: out, blockSize: BS, trainDict: true });
    } catch (err) {
      if ((err as Error).name === 'UnsupportedError') return; // no libzstd here: nothing to check
      throw err;
    }
    const c = new Crafter(readFileSync(out));
    const h = c.header;
    assert.equal(h.dictionary.offset, HEADER_SIZE);
    assert.equal(h.streams[0].rootOffset, HEADER_SIZE + h.dictionary.length, 'the area starts right after the dictionary');
    for (const n of nodesOf(c, 0)) assert.ok(n.offset + n.length <= h.data.offset);
    await assertReads(out, { disk });
  });

  test('an s3:// output holds the area back with the header in part 1 (multipart, fake S3)', async () => {
    const s3 = new FakeS3();
    const random = randomData(9 << 20, 12);
    const expected = new Uint8Array(3000 * BS + random.length).fill(0x5a);
    expected.set(random, 3000 * BS);
    // 5304 entries: the root in front, 21 leaves after the data region. Incompressible bytes are
    // stored raw: about 9 MiB of archive, so more than one 8 MiB part.
    await packSmall({ disk: repeatedBlocks(3000, random), output: 's3://bk/front.hxz', s3Client: s3, blockSize: BS, compression: 'none' });
    assert.ok(s3.calls.some((call) => call.name === 'CompleteMultipartUpload'), 'a multipart upload');
    const c = new Crafter(s3.objects.get('front.hxz')!.body);
    const h = c.header;
    assert.equal(h.data.offset, FIRST_CONTACT_BYTES);
    const nodes = nodesOf(c, 0);
    assert.deepEqual(nodes.map((n) => n.level), [1, ...new Array<number>(21).fill(0)]);
    assert.equal(nodes[0].offset, HEADER_SIZE, 'the root in front');
    assert.ok(nodes.slice(1).every((n) => n.offset >= h.data.offset + h.data.length), 'the leaves after the data region');
    const gets = () => s3.calls.filter((call) => call.name === 'GetObject').length;
    const before = gets();
    const a = await Archive.open(new S3Source({ bucket: 'bk', key: 'front.hxz', client: s3 }));
    try {
      // The first contact (header and root) and the tail (21 leaves and the metadata, < 4 MiB).
      assert.equal(gets() - before, 2, 'open');
      const at = 3000 * BS + 123_456;
      assertBytes(await a.readAt('disk', at, 4096), expected.subarray(at, at + 4096), 'far read');
      assert.equal(gets() - before, 3, 'the read: one block');
      assertBytes(await a.readAt('disk', 0, expected.length), expected, 'whole stream');
    } finally {
      await a.close();
    }
  });
});

describe('front index area: reading', () => {
  test('the tail after the data region is preloaded only when it holds nodes', async () => {
    for (const [name, disk, leavesInTail] of [['front', mixedData(3 << 20, { unit: BS, seed: 3 }), false], ['tail', new Uint8Array(5000 * BS).fill(0x5a), true]] as const) {
      const path = tmp.path(`preload-${name}.hxz`);
      await packSmall({ disk: writeData(tmp.path(`preload-${name}.raw`), disk), output: path, blockSize: BS });
      const source = new RecordingSource(await FileSource.open(path));
      const a = await Archive.open(source);
      try {
        const dataEnd = a.header.data.offset + a.header.data.length;
        const tail = source.reads.filter(([offset]) => offset >= dataEnd);
        // Every node in front: nothing read past the data region. Leaves in the tail: all of it in one read.
        assert.deepEqual(tail, leavesInTail ? [[dataEnd, a.fileSize - dataEnd]] : [], name);
        const at = disk.length - 3 * BS;
        assertBytes(await a.readAt('disk', at, 4096), disk.subarray(at, at + 4096), name);
      } finally {
        await a.close();
        await source.close();
      }
    }
  });
});

/** Records the offset and length of every read. */
class RecordingSource extends SourceWrapper {
  readonly reads: [number, number][] = [];

  override read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length, options);
  }
}

/** Opens `path`, reads every stream whole and checks it, and verifies the archive. */
async function assertReads(path: string, streams: { disk?: Uint8Array; memory?: Uint8Array }, password?: string): Promise<void> {
  const a = await Archive.open(path, { password });
  try {
    for (const [name, bytes] of Object.entries(streams)) assertBytes(await a.readAt(name as 'disk', 0, bytes.length), bytes, `${path} ${name}`);
  } finally {
    await a.close();
  }
  const r = await verify(path, { password });
  assert.equal(r.ok, true, JSON.stringify(r.error));
}
