/** The image `npm run bench` measures: the corpus disk when HEXZ_CORPUS is set, else a generated sample. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './log.js';
import { msSince, nowNs } from './run.js';
import { generateSampleImage } from './sample-image.js';

export interface InputInfo { path: string; kind: 'corpus' | 'generated'; size: number; allocated: number; note: string }

const sizes = (p: string) => {
  const st = statSync(p);
  return { size: st.size, allocated: st.blocks * 512 };
};

/** `$HEXZ_CORPUS/disk-v1.raw`, or a `genMib` MiB sample generated into `work`. */
export function pickInput(work: string, genMib: number): InputInfo {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) {
    const p = join(corpus, 'disk-v1.raw');
    if (existsSync(p)) return { path: p, kind: 'corpus', ...sizes(p), note: `corpus image ${p}` };
    log(`HEXZ_CORPUS is set but ${p} does not exist; generating a sample image instead`);
  }
  const p = join(work, 'sample.raw');
  log(`generating a ${genMib} MiB sparse sample image from /usr files, zeros, duplicates and random bytes ...`);
  const t0 = nowNs();
  generateSampleImage(p, genMib);
  log(`  done in ${(msSince(t0) / 1000).toFixed(1)} s`);
  return {
    path: p, kind: 'generated', ...sizes(p),
    note: `generated ${genMib} MiB sample image (no HEXZ_CORPUS/disk-v1.raw); targets are defined for the 2 GiB corpus image`,
  };
}
