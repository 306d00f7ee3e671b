/**
 * Trained zstd dictionaries (format v3, feature DICTIONARY, docs/FORMAT.md §3.3): packing with
 * --train-dict round-trips through the in-thread codec and the decode workers, the dictionary
 * is stored after the header and verified by hash, lz4 is refused, and the embedded profile
 * uses one. Needs koffi + the system libzstd; skipped with a note when missing, except under
 * CI=true, where missing is a failure.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Archive, CorruptArchiveError, UsageError } from '../src/index.ts';
import { dictionaryTrainingAvailable, trainZstdDictionary } from '../src/codec/zstd-dict-trainer.ts';
import { FORMAT_VERSION, RequiredFeature } from '../src/format/constants.ts';
import { inspect } from '../src/ops/inspect.ts';
import { verify } from '../src/ops/verify.ts';
import { isUsefulSample, shannonEntropy } from '../src/pack/dict-samples.ts';
import { assertBytes, mixedData, packSmall, randomData, readAll, readableOf, tempDir, writeData } from './helpers.ts';

const tmp = tempDir('hexz-dict-');
after(() => tmp.cleanup());

const available = await dictionaryTrainingAvailable();
if (!available && process.env.CI === 'true') throw new Error('CI: koffi or the system libzstd (libzstd.so.1) is missing, dictionary tests cannot run');
const skip = available ? false : 'koffi or the system libzstd (libzstd.so.1) is missing; install libzstd1';

/** Text-like blocks that share vocabulary but are not duplicates: where a dictionary helps. */
function logLike(size: number, seed = 5): Uint8Array {
  const words = ['kernel:', 'eth0', 'link', 'up', 'systemd[1]:', 'Started', 'session', 'user', 'root', 'audit', 'denied', 'pid='];
  let x = seed;
  let s = '';
  while (s.length < size) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += `${words[x % words.length]} ${words[(x >>> 8) % words.length]} ${x % 99991}\n`;
  }
  return new TextEncoder().encode(s.slice(0, size));
}

describe('sample selection', () => {
  test('zero and random pieces are skipped, text is kept', () => {
    assert.equal(isUsefulSample(new Uint8Array(4096)), false);
    assert.equal(isUsefulSample(randomData(4096, 9)), false);
    assert.equal(isUsefulSample(logLike(4096)), true);
    assert.ok(shannonEntropy(randomData(65536, 2)) > 7.9);
  });
});

describe('dictionaries', { skip }, () => {
  test('trainer returns a zstd dictionary with an id', async () => {
    const data = logLike(256 * 1024);
    const samples = Array.from({ length: 64 }, (_, i) => data.subarray(i * 4096, (i + 1) * 4096));
    const d = await trainZstdDictionary(samples, 8192);
    assert.ok(d.bytes.length > 0 && d.bytes.length <= 8192);
    assert.ok(d.id > 0);
  });

  test('--train-dict packs smaller 4K blocks and round-trips (file input; verify decodes on workers, readAt in-thread)', async () => {
    const data = new Uint8Array(2 << 20);
    data.set(logLike(1 << 20), 0);
    data.set(mixedData(1 << 20, { seed: 4 }), 1 << 20);
    const input = writeData(tmp.path('log.raw'), data);
    const plain = await packSmall({ disk: input, output: tmp.path('plain.hxz'), blockSize: '4K', workers: 2 });
    const withDict = await packSmall({ disk: input, output: tmp.path('dict.hxz'), blockSize: '4K', workers: 2, trainDict: true });
    assert.ok(withDict.dictionary && withDict.dictionary.bytes > 0);
    assert.ok(withDict.dictionary.trainSeconds >= 0);
    assert.ok(withDict.archiveBytes < plain.archiveBytes, `${withDict.archiveBytes} vs ${plain.archiveBytes}`);
    const a = await Archive.open(tmp.path('dict.hxz'));
    try {
      assert.equal(a.header.version, FORMAT_VERSION);
      assert.ok(a.header.requiredFeatures & RequiredFeature.DICTIONARY);
      assert.equal(a.header.dictionary.offset, 4096);
      assertBytes(await readAll(a, 'disk'), data);
    } finally {
      await a.close();
    }
    assert.equal((await verify(tmp.path('dict.hxz'))).ok, true);
    const r = await inspect(tmp.path('dict.hxz'));
    assert.ok(r.dictionary && r.dictionary.bytes === withDict.dictionary.bytes && r.dictionary.gain > 1);
  });

  test('stream input is sampled from its first bytes and packed unchanged', async () => {
    const data = logLike(3 << 20, 11);
    const r = await packSmall({ disk: readableOf(data), output: tmp.path('s.hxz'), blockSize: '4K', trainDict: true });
    assert.ok(r.dictionary);
    const a = await Archive.open(tmp.path('s.hxz'));
    try {
      assertBytes(await readAll(a, 'disk'), data);
    } finally {
      await a.close();
    }
  });

  test('a damaged dictionary is refused by hash', async () => {
    const bytes = readFileSync(tmp.path('s.hxz'));
    bytes[4096 + 100] ^= 0xff;
    writeFileSync(tmp.path('bad.hxz'), bytes);
    await assert.rejects(Archive.open(tmp.path('bad.hxz')), (e) => e instanceof CorruptArchiveError && /dictionary hash/.test(e.message));
  });

  test('the embedded profile trains a dictionary; --train-dict=false leaves it out', async () => {
    const input = writeData(tmp.path('emb.raw'), logLike(1 << 20, 3));
    const r = await packSmall({ disk: input, output: tmp.path('emb.hxz'), profile: 'embedded' });
    assert.ok(r.dictionary);
    const n = await packSmall({ disk: input, output: tmp.path('emb2.hxz'), profile: 'embedded', trainDict: false });
    assert.equal(n.dictionary, null);
  });
});

test('--train-dict with lz4 is refused', async () => {
  await assert.rejects(
    packSmall({ disk: writeData(tmp.path('x.raw'), logLike(65536)), output: tmp.path('x.hxz'), compression: 'lz4', trainDict: true }),
    (e) => e instanceof UsageError && /zstd/.test(e.message),
  );
});
