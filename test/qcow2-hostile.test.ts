/**
 * Hostile qcow2 headers: every size or offset a header can make a reader allocate or read from
 * is bounded by the spec (and qemu's limits) and by the file size. Each crafted image must be
 * refused quickly, with a CorruptImageError naming the field, before any large allocation.
 * The images are written by hand (no qemu needed): a valid 64 KiB-cluster v3 header, one L1
 * table cluster, one refcount table cluster, then one field patched per case.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { CorruptImageError, openImage } from '../src/index.ts';
import { decodeQcow2Header } from '../src/image/qcow2-header.ts';
import { encodeQcow2Header } from '../src/image/qcow2-layout.ts';
import { tempDir } from './helpers.ts';

const CLUSTER = 64 << 10;
const GiB = 2 ** 30;

/** A valid, empty 16 MiB qcow2 v3 image: header, L1 table (cluster 1), refcount table (cluster 2). */
function validImage(): { bytes: Uint8Array; dv: DataView } {
  const bytes = new Uint8Array(3 * CLUSTER);
  bytes.set(encodeQcow2Header({
    clusterBits: 16, size: 16 << 20, l1Size: 1, l1TableOffset: CLUSTER,
    refcountTableOffset: 2 * CLUSTER, refcountTableClusters: 1, compression: 'zlib',
  }));
  return { bytes, dv: new DataView(bytes.buffer) };
}

describe('hostile qcow2 headers are refused by field, quickly and with bounded memory', () => {
  const tmp = tempDir('hexz-qcow2-hostile-');
  after(() => tmp.cleanup());

  // [case, patch, message pattern naming the field]
  const cases: [string, (dv: DataView) => void, RegExp][] = [
    ['giant l1_size', (dv) => dv.setUint32(36, 0xffffffff), /L1 table is too large: l1_size 4294967295/],
    ['l1_size just under the limit but larger than the file', (dv) => dv.setUint32(36, (32 << 20) / 8), /l1_table_offset 65536 puts the table past the end of the file/],
    ['L1 table offset beyond EOF', (dv) => dv.setBigUint64(40, BigInt(1024 * GiB)), /l1_table_offset 1099511627776 puts the table past the end of the file/],
    ['L1 table offset not cluster aligned', (dv) => dv.setBigUint64(40, 4096n), /l1_table_offset 4096 is not cluster aligned/],
    ['L1 table offset past 2^53', (dv) => dv.setBigUint64(40, 1n << 60n), /L1 table offset \d+ is out of range/],
    ['backing name length 1 GiB', (dv) => { dv.setBigUint64(8, 512n); dv.setUint32(16, GiB); }, /backing_file_size 1073741824 bytes exceeds 1023/],
    ['backing name outside the first cluster', (dv) => { dv.setBigUint64(8, BigInt(CLUSTER - 8)); dv.setUint32(16, 100); }, /backing file name lies outside the first cluster/],
    ['cluster_bits too large', (dv) => dv.setUint32(20, 40), /cluster_bits 40 is outside 9..21/],
    ['cluster_bits too small', (dv) => dv.setUint32(20, 8), /cluster_bits 8 is outside 9..21/],
    ['refcount_order out of range', (dv) => dv.setUint32(96, 7), /refcount_order 7 is outside 0..6/],
    ['refcount_order huge', (dv) => dv.setUint32(96, 0xffffffff), /refcount_order 4294967295 is outside 0..6/],
    ['giant refcount_table_clusters', (dv) => dv.setUint32(56, 0xffffffff), /refcount_table_clusters 4294967295 exceeds qemu's 128/],
    ['refcount table beyond EOF', (dv) => dv.setBigUint64(48, BigInt(GiB)), /refcount_table_offset 1073741824 puts the table past the end of the file/],
    ['giant nb_snapshots', (dv) => dv.setUint32(60, 0xffffffff), /nb_snapshots 4294967295 exceeds qemu's 65536/],
    ['snapshot table beyond EOF', (dv) => { dv.setUint32(60, 10); dv.setBigUint64(64, BigInt(64 * GiB)); }, /snapshots_offset 68719476736 puts the table past the end of the file/],
    ['header extension length 4 GiB', (dv) => { dv.setUint32(112, 0xe2792aca); dv.setUint32(116, 0xffffffff); }, /header extension 0xe2792aca length 4294967295 overruns the header/],
    ['header_length past the first cluster', (dv) => dv.setUint32(100, 0x7fffffff), /header_length 2147483647 is invalid/],
  ];

  test('the unpatched image opens (the cases below differ by one field)', async () => {
    const path = tmp.path('valid.qcow2');
    writeFileSync(path, validImage().bytes);
    const img = await openImage(path);
    assert.equal(img.size, 16 << 20);
    await img.close();
  });

  for (const [name, patch, pattern] of cases) {
    test(name, async () => {
      const { bytes, dv } = validImage();
      patch(dv);
      const path = tmp.path(`${name.replace(/\W+/g, '-')}.qcow2`);
      writeFileSync(path, bytes);
      const heapBefore = process.memoryUsage().arrayBuffers;
      const started = performance.now();
      await assert.rejects(openImage(path), (err: Error) => {
        assert.ok(err instanceof CorruptImageError, `expected CorruptImageError, got ${err.constructor.name}: ${err.message}`);
        assert.match(err.message, pattern);
        return true;
      });
      // The pure decoder says the same without any I/O.
      assert.throws(() => decodeQcow2Header(bytes, bytes.length, path), CorruptImageError);
      assert.ok(performance.now() - started < 2000, `${name}: took ${performance.now() - started} ms`);
      // Nothing close to what the field asked for was allocated (the image itself is 192 KiB).
      assert.ok(process.memoryUsage().arrayBuffers - heapBefore < 16 << 20, `${name}: array buffers grew by ${process.memoryUsage().arrayBuffers - heapBefore} bytes`);
    });
  }

  test('a compressed-cluster descriptor asking for the most sectors reads at most two clusters', async () => {
    // The descriptor's sector count has cluster_bits - 8 bits: 2^8 sectors of 512 B at 64 KiB
    // clusters, i.e. 128 KiB, whatever the entry says. The payload is garbage, so it must fail
    // to decode, as a CorruptImageError, without reading more than that.
    const { bytes, dv } = validImage();
    const image = new Uint8Array(5 * CLUSTER);
    image.set(bytes);
    const idv = new DataView(image.buffer);
    for (let i = 0; i < 128; i += 4) idv.setUint32(i, dv.getUint32(i));
    idv.setBigUint64(CLUSTER, (1n << 63n) | BigInt(3 * CLUSTER)); // L1[0] -> L2 at cluster 3
    const x = 62n - (16n - 8n);
    const allSectors = ((1n << (62n - x)) - 1n) << x;
    idv.setBigUint64(3 * CLUSTER, (1n << 62n) | allSectors | BigInt(4 * CLUSTER)); // compressed at cluster 4
    image.fill(0xff, 4 * CLUSTER);
    const path = tmp.path('max-sectors.qcow2');
    writeFileSync(path, image);
    const img = await openImage(path);
    try {
      await assert.rejects(img.read(0, 4096), (err: Error) => err instanceof CorruptImageError && /compressed cluster at guest offset 0/.test(err.message));
    } finally {
      await img.close();
    }
  });
});
