/**
 * The ByteSource conformance suite (byte-source-suite.ts) over every backend: memory, file,
 * HTTP through a real nginx, S3 through a real radosgw, and the composed remote stack
 * `openSource(url)` (retry, limit, coalescing, page cache) over each of those servers.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { after, before, test } from 'node:test';
import { FileSource } from '../src/store/file-source.ts';
import { HttpSource } from '../src/store/http-source.ts';
import { MemorySource } from '../src/store/memory-source.ts';
import { openSource } from '../src/store/open-source.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { S3Source } from '../src/store/s3-source.ts';
import type { ByteSource } from '../src/store/types.ts';
import { byteSourceSuite, type SourceUnderTest } from './byte-source-suite.ts';
import { tempDir } from './helpers.ts';
import { cephSkip, startCeph, type CephServer } from './servers/ceph.ts';
import { nginxSkip, startNginx, type NginxServer } from './servers/nginx.ts';

const tmp = tempDir('hexz-byte-source-');
after(() => tmp.cleanup());
let objects = 0;

/** Writes `bytes` as a new file under the temp dir; the returned cleanup removes it. */
function newFile(bytes: Uint8Array): { name: string; path: string; remove: () => void } {
  const name = `object-${++objects}.bin`;
  const path = tmp.path(name);
  writeFileSync(path, bytes);
  return { name, path, remove: () => rmSync(path, { force: true }) };
}

byteSourceSuite('MemorySource', async (bytes) => ({ source: new MemorySource(bytes), cleanup: () => {} }));

byteSourceSuite('FileSource', async (bytes) => {
  const file = newFile(bytes);
  return { source: await FileSource.open(file.path), cleanup: file.remove };
});

test('FileSource.readInto and readIntoSync fill the target as read would, writes nothing outside it, is short only at the end', async () => {
  const size = (300 << 10) + 7;
  const data = new Uint8Array(size).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
  const file = newFile(data);
  const s = await FileSource.open(file.path);
  try {
    for (const [offset, length] of [[0, 4096], [1, 65535], [size - 4096, 4096], [0, size]] as const) {
      const target = new Uint8Array(length + 16).fill(0xee);
      assert.equal(await s.readInto(offset, target.subarray(8, 8 + length)), length, `readInto(${offset}, ${length})`);
      assert.deepEqual(target.subarray(8, 8 + length), data.subarray(offset, offset + length), `readInto(${offset}, ${length})`);
      assert.ok(target.subarray(0, 8).every((b) => b === 0xee) && target.subarray(8 + length).every((b) => b === 0xee), 'nothing written outside the target');
      target.fill(0xee);
      assert.equal(s.readIntoSync(offset, target.subarray(8, 8 + length)), length, `readIntoSync(${offset}, ${length})`);
      assert.deepEqual(target.subarray(8, 8 + length), data.subarray(offset, offset + length), `readIntoSync(${offset}, ${length})`);
      assert.ok(target.subarray(0, 8).every((b) => b === 0xee) && target.subarray(8 + length).every((b) => b === 0xee), 'readIntoSync: nothing written outside the target');
    }
    assert.equal(s.readIntoSync(size - 10, new Uint8Array(100)), 10, 'readIntoSync straddling the end');
    assert.equal(s.readIntoSync(size + 5, new Uint8Array(10)), 0, 'readIntoSync past the end');
    assert.equal(await s.readInto(size - 10, new Uint8Array(100)), 10, 'straddling the end');
    assert.equal(await s.readInto(size, new Uint8Array(10)), 0, 'at the end');
    assert.equal(await s.readInto(size + 5, new Uint8Array(10)), 0, 'past the end');
  } finally {
    await s.close();
    file.remove();
  }
});

// HTTP: one nginx serving the temp dir for both HTTP suites.
const skipHttp = nginxSkip();
let nginx: NginxServer | undefined;
if (!skipHttp) {
  before(async () => {
    nginx = await startNginx({ root: tmp.dir });
  });
  after(() => nginx?.close());
}

/** A source over `bytes` served by nginx, made by `open(url)`. */
const overNginx = (open: (url: string) => ByteSource | Promise<ByteSource>) => async (bytes: Uint8Array): Promise<SourceUnderTest> => {
  const file = newFile(bytes);
  return { source: await open(nginx!.url(file.name)), cleanup: file.remove };
};

byteSourceSuite('HttpSource (nginx)', overNginx((url) => new HttpSource(url)), { skip: skipHttp });
byteSourceSuite('openSource(http://…) (nginx)', overNginx((url) => openSource(url)), { skip: skipHttp });

// S3: Ceph's radosgw (test/servers/ceph.ts), one cluster for this file; 20–40 s to start.
const skipS3 = cephSkip();
let ceph: CephServer | undefined;
let s3: S3Client | undefined;
const BUCKET = 'hexz-conformance';
if (!skipS3) {
  before(async () => {
    ceph = await startCeph();
    assert.ok(ceph, 'Ceph is installed (cephSkip said so) but did not start');
    s3 = await createS3Client({ endpoint: ceph.endpoint, region: ceph.region, credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey } });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, { timeout: 180_000 });
  after(async () => {
    s3?.destroy();
    await ceph?.stop();
  });
}

/** A source over `bytes` uploaded as a new object, made by `open(key)`. */
const overS3 = (open: (key: string) => ByteSource | Promise<ByteSource>) => async (bytes: Uint8Array): Promise<SourceUnderTest> => {
  const key = `conformance/object-${++objects}.bin`;
  await s3!.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
  return { source: await open(key), cleanup: async () => void (await s3!.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }))) };
};

byteSourceSuite('S3Source (radosgw)', overS3((key) => new S3Source({ bucket: BUCKET, key, client: s3 })), { skip: skipS3 });
byteSourceSuite('openSource(s3://…) (radosgw)', overS3((key) => openSource(`s3://${BUCKET}/${key}`, { s3Client: s3 })), { skip: skipS3 });
