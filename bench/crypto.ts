/**
 * Encryption benchmark: the same input packed plain and with `--encrypt` (same codec, blocks,
 * workers) in the same run, then random 4 KiB reads and a whole-stream read of each archive, the
 * Argon2id cost at the default parameters, and `restic backup` (which also encrypts and
 * deduplicates) on the same file. Ratios are encrypted / plain throughput and hexz / restic.
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:crypto     # disk-v1.raw
 *
 * Without HEXZ_CORPUS, a generated 512 MiB input is used. Results are printed and written to
 * bench/results/crypto-latest.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../src/pack/pack.js';
import { Archive } from '../src/node/archive.js';
import { createEnvelope, DEFAULT_KDF } from '../src/crypto/key-envelope.js';
import { fillPseudoText } from './lib/generated-image.js';
import { coldStoredReads, randomStoredReads, type ReadStats } from './lib/stored-reads.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-crypto-'));
const PASSWORD = 'bench password';

function input(): string {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return join(corpus, 'disk-v1.raw');
  const b = Buffer.alloc(512 * MiB);
  fillPseudoText(b);
  const path = join(work, 'input.raw');
  writeFileSync(path, b);
  return path;
}

function duBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}


/** Seconds to read the whole disk stream through createReadStream. */
async function sequential(path: string, password: string | undefined): Promise<number> {
  const a = await Archive.open(path, { password });
  const t = performance.now();
  for await (const _ of a.createReadStream('disk', { chunkSize: 4 * MiB })) { /* drain */ }
  const s = (performance.now() - t) / 1000;
  await a.close();
  return s;
}

async function main() {
  const src = input();
  const size = statSync(src).size;
  const results: Record<string, unknown> = { input: src, bytes: size };
  console.log(`input ${src} (${(size / MiB).toFixed(0)} MiB)`);

  // Argon2id at the default parameters, median of 5.
  const kdfTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await createEnvelope(PASSWORD, new Uint8Array(32), new Uint8Array(16), DEFAULT_KDF);
    kdfTimes.push(performance.now() - t);
  }
  kdfTimes.sort((p, q) => p - q);
  results.argon2idMs = { params: DEFAULT_KDF, median: kdfTimes[2] };
  console.log(`Argon2id ${DEFAULT_KDF.memoryKiB / 1024} MiB x ${DEFAULT_KDF.iterations} x ${DEFAULT_KDF.lanes} lanes: ${kdfTimes[2].toFixed(0)} ms`);

  const runs: Record<string, { seconds: number; bytes: number }> = {};
  // Alternate plain and encrypted twice; keep each one's best time (page cache warm for both).
  for (let round = 0; round < 2; round++) {
    for (const mode of ['plain', 'encrypted'] as const) {
      const out = join(work, `${mode}.hxz`);
      const r = await pack({ disk: src, output: out, force: true, ...(mode === 'encrypted' ? { encrypt: { password: PASSWORD } } : {}) });
      const prev = runs[mode];
      if (!prev || r.seconds < prev.seconds) runs[mode] = { seconds: r.seconds, bytes: r.archiveBytes };
      console.log(`pack ${mode}: ${r.seconds.toFixed(2)} s, ${(r.archiveBytes / MiB).toFixed(1)} MiB`);
    }
  }
  const plainOut = join(work, 'plain.hxz');
  const encOut = join(work, 'encrypted.hxz');
  results.pack = { ...runs, throughputRatio: runs.plain.seconds / runs.encrypted.seconds, sizeRatio: runs.encrypted.bytes / runs.plain.bytes };

  // Alternate, twice each, keeping each one's best run: the order must not favour either.
  const best = (x: ReadStats | undefined, y: ReadStats) => (!x || y.meanUs < x.meanUs ? y : x);
  let rp; let re;
  for (let round = 0; round < 2; round++) {
    rp = best(rp, await randomStoredReads(plainOut, 3000));
    re = best(re, await randomStoredReads(encOut, 3000, PASSWORD));
  }
  const reads = { plain: rp!, encrypted: re! };
  // Cold: the page cache dropped before each run (needs root), so every read goes to the disk.
  const cold = { plain: await coldStoredReads(plainOut), encrypted: await coldStoredReads(encOut, PASSWORD) };
  results.coldRandomRead4k = cold && { ...cold, throughputRatio: cold.plain && cold.encrypted ? cold.plain.meanUs / cold.encrypted.meanUs : null };
  if (cold.plain && cold.encrypted) console.log(`cold random 4K read p50 plain ${cold.plain.p50us.toFixed(0)} µs, encrypted ${cold.encrypted.p50us.toFixed(0)} µs`);
  const seq = { plain: await sequential(plainOut, undefined), encrypted: await sequential(encOut, PASSWORD) };
  results.randomRead4k = { ...reads, throughputRatio: reads.plain.meanUs / reads.encrypted.meanUs };
  results.sequentialRead = { plainSeconds: seq.plain, encryptedSeconds: seq.encrypted, throughputRatio: seq.plain / seq.encrypted };
  console.log(`random 4K read p50 plain ${reads.plain.p50us.toFixed(0)} µs, encrypted ${reads.encrypted.p50us.toFixed(0)} µs`);
  console.log(`sequential read plain ${seq.plain.toFixed(2)} s, encrypted ${seq.encrypted.toFixed(2)} s`);

  if (spawnSync('sh', ['-c', 'command -v restic']).status === 0) {
    const repo = join(work, 'restic');
    const env = { ...process.env, RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: repo };
    spawnSync('restic', ['init', '--quiet'], { env, stdio: 'ignore' });
    const t = performance.now();
    const r = spawnSync('restic', ['backup', '--quiet', src], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const seconds = (performance.now() - t) / 1000;
    if (r.status !== 0) throw new Error(`restic backup failed: ${r.stderr}`);
    const bytes = duBytes(repo);
    results.restic = { seconds, bytes, hexzTimeRatio: runs.encrypted.seconds / seconds, hexzSizeRatio: runs.encrypted.bytes / bytes };
    console.log(`restic backup: ${seconds.toFixed(2)} s, ${(bytes / MiB).toFixed(1)} MiB`);
  } else console.log('restic not found: skipped');

  console.log(JSON.stringify(results, null, 2));
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/crypto-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  rmSync(work, { recursive: true, force: true });
}

await main();
