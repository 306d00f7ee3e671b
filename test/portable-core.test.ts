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

test('the browser build and the viewer page bundle without node:*, process or Buffer; decoders and hashes are import() chunks', async () => {
  const r = await build({
    entryPoints: { hexz: join(root, 'src/browser/index.ts'), app: join(root, 'src/web/app.ts') },
    bundle: true, splitting: true, write: false, platform: 'browser', format: 'esm', target: 'es2022',
    outdir: '/tmp/portable-browser', metafile: true, logLevel: 'silent',
  });
  const outputs = r.metafile.outputs;
  /** The output file of metafile key `key` (keys are relative to the working directory). */
  const textOf = (key: string) => r.outputFiles.find((f) => f.path.endsWith(key.replace(/^(\.\.\/)+/, '/')))!.text;
  const fromPackage = (key: string, pkg: string) => Object.keys(outputs[key].inputs).some((i) => i.includes(`node_modules/${pkg}/`));
  const hashWasm = Object.keys(outputs).filter((k) => fromPackage(k, 'hash-wasm'));
  assert.equal(hashWasm.length, 1, `hash-wasm is in one chunk: ${hashWasm}`);
  assert.equal(r.outputFiles.length, Object.keys(outputs).length);
  for (const out of r.outputFiles) {
    assert.doesNotMatch(out.text, /\bfrom\s*["']node:|\bimport\(\s*["']node:|\brequire\(\s*["']node:/, `${out.path} imports a Node built-in`);
    assert.doesNotMatch(out.text, /["']node:/, `${out.path} names a Node built-in`);
    assert.doesNotMatch(out.text, /\bprocess\./, `${out.path} uses process`);
    if (out.path.endsWith(hashWasm[0].replace(/^(\.\.\/)+/, '/'))) continue;
    assert.doesNotMatch(out.text, /\bBuffer\b/, `${out.path} uses Buffer`);
  }
  // hash-wasm only feature-detects Buffer as a property of the global object (null in a page).
  const text = textOf(hashWasm[0]);
  const uses = [...text.matchAll(/\bBuffer\b/g)];
  assert.ok(uses.length >= 1);
  for (const u of uses) {
    const before = text.slice(Math.max(0, u.index - 40), u.index);
    const owner = /(\w+)\.$/.exec(before)?.[1];
    assert.ok(owner, `Buffer used other than as a property: …${before}Buffer…`);
    const getter = new RegExp(`\\b${owner}\\s*=\\s*(\\w+)\\(\\)`).exec(text)?.[1];
    assert.ok(getter, `${owner} is set from a function`);
    assert.match(text, new RegExp(`function ${getter}\\(\\)\\s*\\{\\s*if \\(typeof globalThis !== "undefined"\\)\\s*return globalThis;`), `${owner} is the global object`);
  }
  // The entries, and every chunk they import statically, hold none of the decoders or hashes:
  // zstd, LZ4 and hash-wasm are chunks loaded with import() when an archive needs them.
  const entries = Object.keys(outputs).filter((k) => /^src\/(browser\/index|web\/app)\.ts$/.test(outputs[k].entryPoint ?? ''));
  assert.equal(entries.length, 2, `the two entries: ${entries}`);
  const eager = new Set<string>();
  const visit = (k: string) => {
    if (eager.has(k)) return;
    eager.add(k);
    for (const i of outputs[k].imports) if (i.kind === 'import-statement') visit(i.path);
  };
  entries.forEach(visit);
  for (const pkg of ['@bokuweb/zstd-wasm', 'lz4js', 'hash-wasm']) {
    const holders = Object.keys(outputs).filter((k) => fromPackage(k, pkg));
    assert.ok(holders.length > 0, `${pkg} is bundled`);
    for (const k of holders) {
      assert.ok(!eager.has(k), `${pkg} is in ${k}, which an entry loads eagerly`);
      assert.ok(Object.values(outputs).some((o) => o.imports.some((i) => i.path === k && i.kind === 'dynamic-import')), `${k} is loaded with import()`);
    }
  }
  for (const k of eager) assert.ok(!Object.keys(outputs[k].inputs).some((i) => /wasm-hashes|zstd-wasm|lz4js/.test(i)), `${k} holds a lazily loaded module`);
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
