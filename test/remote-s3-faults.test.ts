/**
 * radosgw killed (SIGKILL, as a crash) in the middle of reads of an archive opened through
 * s3://, with the Ceph cluster behind it still running: a large sequential read and many random
 * reads are in flight. Restarted after a short delay, every read either returns exactly the
 * right bytes (after retrying) or rejects with a StoreError, never wrong bytes, and all settle
 * within a bound; left down, reads fail with a transient StoreError once the retries are spent,
 * within a bound computed from the retry settings, and the same archive reads again once
 * radosgw is back. The HTTP counterpart (nginx stopped and restarted) is in http-source.test.ts.
 * One cluster for the file (its own: killing radosgw would disturb remote-s3.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Archive } from '../src/index.ts';
import { StoreError } from '../src/errors.ts';
import { createS3Client } from '../src/store/s3-client.ts';
import type { S3ClientLike } from '../src/store/s3-client.ts';
import type { RetryOptions } from '../src/store/retrying-source.ts';
import { cephSkip, startCeph, type CephServer } from './servers/ceph.ts';
import { Rng, assertBytes, mixedData, packSmall, runCli, tempDir, writeData } from './helpers.ts';

const BUCKET = 'hexz-faults';
const KEY = 'big.hxz';
const ARCHIVE_URL = `s3://${BUCKET}/${KEY}`;
const KiB = 1 << 10;
const MiB = 1 << 20;
const tmp = tempDir('hexz-remote-s3-faults-');
after(() => tmp.cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or a rejection naming `what` when it has not settled within `ms` (a hang). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The longest a RetryingSource can sleep between the attempts of one read (±50% jitter). */
function maxRetrySleepMs(r: Required<Pick<RetryOptions, 'retries' | 'baseDelayMs' | 'maxDelayMs'>>): number {
  let ms = 0;
  for (let n = 0; n < r.retries; n++) ms += Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** n) * 1.5;
  return ms;
}

/** What became of the reads of one scenario. */
interface Outcome {
  ok: number;
  transient: number;
  permanent: number;
  messages: Set<string>;
}

/** Counts a settled read: right bytes (checked by the caller) or a StoreError; anything else fails the test. */
function tally(outcome: Outcome, r: PromiseSettledResult<unknown>, what: string): void {
  if (r.status === 'fulfilled') {
    outcome.ok++;
    return;
  }
  assert.ok(r.reason instanceof StoreError, `${what}: rejected with ${r.reason?.name ?? typeof r.reason}, not a StoreError: ${r.reason?.message ?? r.reason}`);
  if (r.reason.transient) outcome.transient++;
  else outcome.permanent++;
  outcome.messages.add(r.reason.message.replace(/^\S+: /, '').replace(/\d+-\d+/g, 'A-B'));
}

describe('archives in S3 while radosgw is killed (SIGKILL)', { skip: cephSkip() }, () => {
  let ceph: CephServer | undefined;
  let client: S3Client;
  let env: Record<string, string>;
  // 64 MiB in 64 KiB blocks: random, text, zero, duplicate and half-zero blocks (mixedData).
  const disk = mixedData(64 * MiB, { unit: 64 * KiB, seed: 91 });

  before(async () => {
    ceph = await startCeph();
    assert.ok(ceph, 'Ceph is installed but did not start');
    // One attempt per request in the SDK, as `openSource` builds it: the RetryingSource under
    // test does the retrying, and the bounds below are computed from its settings alone.
    client = await createS3Client({ endpoint: ceph.endpoint, region: ceph.region, credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey }, maxAttempts: 1 });
    env = { AWS_ACCESS_KEY_ID: ceph.accessKey, AWS_SECRET_ACCESS_KEY: ceph.secretKey, AWS_REGION: ceph.region, AWS_ENDPOINT_URL: ceph.endpoint, AWS_EC2_METADATA_DISABLED: 'true' };
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const path = tmp.path(KEY);
    await packSmall({ disk: writeData(tmp.path('big.raw'), disk), output: path, workers: 2 });
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: readFileSync(path) }));
  }, { timeout: 240_000 });

  after(async () => {
    client?.destroy();
    // Also when a test failed with radosgw down or a restart under way: every daemon ends.
    await ceph?.stop();
  });

  /**
   * Opens the archive through s3:// with no cache above the network (neither decoded blocks nor
   * source pages), so every read during the outage really goes to radosgw; `failedSends`
   * counts SDK requests that failed (the outage was felt).
   */
  async function open(retry: RetryOptions) {
    const counter = { failedSends: 0 };
    const counting: S3ClientLike = {
      send: (command, options) => client.send(command, options).catch((err: unknown) => {
        counter.failedSends++;
        throw err;
      }),
    };
    const a = await Archive.open(ARCHIVE_URL, { cacheBytes: 0, source: { s3Client: counting, retry, cacheBytes: 0 } });
    return { a, counter };
  }

  /** Reads the whole disk stream through createReadStream, checking every chunk as it comes. */
  async function sequentialRead(a: Archive, onProgress: (done: number) => void): Promise<number> {
    let at = 0;
    for await (const chunk of a.createReadStream('disk')) {
      const c = chunk as Uint8Array;
      assertBytes(c, disk.subarray(at, at + c.length), `sequential read at ${at}`);
      at += c.length;
      onProgress(at);
    }
    assert.equal(at, disk.length, 'the sequential read ended early');
    return at;
  }

  /** Eight concurrent random reads, each checked against the local bytes. */
  function randomRound(a: Archive, rng: Rng): Promise<PromiseSettledResult<unknown>[]> {
    return Promise.allSettled(Array.from({ length: 8 }, async () => {
      const o = rng.int(disk.length);
      const l = 1 + rng.int(Math.min(512 * KiB, disk.length - o));
      const got = await a.readAt('disk', o, l);
      assertBytes(got, disk.subarray(o, o + l), `random read(${o}, ${l})`);
    }));
  }

  test('killed mid-read and restarted: every read is right or a StoreError, never wrong bytes, never a hang', { timeout: 120_000 }, async () => {
    const retry = { retries: 6, baseDelayMs: 100, maxDelayMs: 1000 };
    const { a, counter } = await open(retry);
    const outage: { done?: Promise<number>; state: 'up' | 'down' | 'back' | 'failed'; restartMs: number } = { state: 'up', restartMs: 0 };
    try {
      const outcome: Outcome = { ok: 0, transient: 0, permanent: 0, messages: new Set() };
      // Killed once the sequential read is a quarter through (so surely in flight, however fast
      // radosgw is here); started again 300 ms after it has exited (its startup takes ~1 s).
      let killedBy = '';
      const kill = (by: string) => {
        if (outage.done) return;
        killedBy = by;
        outage.state = 'down';
        outage.done = ceph!.killRadosgw().then(() => sleep(300)).then(() => ceph!.restartRadosgw());
        outage.done.then((ms) => Object.assign(outage, { state: 'back', restartMs: ms }), () => (outage.state = 'failed'));
      };
      const sequential = sequentialRead(a, (done) => {
        if (done >= disk.length / 4) kill(`the sequential read at ${done} bytes`);
      });
      // Three loops of rounds of 8 random reads (24 at once, beside the sequential read), from
      // the start until ten rounds after radosgw is back.
      let overlapping = 0;
      const randomLoop = async (loop: number) => {
        const rng = new Rng(5 + loop);
        let rounds = 0;
        let roundsAfter = 0;
        while (roundsAfter < 10 && outage.state !== 'failed') {
          const from = outage.state;
          const results = await randomRound(a, rng);
          results.forEach((r, i) => tally(outcome, r, `loop ${loop} round ${rounds} read ${i}`));
          // Begun before radosgw was back, ended after it was killed: in flight during the outage.
          if (from !== 'back' && outage.state !== 'up') overlapping++;
          if (outage.state === 'back') roundsAfter++;
          // On a machine fast enough to finish the sequential read first: kill anyway.
          if (++rounds === 20) kill(`random round ${rounds}`);
        }
      };
      const random = Promise.all([0, 1, 2].map(randomLoop));
      // Bound: the outage (kill, 300 ms, a restart within 60 s at worst) plus one read's whole
      // retry budget and the reads themselves; a few seconds in practice.
      const [seq, rand] = await within(100_000, 'reads across the outage', Promise.allSettled([sequential, random]));
      tally(outcome, seq, 'the sequential read');
      // Anything but a StoreError (wrong bytes above all) fails here with its own message.
      if (rand.status === 'rejected') throw rand.reason;
      await within(70_000, 'the restart', outage.done!);
      const seqText = seq.status === 'fulfilled' ? 'right' : `failed (${seq.reason.message})`;
      console.log(`# radosgw killed by ${killedBy}, back in ${outage.restartMs} ms: sequential read ${seqText}; ${outcome.ok} reads right, ` +
        `${outcome.transient} transient and ${outcome.permanent} permanent StoreErrors (${[...outcome.messages].join('; ')}); ` +
        `${overlapping} rounds of random reads in flight during the outage; ${counter.failedSends} requests failed`);
      assert.ok(counter.failedSends > 0, 'no request failed: radosgw was not killed while reads were going on');
      assert.ok(overlapping > 0, 'no random read was in flight during the outage');
      assert.ok(outcome.ok >= 3 * 10 * 8, `${outcome.ok} reads right`);
      // The same archive reads again, at once, after the outage.
      const at = 37 * MiB + 123;
      assertBytes(await a.readAt('disk', at, 300 * KiB), disk.subarray(at, at + 300 * KiB), 'after the restart');
    } finally {
      await outage.done?.catch(() => {});
      await a.close();
    }
  });

  test('killed and left down: reads fail with a transient StoreError after the retries, within a bound; they work again once it is back', { timeout: 120_000 }, async () => {
    const retry = { retries: 3, baseDelayMs: 100, maxDelayMs: 400 };
    const { a, counter } = await open(retry);
    let down = false;
    try {
      await ceph!.killRadosgw();
      down = true;
      // Refused connections fail at once: a request costs its retry sleeps and little more. A
      // request holds one of the 8 slots of the remote stack while it sleeps between attempts,
      // so the 9 reads below (the sequential one several requests at once) take a few rounds.
      const budget = maxRetrySleepMs(retry) + 500;
      const bound = 4 * budget;
      const rng = new Rng(9);
      const started = Date.now();
      const reads: Promise<unknown>[] = [
        sequentialRead(a, () => {}),
        ...Array.from({ length: 8 }, () => {
          const o = rng.int(disk.length - 64 * KiB);
          return a.readAt('disk', o, 1 + rng.int(64 * KiB));
        }),
      ];
      const settled = await within(bound + 10_000, 'reads with radosgw down', Promise.allSettled(reads));
      const elapsed = Date.now() - started;
      settled.forEach((r, i) => {
        assert.equal(r.status, 'rejected', `read ${i} succeeded with radosgw down`);
        const err = (r as PromiseRejectedResult).reason;
        assert.ok(err instanceof StoreError, `read ${i}: ${err}`);
        assert.equal(err.transient, true, `read ${i}: a transient StoreError: ${err.message}`);
      });
      console.log(`# radosgw down: ${settled.length} reads failed (transient StoreError) in ${elapsed} ms (bound ${bound} ms; one request's retry sleeps at most ${maxRetrySleepMs(retry)} ms); ` +
        `${counter.failedSends} requests failed: ${(settled[1] as PromiseRejectedResult).reason.message}`);
      assert.ok(elapsed <= bound, `the reads took ${elapsed} ms to fail (bound ${bound} ms)`);
      assert.ok(counter.failedSends >= retry.retries + 1, `${counter.failedSends} failed requests: were the reads retried?`);

      // The CLI (default retries, a fresh process): exit 6 with one line, in bounded time.
      const t = Date.now();
      const cli = runCli(['cat', ARCHIVE_URL, '--length', '4K'], { env });
      const cliMs = Date.now() - t;
      assert.equal(cli.status, 6, `exit ${cli.status}: ${cli.stderr}`);
      assert.match(cli.stderr, /^hexz: [^\n]*\n$/);
      assert.ok(cliMs < 20_000, `hexz cat took ${cliMs} ms to fail`);

      const restartMs = await ceph!.restartRadosgw();
      down = false;
      // The archive opened before the outage reads right again: no failure was remembered.
      const at = 11 * MiB + 5;
      assertBytes(await a.readAt('disk', at, 200 * KiB), disk.subarray(at, at + 200 * KiB), 'after radosgw is back');
      console.log(`# hexz cat with radosgw down: exit 6 in ${cliMs} ms (${cli.stderr.trim()}); radosgw back in ${restartMs} ms`);
    } finally {
      // Leave the cluster as found for any later test; stop() in after() ends it either way.
      if (down) await ceph!.restartRadosgw().catch(() => {});
      await a.close();
    }
  });
});
