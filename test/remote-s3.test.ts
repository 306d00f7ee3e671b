/**
 * Archives in S3, against a real radosgw (one Ceph cluster for the file): every golden vector
 * read back through `Archive.open('s3://…')` (plain, lz4, CDC, dictionary, encrypted, signed,
 * thin chains whose parents are found in the same prefix), `hexz ls s3://prefix/`, and
 * `hexz push` / `hexz pull` of a 3-deep thin chain: only what is missing is uploaded, an aborted
 * push leaves no object and no pending upload, a pull is verified and byte-identical.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Archive } from '../src/index.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import { S3Source } from '../src/store/s3-source.ts';
import { CountingSource } from '../src/store/counting-source.ts';
import { FIRST_CONTACT_BYTES } from '../src/store/first-contact.ts';
import type { S3ClientLike } from '../src/store/s3-client.ts';
import { wrapRemote } from '../src/store/wrap-remote.ts';
import { push } from '../src/ops/push.ts';
import { pack } from '../src/pack/pack.ts';
import { AbortedError } from '../src/errors.ts';
import { verify } from '../src/ops/verify.ts';
import { cephSkip, startCeph, type CephServer } from './servers/ceph.ts';
import { assertBytes, mixedData, packSmall, randomData, runCli, tempDir, writeData } from './helpers.ts';

const BUCKET = 'hexz-remote';
const vectors = new URL('./vectors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(vectors, 'vectors.json'), 'utf8')) as {
  vectors: Record<string, { archive: string; password?: string; streams: Record<string, { file: string }> }>;
};
const tmp = tempDir('hexz-remote-s3-');
after(() => tmp.cleanup());

describe('archives in S3 (radosgw)', { skip: cephSkip() }, () => {
  let ceph: CephServer | undefined;
  let client: S3Client;
  let env: Record<string, string>;

  before(async () => {
    ceph = await startCeph();
    assert.ok(ceph, 'Ceph is installed but did not start');
    client = await createS3Client({ endpoint: ceph.endpoint, region: ceph.region, credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey } });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    env = { AWS_ACCESS_KEY_ID: ceph.accessKey, AWS_SECRET_ACCESS_KEY: ceph.secretKey, AWS_REGION: ceph.region, AWS_ENDPOINT_URL: ceph.endpoint, AWS_EC2_METADATA_DISABLED: 'true' };
    for (const f of readdirSync(vectors).filter((n) => n.endsWith('.hxz'))) {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `vectors/${f}`, Body: readFileSync(join(vectors, f)) }));
    }
  }, { timeout: 240_000 });

  after(async () => {
    client?.destroy();
    await ceph?.stop();
  });

  test('every golden vector reads back through s3:// (thin parents found in the same prefix)', async () => {
    for (const [name, v] of Object.entries(manifest.vectors)) {
      const a = await Archive.open(`s3://${BUCKET}/vectors/${v.archive}`, { password: v.password, source: { s3Client: client } });
      try {
        for (const [stream, s] of Object.entries(v.streams)) {
          const expected = readFileSync(join(vectors, s.file));
          assertBytes(await a.readAt(stream as 'disk', 0, a.size(stream as 'disk')), expected, `${name} ${stream}`);
        }
      } finally {
        await a.close();
      }
    }
  });

  /** Opens `key` fresh and reads 4 KiB at `at`; the GetObject ranges it took. */
  async function openAndRead(key: string, at: number, expected: Uint8Array): Promise<string[]> {
    const ranges: string[] = [];
    const counting: S3ClientLike = {
      send: (command, options) => {
        ranges.push(command.input.Range ?? command.constructor.name);
        return client.send(command, options);
      },
    };
    const counted = new CountingSource(new S3Source({ bucket: BUCKET, key, client: counting }));
    const a = await Archive.open(wrapRemote(counted));
    try {
      assertBytes(await a.readAt('disk', at, 4096), expected, `${key}: first read`);
      console.log(`# S3 ${key}: open + first 4 KiB read: ${ranges.length} requests (${ranges.join(', ')}), object ${a.fileSize} bytes, index ${a.header.streams[0].stats.indexBytes} bytes`);
      return ranges;
    } finally {
      await a.close();
    }
  }

  test('open + first 4 KiB read of a never-seen archive in S3: 2 requests (the whole index in the front area)', async () => {
    const disk = mixedData(24 << 20, { unit: 65536, seed: 17 });
    const path = tmp.path('medium.hxz');
    await packSmall({ disk: writeData(tmp.path('medium.raw'), disk), output: path });
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'counted/medium.hxz', Body: readFileSync(path) }));
    const at = 5 << 20;
    const ranges = await openAndRead('counted/medium.hxz', at, disk.subarray(at, at + 4096));
    // The first 256 KiB (header and whole index), then the block.
    assert.equal(ranges.length, 2, ranges.join(', '));
    assert.equal(ranges[0], `bytes=0-${FIRST_CONTACT_BYTES - 1}`);
  });

  test('packed straight into S3 with an index above 4 MiB: open + first 4 KiB read is 3 requests', async () => {
    // 100,000 entries of 4 KiB (6.4 MB of index, too big to preload), from a pipe: the writer
    // reserves the largest front area, held back in part 1 of the upload with the header.
    const blocks = 100_000;
    const far = randomData(4096, 91);
    const same = new Uint8Array(4096).fill(0x5a);
    const input = Readable.from((function* () {
      for (let i = 0; i < blocks; i += 256) yield Buffer.concat(Array.from({ length: Math.min(256, blocks - i) }, (_, k) => (i + k === 90_000 ? far : same)));
    })());
    await packSmall({ disk: input, output: `s3://${BUCKET}/counted/big.hxz`, s3Client: client, blockSize: 4096, workers: 2 });
    const ranges = await openAndRead('counted/big.hxz', 90_000 * 4096, far);
    // The first 256 KiB (header and root), one leaf, the block.
    assert.equal(ranges.length, 3, ranges.join(', '));
    assert.equal(ranges[0], `bytes=0-${FIRST_CONTACT_BYTES - 1}`);
  });

  describe('push, ls and pull of a 3-deep chain', () => {
    const gen = [mixedData(3 << 20, { unit: 65536, seed: 61 })];
    for (let i = 1; i < 3; i++) {
      const next = gen[i - 1].slice();
      next.set(randomData(200_000, 70 + i), i * 700_000);
      gen.push(next);
    }
    const local = (i: number) => tmp.path(`chain/gen${i}.hxz`);

    before(async () => {
      mkdirSync(tmp.path('chain'));
      for (let i = 0; i < 3; i++) {
        await packSmall({ disk: writeData(tmp.path(`gen${i}.raw`), gen[i]), output: local(i), parent: i > 0 ? local(i - 1) : undefined });
      }
    });

    test('push uploads the chain parents first; a second push finds everything present', async () => {
      const first = runCli(['push', local(2), `s3://${BUCKET}/chain/`, '--json'], { env });
      assert.equal(first.status, 0, first.stderr.toString());
      const r1 = JSON.parse(first.stdout.toString());
      assert.deepEqual(r1.archives.map((a: { url: string; status: string }) => [a.url, a.status]), [0, 1, 2].map((i) => [`s3://${BUCKET}/chain/gen${i}.hxz`, 'uploaded']));
      // Only the top of the chain is new to this prefix the second time round: nothing to do.
      const second = JSON.parse(runCli(['push', local(2), `s3://${BUCKET}/chain/`, '--json'], { env }).stdout.toString());
      assert.deepEqual(second.archives.map((a: { status: string }) => a.status), ['present', 'present', 'present']);
      assert.equal(second.uploadedBytes, 0);
      // Matched by content, not by name: a prefix holding gen0 under another name gets only gen1, gen2.
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other/renamed-base.hxz', Body: readFileSync(local(0)) }));
      const third = JSON.parse(runCli(['push', local(2), `s3://${BUCKET}/other/`, '--json'], { env }).stdout.toString());
      assert.deepEqual(third.archives.map((a: { status: string }) => a.status), ['present', 'uploaded', 'uploaded']);
      assert.equal(third.archives[0].url, `s3://${BUCKET}/other/renamed-base.hxz`);
    });

    test('the pushed child reads through s3:// with its chain; ls shows the lineage', async () => {
      const a = await Archive.open(`s3://${BUCKET}/chain/gen2.hxz`, { source: { s3Client: client } });
      try {
        assertBytes(await a.readAt('disk', 0, gen[2].length), gen[2], 'gen2 over S3');
        assert.equal(a.parents.length, 2, 'two slots, both found in the prefix');
      } finally {
        await a.close();
      }
      const ls = runCli(['ls', `s3://${BUCKET}/chain/`, '--json'], { env });
      assert.equal(ls.status, 0, ls.stderr.toString());
      const tree = JSON.parse(ls.stdout.toString());
      assert.equal(tree.archives, 3);
      assert.equal(tree.roots.length, 1);
      assert.equal(tree.roots[0].path, 'gen0.hxz');
      assert.equal(tree.roots[0].children[0].children[0].path, 'gen2.hxz');
      const cat = runCli(['cat', `s3://${BUCKET}/chain/gen2.hxz`, '--offset', '700000', '--length', '200000'], { env });
      assert.equal(cat.status, 0, cat.stderr.toString());
      assertBytes(cat.stdout, gen[2].subarray(700_000, 900_000), 'cat over S3');
    });

    test('pull downloads the chain, verified and byte-identical, and skips what is there', async () => {
      const dir = tmp.path('pulled');
      const r = runCli(['pull', `s3://${BUCKET}/chain/gen2.hxz`, dir, '--json'], { env });
      assert.equal(r.status, 0, r.stderr.toString());
      const report = JSON.parse(r.stdout.toString());
      assert.deepEqual(report.archives.map((a: { status: string; verified: string }) => [a.status, a.verified]), [['downloaded', 'blocks'], ['downloaded', 'blocks'], ['downloaded', 'blocks']]);
      for (let i = 0; i < 3; i++) assert.ok(readFileSync(join(dir, `gen${i}.hxz`)).equals(readFileSync(local(i))), `gen${i} identical`);
      assert.equal((await verify(join(dir, 'gen2.hxz'))).ok, true);
      assert.deepEqual(readdirSync(dir).sort(), ['gen0.hxz', 'gen1.hxz', 'gen2.hxz'], 'no temporary files left');
      const again = JSON.parse(runCli(['pull', `s3://${BUCKET}/chain/gen2.hxz`, dir, '--json'], { env }).stdout.toString());
      assert.deepEqual(again.archives.map((a: { status: string }) => a.status), ['present', 'present', 'present']);
    });

    test('pack -o s3:// streams the archive into S3; a thin pack names an s3:// parent; an aborted pack leaves nothing', async () => {
      const next = gen[2].slice();
      next.set(randomData(100_000, 80), 2_000_000);
      const raw = writeData(tmp.path('gen3.raw'), next);
      const r = runCli(['pack', '--disk', raw, '--parent', `s3://${BUCKET}/chain/gen2.hxz`, '-o', `s3://${BUCKET}/chain/gen3.hxz`, '--json'], { env });
      assert.equal(r.status, 0, r.stderr.toString());
      const a = await Archive.open(`s3://${BUCKET}/chain/gen3.hxz`, { source: { s3Client: client } });
      try {
        assertBytes(await a.readAt('disk', 0, next.length), next, 'gen3 packed into S3');
        assert.equal(a.parentRecords[0].path, 'gen2.hxz', 'parent recorded relative to the child, in the same prefix');
        assert.ok(a.fileSize < 1 << 20, 'thin: only what changed');
      } finally {
        await a.close();
      }
      const exists = runCli(['pack', '--disk', raw, '-o', `s3://${BUCKET}/chain/gen3.hxz`], { env });
      assert.equal(exists.status, 2, 'an existing object is refused without --force');
      const controller = new AbortController();
      const big = writeData(tmp.path('big2.raw'), randomData(48 << 20, 98));
      const packing = pack({ disk: big, output: `s3://${BUCKET}/packed/aborted.hxz`, compression: 'none', s3Client: client, signal: controller.signal, onProgress: (p) => { if (p.bytesDone > 20 << 20) controller.abort(); } });
      await assert.rejects(packing, AbortedError);
      await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'packed/aborted.hxz' })), (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 404);
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'packed/' }));
      assert.equal(uploads.Uploads?.length ?? 0, 0, 'the multipart upload was aborted');
    });

    test('an aborted push leaves no object and no pending multipart upload', async () => {
      const big = tmp.path('big.hxz');
      await packSmall({ disk: writeData(tmp.path('big.raw'), randomData(40 << 20, 99)), output: big, compression: 'none' });
      const controller = new AbortController();
      const p = push(big, `s3://${BUCKET}/aborted/`, { client, partSize: 5 << 20, signal: controller.signal, onProgress: (done) => { if (done > 12 << 20) controller.abort(); } });
      await assert.rejects(p, AbortedError);
      await assert.rejects(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'aborted/big.hxz' })), (e: { name?: string; $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 404 || e.name === 'NotFound');
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'aborted/' }));
      assert.equal(uploads.Uploads?.length ?? 0, 0, 'the multipart upload was aborted');
      // And a re-run completes it.
      const done = await push(big, `s3://${BUCKET}/aborted/`, { client });
      assert.equal(done.archives[0].status, 'uploaded');
    });
  });
});
