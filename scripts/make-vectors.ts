/**
 * Regenerates the golden vectors in test/vectors/: for each spec, NAME.hxz plus the expected
 * stream contents NAME.disk.bin / NAME.memory.bin and a manifest (vectors.json) with SHA-256s.
 * Run after an intentional format change: `npm run vectors`, then review and commit. Vectors of
 * older versions live in subdirectories (test/vectors/v1/ to v7/) and are never regenerated: they pin
 * what this build must still read.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from '../src/pack/pack.js';
import { FORMAT_VERSION } from '../src/format/constants.js';
import { signArchive } from '../src/ops/sign.js';
import { Archive } from '../src/node/archive.js';
import { Overlay } from '../src/overlay/overlay.js';
import { commitOverlay } from '../src/ops/commit-overlay.js';

/** The committed Ed25519 key pair the signed vectors use (a test key: never trust it). */
export const VECTOR_SIGNING_KEY = new URL('../test/vectors/vector-signing.key', import.meta.url).pathname;
export const VECTOR_SIGNING_PUB = new URL('../test/vectors/vector-signing.pub', import.meta.url).pathname;
import { VECTOR_CREATED_MS, VECTOR_ID, VECTOR_KDF, VECTOR_METADATA, vectorRandom, vectorSpecs, type VectorSpec } from './vector-specs.js';

/** Packs one vector to `path` deterministically (one worker, fixed id and time). */
export async function packVector(spec: VectorSpec, path: string): Promise<void> {
  // A thin vector's parent is the earlier vector of that name, in the same directory.
  const parent = spec.parent === undefined ? undefined : join(dirname(path), `${spec.parent}.hxz`);
  if (spec.commit) {
    if (parent === undefined) throw new Error(`${spec.name}: a committed vector needs a parent`);
    await commitVector(spec, spec.commit.writes, parent, path);
    return;
  }
  const input = (b?: Uint8Array) => (b ? Readable.from([Buffer.from(b)]) : undefined);
  await pack({
    ...spec.options, disk: input(spec.streams.disk), memory: input(spec.streams.memory), output: path,
    // Known sizes: the front index area (§7) is sized to the index, not to its largest.
    inputSizes: { disk: spec.streams.disk?.length, memory: spec.streams.memory?.length },
    // A thin vector needs its own id: its parent's would give both the same object key (§12.1).
    force: true, workers: 1, archiveId: spec.parent === undefined ? VECTOR_ID : vectorRandom(`${spec.name} id`)(16), createdMs: VECTOR_CREATED_MS, metadata: VECTOR_METADATA,
    encrypt: spec.password === undefined ? undefined : { password: spec.password, kdf: VECTOR_KDF, random: vectorRandom(spec.name) },
    parent,
  });
  if (spec.signed) await signArchive(path, { key: VECTOR_SIGNING_KEY, now: () => VECTOR_CREATED_MS });
}

/**
 * Writes `writes` through a new overlay on `parent` (in a temporary directory, removed after)
 * and commits it to `path` as `hexz commit` does: one worker, fixed id, time and metadata (the
 * default metadata names the tool version and the overlay's random id).
 */
async function commitVector(spec: VectorSpec, writes: NonNullable<VectorSpec['commit']>['writes'], parent: string, path: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'hexz-vector-overlay-'));
  const base = await Archive.open(parent);
  try {
    const overlay = await Overlay.create(join(tmp, `${spec.name}.overlay`), base);
    try {
      for (const w of writes) await overlay.write('disk', w.offset, w.bytes);
      await overlay.flush();
      await commitOverlay(overlay, {
        output: path, force: true, workers: 1, archiveId: vectorRandom(`${spec.name} id`)(16), createdMs: VECTOR_CREATED_MS, metadata: VECTOR_METADATA,
      });
    } finally {
      await overlay.close();
    }
  } finally {
    await base.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = new URL('../test/vectors/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  // Everything but the subdirectories of older versions and the signing key pair is regenerated.
  for (const f of readdirSync(dir)) if (statSync(join(dir, f)).isFile() && !f.startsWith('vector-signing.')) rmSync(join(dir, f));
  const manifest: Record<string, unknown> = {};
  for (const spec of vectorSpecs()) {
    const path = join(dir, `${spec.name}.hxz`);
    await packVector(spec, path);
    const streams: Record<string, { file: string; bytes: number; sha256: string }> = {};
    for (const [name, bytes] of Object.entries(spec.streams)) {
      const file = `${spec.name}.${name}.bin`;
      writeFileSync(join(dir, file), bytes);
      streams[name] = { file, bytes: bytes.length, sha256: sha256(bytes) };
    }
    const { readFileSync } = await import('node:fs');
    const commit = spec.commit && { writes: spec.commit.writes.map((w) => ({ offset: w.offset, length: w.bytes.length, sha256: sha256(w.bytes) })) };
    manifest[spec.name] = { archive: `${spec.name}.hxz`, sha256: sha256(readFileSync(path)), options: spec.options, password: spec.password, signed: spec.signed, parent: spec.parent, commit, streams };
  }
  writeFileSync(join(dir, 'vectors.json'), `${JSON.stringify({ formatVersion: FORMAT_VERSION, vectors: manifest }, null, 2)}\n`);
  console.log(`wrote ${Object.keys(manifest).length} vectors to ${dir}`);
}
