import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Archive } from '../src/index.ts';
import { verify } from '../src/ops/verify.ts';
import { EntryKind, FIRST_CONTACT_BYTES, FORMAT_VERSION, RequiredFeature } from '../src/format/constants.ts';
import { packVector, VECTOR_SIGNING_PUB } from '../scripts/make-vectors.ts';
import { loadPublicKey } from '../src/crypto/signing.ts';
import { vectorSpecs } from '../scripts/vector-specs.ts';
import { dictionaryTrainingAvailable } from '../src/codec/zstd-dict-trainer.ts';
import { blake3 } from '../src/hash/blake3.ts';

/** Dictionary vectors can only be regenerated with koffi + the system libzstd (reading them needs neither). */
const canTrain = await dictionaryTrainingAvailable();
if (!canTrain && process.env.CI === 'true') throw new Error('CI: koffi or libzstd.so.1 missing; dictionary vectors cannot be regenerated');

type Manifest = {
  formatVersion: number;
  vectors: Record<string, { archive: string; sha256: string; password?: string; signed?: boolean; streams: Record<string, { file: string; bytes: number; sha256: string }> }>;
};
const dir = new URL('./vectors/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 1 vectors, frozen: this build no longer writes them but must still read them. */
const v1Dir = join(dir, 'v1');
const v1Manifest = JSON.parse(readFileSync(join(v1Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Versions 2 (FastCDC, profiles) and 3 (dictionaries), frozen the same way. */
const v2Dir = join(dir, 'v2');
const v2Manifest = JSON.parse(readFileSync(join(v2Dir, 'vectors.json'), 'utf8')) as Manifest;
const v3Dir = join(dir, 'v3');
const v3Manifest = JSON.parse(readFileSync(join(v3Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 4 (encryption, signatures), frozen the same way. */
const v4Dir = join(dir, 'v4');
const v4Manifest = JSON.parse(readFileSync(join(v4Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 5 (thin snapshots; encrypted archives without a header tag), frozen the same way. */
const v5Dir = join(dir, 'v5');
const v5Manifest = JSON.parse(readFileSync(join(v5Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 6 (header tag; the index after the data region, no front index area), frozen the same way. */
const v6Dir = join(dir, 'v6');
const v6Manifest = JSON.parse(readFileSync(join(v6Dir, 'vectors.json'), 'utf8')) as Manifest;
/** Version 7 (the front index area), frozen the same way. */
const v7Dir = join(dir, 'v7');
const v7Manifest = JSON.parse(readFileSync(join(v7Dir, 'vectors.json'), 'utf8')) as Manifest;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('golden vectors', () => {
  test('manifest matches this build and lists every spec', () => {
    assert.equal(manifest.formatVersion, FORMAT_VERSION, 'format version changed: regenerate vectors with npm run vectors');
    assert.deepEqual(Object.keys(manifest.vectors).sort(), vectorSpecs().map((s) => s.name).sort());
  });

  for (const [label, m, vdir] of [['', manifest, dir], ['v1 ', v1Manifest, v1Dir], ['v2 ', v2Manifest, v2Dir], ['v3 ', v3Manifest, v3Dir], ['v4 ', v4Manifest, v4Dir], ['v5 ', v5Manifest, v5Dir], ['v6 ', v6Manifest, v6Dir], ['v7 ', v7Manifest, v7Dir]] as const) {
  for (const [name, v] of Object.entries(m.vectors)) {
    test(`${label}${name}: committed archive reads back its expected contents`, async () => {
      const path = join(vdir, v.archive);
      assert.equal(sha256(readFileSync(path)), v.sha256, 'archive bytes differ from the manifest');
      const a = await Archive.open(path, { password: v.password });
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
      const r = await verify(path, { password: v.password, publicKey: v.signed ? await loadPublicKey(VECTOR_SIGNING_PUB) : undefined });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.equal(r.signature?.valid ?? false, v.signed === true, 'signed exactly when the manifest says');
    });
  }
  }

  test('v1 to v7 vectors are version 1 to 7 archives', () => {
    for (const [version, m, vdir] of [[1, v1Manifest, v1Dir], [2, v2Manifest, v2Dir], [3, v3Manifest, v3Dir], [4, v4Manifest, v4Dir], [5, v5Manifest, v5Dir], [6, v6Manifest, v6Dir], [7, v7Manifest, v7Dir]] as const) {
      assert.equal(m.formatVersion, version);
      for (const v of Object.values(m.vectors)) assert.equal(readFileSync(join(vdir, v.archive)).readUInt16LE(4), version);
    }
  });

  test('the committed vector holds SLICE entries and sets the SLICES bit (version 8)', async () => {
    const a = await Archive.open(join(dir, 'commit-slices.hxz'));
    try {
      assert.ok(a.header.requiredFeatures & RequiredFeature.SLICES, 'SLICES bit not set');
      assert.ok(a.header.requiredFeatures & RequiredFeature.THIN, 'THIN bit not set');
      const kinds = new Map<number, number>();
      for await (const e of a.entries('disk')) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
      assert.ok((kinds.get(EntryKind.SLICE) ?? 0) > 0, 'no SLICE entry');
    } finally {
      await a.close();
    }
    // No other vector (none is a commit) sets the bit.
    for (const [name, v] of Object.entries(manifest.vectors)) {
      if (name === 'commit-slices') continue;
      assert.equal(readFileSync(join(dir, v.archive)).readUInt32LE(8) & RequiredFeature.SLICES, 0, `${name} sets SLICES`);
    }
  });

  test('dictionary vectors carry a verified dictionary', async () => {
    for (const name of ['dict-zstd', 'profile-embedded', 'encrypted-dict-zstd']) {
      const a = await Archive.open(join(dir, `${name}.hxz`), { password: manifest.vectors[name].password });
      try {
        assert.ok(a.header.dictionary.length > 0, `${name} has no dictionary`);
        assert.equal(a.header.dictionary.offset, 4096);
        // The front index area (§7, version 7) sits between the dictionary and the data region.
        assert.ok(a.header.data.offset >= 4096 + a.header.dictionary.length);
        assert.ok(a.header.data.offset <= FIRST_CONTACT_BYTES);
      } finally {
        await a.close();
      }
    }
  });

  test('encrypted vectors need their password and reveal no plain content hash', async () => {
    for (const [name, v] of Object.entries(manifest.vectors)) {
      if (v.password === undefined) continue;
      const a = await Archive.open(join(dir, v.archive));
      try {
        assert.equal(a.locked, true);
        await assert.rejects(a.readAt('disk', 0, 1), { name: 'WrongKeyError' });
      } finally {
        await a.close();
      }
      await assert.rejects(Archive.open(join(dir, v.archive), { password: `${v.password}!` }), { name: 'WrongKeyError' });
      // No BLAKE3 of any 4 KiB block of the input appears anywhere in the archive.
      const bytes = readFileSync(join(dir, v.archive));
      const disk = readFileSync(join(dir, v.streams.disk.file));
      for (let at = 0; at + 4096 <= disk.length; at += 4096) {
        const h = Buffer.from(blake3(disk.subarray(at, at + 4096)));
        if (disk.subarray(at, at + 4096).some((b) => b !== 0)) assert.equal(bytes.indexOf(h), -1, `${name}: plain hash of block ${at / 4096} found`);
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
