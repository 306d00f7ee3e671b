/**
 * The reader core (`src/archive/`) is portable: it bundles for the browser with no Node
 * built-in, no native addon and no Buffer, and it reads archives (thin chains included) through
 * whatever platform it is given — here one with no filesystem at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { Archive as CoreArchive } from '../src/archive/archive.js';
import type { ReaderPlatform } from '../src/archive/reader-platform.js';
import { nodePlatform } from '../src/node/platform.js';
import { MemorySource } from '../src/store/memory-source.js';
import { MissingParentError, UnsupportedError } from '../src/errors.js';
import { archiveIdentity } from '../src/format/parents.js';
import { bytesEqual } from '../src/format/digest.js';

const root = new URL('..', import.meta.url).pathname;
const vectors = join(root, 'test/vectors');

test('every module of src/archive bundles for the browser without node:*, native addons, Buffer or process', async () => {
  const files = (await readdir(join(root, 'src/archive'))).filter((f) => f.endsWith('.ts')).map((f) => join(root, 'src/archive', f));
  const r = await build({ entryPoints: files, bundle: true, write: false, platform: 'browser', format: 'esm', outdir: '/tmp/portable-core', metafile: true, logLevel: 'silent' });
  const inputs = Object.keys(r.metafile.inputs);
  assert.deepEqual(inputs.filter((f) => f.includes('node_modules')), [], 'no package is pulled into the core');
  for (const out of r.outputFiles) {
    assert.doesNotMatch(out.text, /\bBuffer\b/, `${out.path} uses Buffer`);
    assert.doesNotMatch(out.text, /\bprocess\./, `${out.path} uses process`);
  }
});

/** A platform that reads only from memory: locations are keys of `files`. */
function memoryPlatform(files: Map<string, Uint8Array>, counts: { hashes: number }): ReaderPlatform {
  return {
    ...nodePlatform,
    blake3: (b) => (counts.hashes++, nodePlatform.blake3(b)),
    decoder: undefined,
    async openSource(location) {
      const bytes = files.get(location);
      if (!bytes) throw new UnsupportedError(`no such archive in memory: ${location}`);
      return new MemorySource(bytes, location);
    },
    parentOf: (location) => location.slice(0, location.lastIndexOf('/') + 1),
    async findParent(record, search) {
      for (const [location] of files) {
        if (!location.startsWith(search.baseDir ?? '')) continue;
        const candidate = await search.open(location).catch(() => undefined);
        if (!candidate) continue;
        if (bytesEqual(candidate.archiveId, record.archiveId) && bytesEqual(archiveIdentity(candidate.headerBytes, nodePlatform.blake3), record.identity)) {
          return { location, archive: candidate };
        }
        await candidate.close();
      }
      throw new MissingParentError(`parent ${record.slot} not in memory`, { archive: search.child });
    },
  };
}

test('the core reads a 3-deep thin chain through an injected, memory-only platform', async () => {
  const files = new Map<string, Uint8Array>();
  for (const name of (await readdir(vectors)).filter((f) => f.endsWith('.hxz'))) files.set(`mem://v/${name}`, await readFile(join(vectors, name)));
  const counts = { hashes: 0 };
  const platform = memoryPlatform(files, counts);
  const a = await CoreArchive.open('mem://v/thin-grandchild.hxz', { platform });
  try {
    assert.ok(a.parents.length >= 2, 'the grandchild names at least two parents');
    for (const stream of a.streams) {
      const want = await readFile(join(vectors, `thin-grandchild.${stream}.bin`));
      const got = await a.readAt(stream, 0, a.size(stream));
      assert.ok(bytesEqual(got, want), `${stream} stream matches`);
    }
    assert.ok(counts.hashes > 0, 'the injected hash was used');
  } finally {
    await a.close();
  }
});

test('a platform without encryption support opens an encrypted archive for its header only, and refuses a password', async () => {
  const files = new Map([['mem://e.hxz', await readFile(join(vectors, 'encrypted-zstd.hxz'))]]);
  const platform = { ...memoryPlatform(files, { hashes: 0 }), crypto: undefined };
  const locked = await CoreArchive.open('mem://e.hxz', { platform });
  assert.equal(locked.locked, true);
  await locked.close();
  await assert.rejects(CoreArchive.open('mem://e.hxz', { platform, password: 'x' }), UnsupportedError);
});
