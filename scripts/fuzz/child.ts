/**
 * The fuzzer's child process: runs cases one at a time on the parent's request and reports
 * each operation as it starts, so that when the parent kills it (timeout, memory) or it dies,
 * the hang or crash is attributed to an operation. Unhandled rejections and process warnings
 * are findings of the case that was running (or had just finished).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpus.ts';
import { loadHeaderMac } from './reseal.ts';
import { planCase, runCase, type CaseEnv, type Finding } from './run-case.ts';
import { formatSeed } from './rng.ts';

export type ToChild =
  | { type: 'init'; corpusRoot: string; verifyChance: number; packChance: number; layoutChance?: number; findingsDir: string }
  | { type: 'case'; seed: number; verbose: boolean; keep: boolean };

export type FromChild =
  | { type: 'ready'; headerMac: boolean }
  | { type: 'op'; seed: string; op: string }
  | { type: 'mutation'; seed: string; target: string; region: string; description: string; attack?: string }
  | { type: 'log'; line: string }
  | { type: 'event'; seed: string; finding: Finding }
  | { type: 'result'; result: import('./run-case.ts').CaseResult };

const send = (m: FromChild) => process.send!(m);
let env: CaseEnv | undefined;
let findingsDir = '';
let current = '';
let currentOp = 'idle';

process.on('unhandledRejection', (reason) => {
  const e = reason as Error;
  send({ type: 'event', seed: current, finding: { type: 'unhandled-rejection', op: currentOp, message: `${e?.name ?? typeof reason}: ${e?.message ?? String(reason)}` } });
});
process.on('warning', (w) => {
  send({ type: 'event', seed: current, finding: { type: 'warning', op: currentOp, message: `${w.name}: ${w.message}` } });
});
process.on('uncaughtException', (err) => {
  send({ type: 'event', seed: current, finding: { type: 'crash', op: currentOp, message: `uncaught ${err?.name}: ${err?.message}` } });
  setTimeout(() => process.exit(70), 50);
});

process.on('message', async (m: ToChild) => {
  if (m.type === 'init') {
    const corpus = JSON.parse(readFileSync(join(m.corpusRoot, 'manifest.json'), 'utf8')) as Corpus;
    findingsDir = m.findingsDir;
    const headerMac = await loadHeaderMac();
    env = { corpus, headerMac, verifyChance: m.verifyChance, packChance: m.packChance, layoutChance: m.layoutChance, keep: false, log: () => {} };
    send({ type: 'ready', headerMac: headerMac !== undefined });
    return;
  }
  if (m.type === 'case' && env) {
    current = formatSeed(m.seed);
    const caseEnv: CaseEnv = {
      ...env, keep: m.keep,
      log: m.verbose ? (line) => send({ type: 'log', line }) : () => {},
      onMutation: (mu) => send({ type: 'mutation', seed: current, ...mu }),
      onOp: (op) => { currentOp = op; send({ type: 'op', seed: current, op }); },
    };
    let result;
    try {
      result = await runCase(m.seed, { ...caseEnv, save: saveMutated });
    } catch (err) {
      const e = err as Error;
      const { rng: _rng, ...plan } = planCase(m.seed);
      result = { ...plan, target: '', region: '', description: 'fuzzer error', ops: [], findings: [{ type: 'fuzzer-error', op: currentOp, message: `${e?.message}\n${e?.stack}` }] } as never;
    }
    // Late rejections (background prefetch, stream teardown) belong to this case.
    await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
    currentOp = 'idle';
    send({ type: 'result', result });
  }
});

/** Copies a case's mutated file into the findings directory (before runCase removes the case directory). */
function saveMutated(path: string, seed: string): string | undefined {
  try {
    mkdirSync(findingsDir, { recursive: true });
    const dest = join(findingsDir, `${seed}-${path.split('/').pop()}`);
    copyFileSync(path, dest);
    return dest;
  } catch {
    return undefined;
  }
}
