/**
 * S3Upload without a server (test/fake-s3.ts): parts cut and numbered right, part 1 held back
 * and patched, at most `concurrency` parts in flight and write() waiting for them, a single
 * PutObject for small objects, and failures that leave nothing behind. The same against real
 * radosgw is in s3.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError, StoreError, UsageError } from '../src/errors.ts';
import { S3Upload } from '../src/store/s3-upload.ts';
import { FakeS3, sdkError } from './fake-s3.ts';
import { assertBytes, oddChunks, randomData } from './helpers.ts';

const MiB = 1 << 20;
const create = (s3: FakeS3, extra: Partial<Parameters<typeof S3Upload.create>[0]> = {}) =>
  S3Upload.create({ bucket: 'bk', key: 'out.hxz', client: s3, partSize: 5 * MiB, ...extra });
const names = (s3: FakeS3) => s3.calls.map((c) => c.name);

describe('S3Upload (fake S3)', () => {
  test('multipart with part 1 held back: uploaded last, header patched', async () => {
    const s3 = new FakeS3();
    const data = randomData(16 * MiB + 7, 31);
    const header = randomData(4096, 32);
    const up = await create(s3, { holdFirstPart: true, concurrency: 2 });
    for (const chunk of oddChunks(data)) await up.write(chunk);
    assert.equal(up.bytesWritten, data.length);
    assert.equal(s3.objects.size, 0, 'nothing visible before complete');
    const result = await up.complete(header);
    assert.deepEqual(result, { etag: '"multipart-4"', size: data.length, parts: 4 });
    const parts = s3.calls.filter((c) => c.name === 'UploadPart').map((c) => c.input.PartNumber);
    assert.deepEqual(parts, [2, 3, 4, 1], 'part 1 goes last');
    const expected = Uint8Array.from(data);
    expected.set(header);
    assertBytes(s3.objects.get('out.hxz')!.body, expected);
    assert.equal(s3.uploads.size, 0);
  });

  test('without holding: parts in order, no header', async () => {
    const s3 = new FakeS3();
    const data = randomData(11 * MiB, 33);
    const up = await create(s3);
    await up.write(data);
    await up.complete();
    assert.deepEqual(s3.calls.filter((c) => c.name === 'UploadPart').map((c) => c.input.PartNumber), [1, 2, 3]);
    assertBytes(s3.objects.get('out.hxz')!.body, data);
    await assert.rejects((await create(s3)).complete(new Uint8Array(10)), UsageError, 'a header needs holdFirstPart');
  });

  test('small objects are one PutObject (held part alone, partial part alone, empty)', async () => {
    for (const size of [0, 4096, 100_000, 5 * MiB]) {
      const s3 = new FakeS3();
      const data = randomData(size, 34);
      const header = randomData(Math.min(size, 4096), 35);
      const up = await create(s3, { holdFirstPart: true });
      await up.write(data);
      const result = await up.complete(header);
      assert.deepEqual(names(s3), ['PutObject'], `size ${size}`);
      assert.equal(result.parts, 1);
      const expected = Uint8Array.from(data);
      expected.set(header);
      assertBytes(s3.objects.get('out.hxz')!.body, expected);
    }
  });

  test('backpressure: at most `concurrency` parts in flight, write() waits for them', async () => {
    const s3 = new FakeS3();
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    s3.hook = async (name) => {
      if (name === 'UploadPart') await gate;
    };
    const up = await create(s3, { concurrency: 3 });
    const part = randomData(5 * MiB, 36);
    for (let i = 0; i < 3; i++) await up.write(part); // parts 1–3 start
    let done = false;
    const fourth = up.write(part).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'the 4th part waits while 3 are in flight');
    assert.equal(s3.inFlight, 3);
    release();
    gate = Promise.resolve();
    await fourth;
    await up.write(part);
    await up.complete();
    assert.equal(s3.maxInFlight, 3);
    assert.equal(s3.objects.get('out.hxz')!.body.length, 25 * MiB);
  });

  test('a failed part: the next write throws (transient), abort removes the pending upload', async () => {
    const s3 = new FakeS3();
    s3.hook = (name, input) => {
      if (name === 'UploadPart' && input.PartNumber === 2) throw sdkError('ServiceUnavailable', 503);
    };
    const up = await create(s3);
    const part = randomData(5 * MiB, 37);
    let error: unknown;
    try {
      for (let i = 0; i < 10; i++) await up.write(part);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof StoreError && error.transient, String(error));
    assert.equal(s3.uploads.size, 1);
    await up.abort();
    assert.equal(s3.uploads.size, 0);
    assert.equal(s3.objects.size, 0);
    assert.ok(names(s3).includes('AbortMultipartUpload'));
    await assert.rejects(up.complete(), UsageError);
  });

  test('a failed complete aborts the upload itself', async () => {
    const s3 = new FakeS3();
    s3.hook = (name) => {
      if (name === 'CompleteMultipartUpload') throw sdkError('InternalError', 500);
    };
    const up = await create(s3, { holdFirstPart: true });
    await up.write(randomData(7 * MiB, 38));
    await assert.rejects(up.complete(new Uint8Array(4096)), (err: unknown) => err instanceof StoreError && err.transient);
    assert.equal(s3.uploads.size, 0);
    assert.equal(s3.objects.size, 0);
  });

  test('abort while parts are in flight waits for them, then aborts', async () => {
    const s3 = new FakeS3();
    s3.hook = async (name) => {
      if (name === 'UploadPart') await new Promise((r) => setTimeout(r, 30));
    };
    const up = await create(s3, { concurrency: 4 });
    await up.write(randomData(20 * MiB, 39));
    await up.abort();
    assert.equal(s3.inFlight, 0);
    assert.equal(s3.uploads.size, 0);
    await up.abort(); // idempotent
  });

  test('the signal: aborted writes throw AbortedError; abort() still removes the upload', async () => {
    const s3 = new FakeS3();
    const ac = new AbortController();
    const up = await create(s3, { signal: ac.signal });
    await up.write(randomData(6 * MiB, 40));
    ac.abort();
    await assert.rejects(up.write(new Uint8Array(1)), AbortedError);
    await up.abort();
    assert.equal(s3.uploads.size, 0);
  });

  test('bad options are UsageErrors', async () => {
    const s3 = new FakeS3();
    await assert.rejects(create(s3, { partSize: 1 * MiB }), UsageError);
    await assert.rejects(create(s3, { concurrency: 0 }), UsageError);
    const up = await create(s3, { holdFirstPart: true });
    await up.write(new Uint8Array(100));
    await assert.rejects(up.complete(new Uint8Array(4096)), UsageError, 'a header longer than what was written');
  });
});
