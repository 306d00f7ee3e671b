/**
 * `hexz analyze`: on generated inputs with known duplication, the predicted archive size of
 * the default candidate (fixed 64K, zstd 3) and of the recommended one must each land within
 * 10% of what pack actually writes with those settings.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { statSync } from 'node:fs';
import { analyze, pack, type AnalyzeReport } from '../src/index.ts';
import { Rng, randomData, runCli, tempDir, writeData } from './helpers.ts';

const MiB = 1 << 20;
const tmp = tempDir('hexz-analyze-');
after(() => tmp.cleanup());

/** Text-like bytes: words from a small vocabulary, compressible about 3x. */
function text(rng: Rng, n: number): Buffer {
  const words = Array.from({ length: 512 }, (_, i) => `w${(i * 2654435761 >>> 0).toString(36).slice(0, 2 + (i % 7))}`);
  const parts: string[] = [];
  let len = 0;
  while (len < n) { const w = words[rng.int(words.length)] + (rng.int(12) === 0 ? '\n' : ' '); parts.push(w); len += w.length; }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/**
 * ~40 MiB: 24 copies of 6 base 1 MiB text segments, each copy with a few overwrites and small
 * insertions (which shift the bytes after them), plus 6 MiB of zeros and 4 MiB of random bytes.
 */
function generated(seed: number): Buffer {
  const rng = new Rng(seed);
  const bases = Array.from({ length: 6 }, () => text(rng, MiB));
  const parts: Buffer[] = [...bases];
  for (let i = 0; i < 24; i++) {
    const seg = Buffer.from(bases[rng.int(bases.length)]);
    for (let e = 0; e < 3; e++) { const at = rng.int(MiB - 64); seg.fill(0x41 + e, at, at + 16); }
    const edits: Buffer[] = [];
    let at = 0;
    for (let e = 0; e < 4; e++) {
      const cut = at + rng.int((MiB - at) / 2);
      edits.push(seg.subarray(at, cut), Buffer.from(`<edit ${i}.${e}>`));
      at = cut;
    }
    edits.push(seg.subarray(at));
    parts.push(Buffer.concat(edits));
  }
  parts.push(Buffer.alloc(6 * MiB), Buffer.from(randomData(4 * MiB, seed)));
  return Buffer.concat(parts);
}

function flagsToOptions(flags: string[]): { blockSize?: string; cdc?: { min: string; avg: string; max: string }; compression?: 'lz4' } {
  const get = (f: string) => { const i = flags.indexOf(f); return i < 0 ? undefined : flags[i + 1]; };
  const o: ReturnType<typeof flagsToOptions> = {};
  if (get('--block-size')) o.blockSize = get('--block-size');
  if (flags.includes('--cdc')) o.cdc = { min: get('--min-chunk')!, avg: get('--avg-chunk')!, max: get('--max-chunk')! };
  if (get('--compression') === 'lz4') o.compression = 'lz4';
  return o;
}

describe('analyze', () => {
  const input = writeData(tmp.path('gen.raw'), generated(7));
  let report: AnalyzeReport;

  it('predicts the default and the recommended archive size within 10%', async () => {
    report = await analyze(input);
    assert.equal(report.extrapolated, false);
    assert.equal(report.sizeBytes, statSync(input).size);
    assert.ok(report.zeroShare > 0.1 && report.zeroShare < 0.2, `zero share ${report.zeroShare}`);
    const base = report.candidates.find((c) => c.name === 'fixed 64K')!;
    const actualBase = (await pack({ disk: input, output: tmp.path('base.hxz'), force: true })).archiveBytes;
    const errBase = Math.abs(base.predictedZstd3Bytes - actualBase) / actualBase;
    const rec = report.recommendation;
    const actualRec = (await pack({ disk: input, output: tmp.path('rec.hxz'), force: true, ...flagsToOptions(rec.flags) })).archiveBytes;
    const errRec = Math.abs(rec.predictedBytes - actualRec) / actualRec;
    console.log(`analyze: fixed 64K predicted ${base.predictedZstd3Bytes} actual ${actualBase} (${(errBase * 100).toFixed(1)}%); ${rec.candidate} ${rec.compression} predicted ${rec.predictedBytes} actual ${actualRec} (${(errRec * 100).toFixed(1)}%)`);
    assert.ok(errBase < 0.1, `fixed 64K prediction off by ${(errBase * 100).toFixed(1)}%`);
    assert.ok(errRec < 0.1, `recommended prediction off by ${(errRec * 100).toFixed(1)}%`);
    // Insertions shift bytes, so content-defined chunking must win on this input.
    assert.equal(report.recommendation.flags.includes('--cdc'), true);
  });

  it('samples a file larger than the budget and says the figures are extrapolated', async () => {
    const r = await analyze(input, { maxSampleBytes: 16 * MiB, regionBytes: 4 * MiB });
    assert.equal(r.extrapolated, true);
    assert.ok(r.sampledFraction > 0.2 && r.sampledFraction < 0.6, `fraction ${r.sampledFraction}`);
    assert.ok(r.notes.some((n) => n.includes('extrapolated')));
  });

  it('CLI: --json parses; a missing file exits 6', () => {
    const r = runCli(['analyze', input, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.toString()) as AnalyzeReport;
    assert.equal(j.candidates.length, 6);
    const h = runCli(['analyze', input]);
    assert.equal(h.status, 0, h.stderr);
    assert.match(h.stdout.toString(), /recommended: hexz pack/);
    const m = runCli(['analyze', tmp.path('missing.raw')]);
    assert.equal(m.status, 6);
  });
});
