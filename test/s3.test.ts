/**
 * S3 against a real server: Ceph's radosgw on a one-node cluster started once for this file
 * (test/servers/ceph.ts). S3Source ranged reads, size, errors and the ETag pin; listS3 paging;
 * S3Upload multipart (part 1 held back and patched), single-part, and abort. Skipped with a
 * message when Ceph is not installed (a failure with CI=true).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AbortedError, StoreError } from '../src/errors.ts';
import { createS3Client, type S3ClientLike } from '../src/store/s3-client.ts';
import { S3Source, listS3, parseS3Url } from '../src/store/s3-source.ts';
import { FIRST_CONTACT_BYTES } from '../src/store/first-contact.ts';
import { S3Upload } from '../src/store/s3-upload.ts';
import { cephSkip, startCeph, type CephServer } from './servers/ceph.ts';
import { Rng, assertBytes, randomData } from './helpers.ts';

const BUCKET = 'hexz-test';
const MiB = 1 << 20;

/** A client that records every command it sends (by name) and the most in flight at once. */
function counting(client: S3ClientLike): S3ClientLike & { calls: string[]; maxInFlight: (name: string) => number } {
  const calls: string[] = [];
  const peak = new Map<string, number>();
  const now = new Map<string, number>();
  return {
    calls,
    maxInFlight: (name) => peak.get(name) ?? 0,
    async send(command, options) {
      const name = (command as object).constructor.name.replace(/Command$/, '');
      calls.push(name);
      now.set(name, (now.get(name) ?? 0) + 1);
      peak.set(name, Math.max(peak.get(name) ?? 0, now.get(name)!));
      try {
        return await client.send(command, options);
      } finally {
        now.set(name, now.get(name)! - 1);
      }
    },
  };
}

describe('S3 against radosgw', { skip: cephSkip() }, () => {
  let ceph: CephServer | undefined;
  let client: S3Client;

  before(async () => {
    ceph = await startCeph();
    assert.ok(ceph, 'Ceph is installed (cephSkip said so) but did not start');
    console.log(`ceph + radosgw up in ${(ceph.startupMs / 1000).toFixed(1)} s at ${ceph.endpoint}`);
    client = await createS3Client({ endpoint: ceph.endpoint, region: ceph.region, credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey } });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, { timeout: 180_000 });

  after(async () => {
    client?.destroy();
    await ceph?.stop();
  });

  const put = (key: string, body: Uint8Array) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  const get = async (key: string) => new Uint8Array(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
  const source = (key: string, c: S3ClientLike = client) => new S3Source({ bucket: BUCKET, key, client: c });

  test('ranged reads equal the object bytes: random ranges, across the first 256 KiB, past the end', async () => {
    const data = randomData(600_001, 11);
    await put('dir/obj.bin', data);
    const c = counting(client);
    const s = source('dir/obj.bin', c);
    assert.equal(s.name, `s3://${BUCKET}/dir/obj.bin`);
    assert.equal(await s.size(), data.length);
    assert.deepEqual(c.calls, ['GetObject'], 'size comes from the first ranged GET');
    // Inside the first 256 KiB: served from what the first request brought.
    const first = FIRST_CONTACT_BYTES;
    assertBytes(await s.read(0, 4096), data.subarray(0, 4096), 'header');
    assertBytes(await s.read(first - 5536, 5536), data.subarray(first - 5536, first), 'up to the boundary');
    assert.equal(c.calls.length, 1, 'reads inside the first 256 KiB cost no request');
    // Crossing the boundary: only the part past it is fetched.
    assertBytes(await s.read(first - 1000, 10_000), data.subarray(first - 1000, first + 9000), 'across the boundary');
    assert.equal(c.calls.length, 2);
    const rng = new Rng(7);
    for (let i = 0; i < 40; i++) {
      const offset = rng.int(data.length);
      const length = rng.range(1, 100_000);
      assertBytes(await s.read(offset, length), data.subarray(offset, offset + length), `range ${offset}+${length}`);
    }
    assertBytes(await s.read(data.length - 10, 100), data.subarray(data.length - 10), 'clamped at the end');
    assert.equal((await s.read(data.length, 10)).length, 0, 'at the end: empty');
    assert.equal((await s.read(data.length + 5, 10)).length, 0, 'past the end: empty');
  });

  test('a small and an empty object', async () => {
    const small = randomData(1000, 12);
    await put('small.bin', small);
    const s = source('small.bin');
    assert.equal(await s.size(), 1000);
    assertBytes(await s.read(0, 5000), small);
    await put('empty.bin', new Uint8Array(0));
    const e = source('empty.bin');
    assert.equal(await e.size(), 0);
    assert.equal((await e.read(0, 10)).length, 0);
  });

  test('a missing object is a permanent StoreError; a missing bucket too', async () => {
    for (const s of [source('no/such/key'), new S3Source({ bucket: 'no-such-bucket', key: 'k', client })]) {
      await assert.rejects(s.read(0, 10), (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.equal(err.transient, false);
        assert.match(err.message, /not found \(404/);
        return true;
      });
    }
  });

  test('an object overwritten while open: the next read is "changed while open", never mixed bytes', async () => {
    const v1 = randomData(500_000, 13);
    const v2 = randomData(500_000, 14); // same size: only the ETag tells them apart
    await put('changing.bin', v1);
    const s = source('changing.bin');
    assertBytes(await s.read(400_000, 1000), v1.subarray(400_000, 401_000));
    await put('changing.bin', v2);
    assertBytes(await s.read(0, 100), v1.subarray(0, 100), 'the kept first bytes are still the open version');
    // Past the kept first 256 KiB, and across its end.
    for (const [offset, length] of [[400_000, 1000], [250_000, 20_000]]) {
      await assert.rejects(s.read(offset, length), (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.equal(err.transient, false);
        assert.match(err.message, /changed while open/);
        return true;
      });
    }
    // Reopened, it reads the new version.
    assertBytes(await source('changing.bin').read(400_000, 1000), v2.subarray(400_000, 401_000));
  });

  test('an aborted read is an AbortedError', async () => {
    await put('abort.bin', randomData(400_000, 15));
    const s = source('abort.bin');
    await assert.rejects(s.read(0, 10, { signal: AbortSignal.abort() }), AbortedError);
    await s.size();
    await assert.rejects(s.read(300_000, 10, { signal: AbortSignal.abort() }), AbortedError);
  });

  test('listS3: everything under a prefix, over several pages', async () => {
    const keys = Array.from({ length: 1100 }, (_, i) => `many/obj-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k, j) => put(k, new Uint8Array((i + j) % 7))));
    await put('many-not/x', new Uint8Array(1));
    await put('many/sub/deeper.hxz', new Uint8Array(3));

    const c = counting(client);
    const all = await listS3(`s3://${BUCKET}/many/`, c);
    assert.equal(c.calls.filter((n) => n === 'ListObjectsV2').length, 2, 'S3 pages are at most 1000 keys');
    assert.deepEqual(all.map((o) => o.key), [...keys, 'many/sub/deeper.hxz'].sort());
    assert.equal(all[3]!.size, 3);
    assert.match(all[0]!.etag, /^"[0-9a-f]{32}"$/);

    const c2 = counting(client);
    const paged = await listS3(`s3://${BUCKET}/many/`, c2, { pageSize: 300 });
    assert.equal(c2.calls.length, 4);
    assert.deepEqual(paged, all);

    const shallow = await listS3(`s3://${BUCKET}/many/`, client, { shallow: true });
    assert.equal(shallow.length, 1100, 'shallow: sub/ is a "directory", not listed');
    assert.deepEqual(await listS3(`s3://${BUCKET}/nothing-here/`, client), []);
    await assert.rejects(listS3('s3://no-such-bucket/', client), (err: unknown) => err instanceof StoreError && !err.transient);
  });

  test('S3Upload: multipart with part 1 held back and its header patched at complete', async () => {
    const data = randomData(17 * MiB + 12_345, 16);
    const header = randomData(4096, 17);
    const c = counting(client);
    const up = await S3Upload.create({ bucket: BUCKET, key: 'up/multi.hxz', client: c, partSize: 5 * MiB, concurrency: 2, holdFirstPart: true });
    const rng = new Rng(3);
    for (let at = 0; at < data.length;) {
      const n = Math.min(rng.range(1, 3 * MiB), data.length - at);
      await up.write(data.subarray(at, at + n));
      at += n;
    }
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'up/multi.hxz' })), /NotFound|404/, 'nothing visible before complete');
    const result = await up.complete(header);
    assert.equal(result.parts, 4);
    assert.equal(result.size, data.length);
    const expected = Uint8Array.from(data);
    expected.set(header, 0);
    assertBytes(await get('up/multi.hxz'), expected, 'uploaded object');
    const uploads = c.calls.filter((n) => n === 'UploadPart');
    assert.equal(uploads.length, 4);
    assert.ok(c.maxInFlight('UploadPart') <= 2, `at most 2 parts in flight (saw ${c.maxInFlight('UploadPart')})`);
    // And S3Source reads it back across part boundaries.
    const s = source('up/multi.hxz');
    assertBytes(await s.read(5 * MiB - 100, 200), expected.subarray(5 * MiB - 100, 5 * MiB + 100));
  });

  test('S3Upload: a small object is one PutObject; an upload of exactly one part too', async () => {
    for (const [size, key] of [[10_000, 'up/small.hxz'], [5 * MiB, 'up/one-part.hxz'], [0, 'up/empty.hxz']] as const) {
      const data = randomData(size, 18);
      const header = randomData(Math.min(4096, size), 19);
      const c = counting(client);
      const up = await S3Upload.create({ bucket: BUCKET, key, client: c, partSize: 5 * MiB, holdFirstPart: true });
      await up.write(data);
      const result = await up.complete(header);
      assert.deepEqual(c.calls, ['PutObject'], key);
      assert.equal(result.parts, 1);
      const expected = Uint8Array.from(data);
      expected.set(header, 0);
      assertBytes(await get(key), expected, key);
    }
  });

  test('S3Upload.abort leaves no object and no pending multipart upload', async () => {
    const key = 'up/aborted.hxz';
    const up = await S3Upload.create({ bucket: BUCKET, key, client, partSize: 5 * MiB, holdFirstPart: true });
    await up.write(randomData(16 * MiB, 20)); // part 1 held, parts 2 and 3 uploaded or uploading
    // write() returns once the parts are handed over; CreateMultipartUpload may still be on its way.
    let pending = 0;
    for (let i = 0; i < 100 && pending === 0; i++) {
      pending = (await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }))).Uploads?.length ?? 0;
      if (pending === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pending, 1, 'the upload is pending before abort');
    await up.abort();
    await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })), (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404);
    const after = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }));
    assert.equal(after.Uploads?.length ?? 0, 0, 'no pending upload after abort');
    await assert.rejects(up.write(new Uint8Array(1)), /aborted/);
    await up.abort(); // idempotent
  });

  test('parseS3Url names what S3Source reads', () => {
    assert.deepEqual(parseS3Url(`s3://${BUCKET}/up/small.hxz`), { bucket: BUCKET, key: 'up/small.hxz' });
  });
});
