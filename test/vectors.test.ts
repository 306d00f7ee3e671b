import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Archive } from '../src/index.ts';
import { verify } from '../src/ops/verify.ts';
import { FORMAT_VERSION } from '../src/format/constants.ts';
import { packVector } from '../scripts/make-vectors.ts';
import { vectorSpecs } from '../scripts/vector-specs.ts';
import { dictionaryTrainingAvailable } from '../src/codec/zstd-dict-trainer.ts';

/** Dictionary vectors can only be regenerated with koffi + the system libzstd (reading them needs neither). */
const canTrain = await dictionaryTrainingAvailable();
if (!canTrain && process.env.CI === 'true') throw new Error('CI: koffi or libzstd.so.1 missing; dictionary vectors cannot be regenerated');

type Manifest = {
  formatVersion: number;
  vectors: Record<string, { archive: string; sha256: string; streams: Record<string, { file: string; bytes: number; sha256: string }> }>;
};
const dir = new URL('./vectors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 1 vectors, frozen: this build no longer writes them but must still read them. */
const v1Dir = join(dir, 'v1');
const v1Manifest = JSON.parse(readFileSync(join(v1Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 2 vectors (FastCDC, profiles), frozen the same way. */
const v2Dir = join(dir, 'v2');
const v2Manifest = JSON.parse(readFileSync(join(v2Dir, 'vectors.json'), 'utf8')) as Manifest;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('golden vectors', () => {
  test('manifest matches this build and lists every spec', () => {
    assert.equal(manifest.formatVersion, FORMAT_VERSION, 'format version changed: regenerate vectors with npm run vectors');
    assert.deepEqual(Object.keys(manifest.vectors).sort(), vectorSpecs().map((s) => s.name).sort());
  });

  for (const [label, m, vdir] of [['', manifest, dir], ['v1 ', v1Manifest, v1Dir], ['v2 ', v2Manifest, v2Dir]] as const) {
  for (const [name, v] of Object.entries(m.vectors)) {
    test(`${label}${name}: committed archive reads back its expected contents`, async () => {
      const path = join(vdir, v.archive);
      assert.equal(sha256(readFileSync(path)), v.sha256, 'archive bytes differ from the manifest');
      const a = await Archive.open(path);
      try {
        assert.deepEqual(a.streams.sort(), Object.keys(v.streams).sort());
        for (const [stream, s] of Object.entries(v.streams)) {
          const expected = readFileSync(join(vdir, s.file));
          assert.equal(sha256(expected), s.sha256);
          const got = await a.readAt(stream as 'disk', 0, a.size(stream as 'disk'));
          assert.equal(got.length, s.bytes);
          assert.ok(Buffer.from(got).equals(expected), `${stream} content differs`);
        }
      } finally {
        await a.close();
      }
      const r = await verify(path);
      assert.equal(r.ok, true, JSON.stringify(r.error));
    });
  }
  }

  test('v1 and v2 vectors are version 1 and 2 archives', () => {
    for (const [version, m, vdir] of [[1, v1Manifest, v1Dir], [2, v2Manifest, v2Dir]] as const) {
      assert.equal(m.formatVersion, version);
      for (const v of Object.values(m.vectors)) assert.equal(readFileSync(join(vdir, v.archive)).readUInt16LE(4), version);
    }
  });

  test('dictionary vectors carry a verified dictionary', async () => {
    for (const name of ['dict-zstd', 'profile-embedded']) {
      const a = await Archive.open(join(dir, `${name}.hxz`));
      try {
        assert.ok(a.header.dictionary.length > 0, `${name} has no dictionary`);
        assert.equal(a.header.dictionary.offset, 4096);
        assert.equal(a.header.data.offset, 4096 + a.header.dictionary.length);
      } finally {
        await a.close();
      }
    }
  });

  test('regenerating every vector reproduces the committed bytes', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hexz-vectors-'));
    try {
      for (const spec of vectorSpecs()) {
        if (!canTrain && (spec.options.trainDict || spec.options.profile === 'embedded')) {
          console.log(`# skipped regenerating ${spec.name}: koffi or the system libzstd (libzstd1) is missing`);
          continue;
        }
        const out = join(tmp, `${spec.name}.hxz`);
        await packVector(spec, out);
        const fresh = readFileSync(out);
        const golden = readFileSync(join(dir, `${spec.name}.hxz`));
        assert.ok(fresh.equals(golden), `${spec.name}: the writer's output changed; if intended, bump the format version, update docs/FORMAT.md and run npm run vectors`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
