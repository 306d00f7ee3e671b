/**
 * S3Source, listS3, parseS3Url, the S3 error mapping and createS3Client without a server: an
 * in-memory fake S3 client (test/fake-s3.ts) that can fail, ignore Range or ignore If-Match.
 * The same behaviours against real radosgw are in s3.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError, StoreError, UsageError } from '../src/errors.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { s3Error } from '../src/store/s3-errors.ts';
import { S3Source, listS3, parseS3Url } from '../src/store/s3-source.ts';
import { FIRST_CONTACT_BYTES } from '../src/store/first-contact.ts';
import { FakeS3, sdkError } from './fake-s3.ts';
import { Rng, assertBytes, randomData } from './helpers.ts';

// Past the first contact (256 KiB): reads beyond it are requests of their own.
const data = randomData(600_000, 21);

function setup(): { s3: FakeS3; source: S3Source } {
  const s3 = new FakeS3();
  s3.put('a/b.hxz', data);
  return { s3, source: new S3Source({ bucket: 'bk', key: 'a/b.hxz', client: s3 }) };
}

const isStoreError = (transient: boolean, pattern?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof StoreError, String(err));
  assert.equal(err.transient, transient, err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

describe('parseS3Url', () => {
  test('bucket and key with slashes; escapes decoded', () => {
    assert.deepEqual(parseS3Url('s3://bk/a/b/c.hxz'), { bucket: 'bk', key: 'a/b/c.hxz' });
    assert.deepEqual(parseS3Url('s3://bk/my%20disk.hxz'), { bucket: 'bk', key: 'my disk.hxz' });
    assert.deepEqual(parseS3Url('s3://bk/100%.hxz'), { bucket: 'bk', key: '100%.hxz' });
    assert.deepEqual(parseS3Url('S3://bk/x'), { bucket: 'bk', key: 'x' });
    assert.deepEqual(parseS3Url('s3://bk', { prefix: true }), { bucket: 'bk', key: '' });
    assert.deepEqual(parseS3Url('s3://bk/dir/', { prefix: true }), { bucket: 'bk', key: 'dir/' });
  });
  test('bad URLs are UsageErrors', () => {
    for (const url of ['http://bk/x', 's3:/bk/x', 's3://', 's3:///x', 's3://bk', 's3://bk/', 's3://b/x', 's3://bad bucket/x', `s3://bk/${'k'.repeat(1025)}`]) {
      assert.throws(() => parseS3Url(url), UsageError, url);
    }
  });
});

describe('S3Source (fake S3)', () => {
  test('the first request learns size and ETag; later ones are ranged and pinned with IfMatch', async () => {
    const { s3, source } = setup();
    assert.equal(source.name, 's3://bk/a/b.hxz');
    assert.equal(await source.size(), data.length);
    assertBytes(await source.read(10, 4096), data.subarray(10, 4106));
    assert.equal(s3.calls.length, 1);
    assert.equal(s3.calls[0]!.input.Range, `bytes=0-${FIRST_CONTACT_BYTES - 1}`);
    assertBytes(await source.read(FIRST_CONTACT_BYTES - 1000, 2000), data.subarray(FIRST_CONTACT_BYTES - 1000, FIRST_CONTACT_BYTES + 1000));
    assert.equal(s3.calls[1]!.input.Range, `bytes=${FIRST_CONTACT_BYTES}-${FIRST_CONTACT_BYTES + 999}`, 'only the part past the kept head');
    assert.equal(s3.calls[1]!.input.IfMatch, s3.objects.get('a/b.hxz')!.etag);
    const rng = new Rng(5);
    for (let i = 0; i < 20; i++) {
      const offset = rng.int(data.length + 10);
      const length = rng.int(50_000);
      assertBytes(await source.read(offset, length), data.subarray(offset, offset + length));
    }
  });

  test('a replaced object: 412 from IfMatch, or (a server ignoring IfMatch) a different ETag', async () => {
    for (const ignoreIfMatch of [false, true]) {
      const { s3, source } = setup();
      s3.ignoreIfMatch = ignoreIfMatch;
      await source.size();
      s3.put('a/b.hxz', randomData(data.length, 22));
      await assert.rejects(source.read(400_000, 10), isStoreError(false, /changed while open/));
    }
    // Same ETag (a server with weak ETags), other size: the total in Content-Range tells.
    const { s3, source } = setup();
    await source.size();
    const etag = s3.objects.get('a/b.hxz')!.etag;
    s3.put('a/b.hxz', data.subarray(0, 450_000));
    s3.objects.get('a/b.hxz')!.etag = etag;
    await assert.rejects(source.read(400_000, 10), isStoreError(false, /changed while open/));
  });

  test('a server that ignores Range is still read right', async () => {
    const { s3, source } = setup();
    s3.ignoreRange = true;
    assert.equal(await source.size(), data.length);
    assertBytes(await source.read(100, 100), data.subarray(100, 200));
    assertBytes(await source.read(data.length - 50_000, 60_000), data.subarray(data.length - 50_000));
  });

  test('errors: 404/403/416 permanent; 5xx, SlowDown, network errors transient; abort is AbortedError', async () => {
    const cases: [Error, boolean, RegExp][] = [
      [sdkError('NoSuchKey', 404), false, /not found/],
      [sdkError('AccessDenied', 403), false, /access denied/],
      [sdkError('InvalidRange', 416), false, /range not satisfiable/],
      [sdkError('InternalError', 500), true, /500/],
      [sdkError('ServiceUnavailable', 503), true, /503/],
      [sdkError('SlowDown', 503), true, /SlowDown/],
      [sdkError('Error', undefined, { code: 'ECONNRESET' }), true, /ECONNRESET/],
      [sdkError('TimeoutError'), true, /TimeoutError/],
      [sdkError('CredentialsProviderError'), false, /CredentialsProviderError/],
    ];
    for (const [err, transient, pattern] of cases) {
      const { s3, source } = setup();
      await source.size();
      s3.hook = () => {
        throw err;
      };
      await assert.rejects(source.read(400_000, 10), isStoreError(transient, pattern), err.name);
    }
    const { source } = setup();
    await assert.rejects(source.read(0, 10, { signal: AbortSignal.abort() }), AbortedError);
    assert.ok(s3Error(sdkError('AbortError'), 'x', 'y') instanceof AbortedError);
  });

  test('a failed first contact is not remembered', async () => {
    const { s3, source } = setup();
    let fail = true;
    s3.hook = () => {
      if (fail) throw sdkError('ServiceUnavailable', 503);
    };
    await assert.rejects(source.size(), isStoreError(true));
    fail = false;
    assert.equal(await source.size(), data.length);
  });

  test('an empty object (416 on the first range) has size 0', async () => {
    const s3 = new FakeS3();
    s3.put('e', new Uint8Array(0));
    const source = new S3Source({ bucket: 'bk', key: 'e', client: s3 });
    assert.equal(await source.size(), 0);
    assert.equal((await source.read(0, 10)).length, 0);
    assert.deepEqual(s3.calls.map((c) => c.name), ['GetObject', 'HeadObject']);
  });

  test('a missing object is a permanent StoreError', async () => {
    const source = new S3Source({ bucket: 'bk', key: 'nope', client: new FakeS3() });
    await assert.rejects(source.read(0, 1), isStoreError(false, /s3:\/\/bk\/nope: .*not found/));
  });
});

describe('listS3 (fake S3)', () => {
  test('every page under the prefix', async () => {
    const s3 = new FakeS3();
    for (let i = 0; i < 25; i++) s3.put(`p/${String(i).padStart(2, '0')}.hxz`, new Uint8Array(i));
    s3.put('q/other', new Uint8Array(1));
    const all = await listS3('s3://bk/p/', s3, { pageSize: 10 });
    assert.equal(all.length, 25);
    assert.equal(s3.calls.length, 3);
    assert.deepEqual(all[7], { key: 'p/07.hxz', size: 7, etag: s3.objects.get('p/07.hxz')!.etag });
    assert.equal(s3.calls[0]!.input.Prefix, 'p/');
    assert.equal((await listS3('s3://bk', s3)).length, 26);
  });
});

describe('createS3Client', () => {
  test('region and endpoint from the environment; path style with a custom endpoint', async () => {
    const c1 = await createS3Client({ env: { AWS_DEFAULT_REGION: 'eu-west-3', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' } });
    assert.equal(await c1.config.region(), 'eu-west-3');
    assert.equal(c1.config.forcePathStyle, true);
    const ep = await c1.config.endpoint!();
    assert.equal(`${ep.protocol}//${ep.hostname}:${ep.port}`, 'http://127.0.0.1:9');
    c1.destroy();
    const c2 = await createS3Client({ env: { AWS_REGION: 'ap-south-1', AWS_DEFAULT_REGION: 'eu-west-3', AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://b:2' } });
    assert.equal(await c2.config.region(), 'ap-south-1');
    assert.equal((await c2.config.endpoint!()).hostname, 'b');
    c2.destroy();
    const c3 = await createS3Client({ env: {}, region: 'us-west-2' });
    assert.equal(await c3.config.region(), 'us-west-2');
    assert.equal(c3.config.forcePathStyle, false);
    c3.destroy();
  });

  test('no region anywhere: us-east-1, not "Region is missing"', { skip: process.env.AWS_REGION || process.env.AWS_PROFILE ? 'the process environment names a region or profile' : false }, async () => {
    const c = await createS3Client({ env: {}, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    assert.equal(await c.config.region(), 'us-east-1');
    c.destroy();
  });
});
