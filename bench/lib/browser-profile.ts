/**
 * Where the page's main thread spends a sequential read: Chromium's sampling CPU profiler (CDP
 * Profiler domain) around one run, each sample put in one bucket by its stack — zstd decode (the
 * zstd-wasm module and its glue), BLAKE3 (hash-wasm's chunk), garbage collection, idle (the
 * thread waits: for the network, or for nothing), other JavaScript (the reader core, streams,
 * fetch glue), or the engine's own work ("(program)").
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';

interface CallFrame { functionName: string; url: string; scriptId: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[]; hitCount?: number }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

/** ms per bucket, the profile's length, and the functions with the most self time. */
export interface ProfileSummary {
  totalMs: number;
  buckets: Record<string, number>;
  /** `where`: the bundle file, and the original source position from its source map when there is one. */
  top: { fn: string; where: string; ms: number }[];
}

/**
 * The original source position of a function of the page's bundle (`url` served from `webDir`),
 * from the bundle's source map (node:module's SourceMap), or undefined.
 */
function originalOf(webDir: string, url: string, line: number, column: number, maps: Map<string, SourceMap | null>): string | undefined {
  if (!/^https?:\/\/.*\.js$/.test(url)) return undefined;
  const file = join(webDir, new URL(url).pathname);
  let map = maps.get(file);
  if (map === undefined) {
    map = existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))) : null;
    maps.set(file, map);
  }
  const e = map?.findEntry(line, column) as { originalSource?: string; originalLine?: number; name?: string } | undefined;
  if (!e?.originalSource) return undefined;
  return `${e.originalSource.replace(/^(\.\.\/)+/, '')}:${(e.originalLine ?? 0) + 1}${e.name ? ` ${e.name}` : ''}`;
}

/** The bucket of a stack, innermost frame first. */
function bucketOf(stack: CallFrame[]): string {
  const leaf = stack[0];
  if (leaf.functionName === '(idle)') return 'idle';
  if (leaf.functionName === '(garbage collector)') return 'GC';
  for (const f of stack) {
    if (/wasm-hashes-[^/]*\.js$/.test(f.url)) return 'BLAKE3 (wasm)';
    if (/index\.web-[^/]*\.js$|zstd\.wasm/.test(f.url)) return 'zstd (wasm)';
  }
  if (leaf.url.startsWith('wasm://')) return 'other wasm';
  if (leaf.functionName === '(program)') return 'engine (program)';
  return 'other JS';
}

/**
 * Runs `work` under the page's CPU profiler (sampling every `intervalUs`) and sums the samples
 * by bucket; the bundle's functions are named from the source maps in `webDir`.
 */
export async function profileRun<T>(page: Page, webDir: string, work: () => Promise<T>, intervalUs = 250): Promise<{ result: T; summary: ProfileSummary }> {
  const cdp = await page.createCDPSession();
  try {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: intervalUs });
    await cdp.send('Profiler.start');
    const result = await work();
    const { profile } = (await cdp.send('Profiler.stop')) as unknown as { profile: Profile };
    return { result, summary: summarize(profile, webDir) };
  } finally {
    await cdp.detach();
  }
}

function summarize(p: Profile, webDir: string): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackCache = new Map<number, string>();
  const bucketFor = (id: number): string => {
    let b = stackCache.get(id);
    if (b === undefined) {
      const stack: CallFrame[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!.callFrame);
      b = bucketOf(stack);
      stackCache.set(id, b);
    }
    return b;
  };
  const buckets: Record<string, number> = {};
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the gap to the next one (the last one gets the gap before it).
    const ms = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    const b = bucketFor(samples[i]);
    buckets[b] = (buckets[b] ?? 0) + ms;
    const f = byId.get(samples[i])!.callFrame;
    const key = JSON.stringify([f.functionName || '(anonymous)', f.url, f.lineNumber, f.columnNumber]);
    self.set(key, (self.get(key) ?? 0) + ms);
  }
  const maps = new Map<string, SourceMap | null>();
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, ms]) => {
    const [fn, url, line, column] = JSON.parse(k) as [string, string, number, number];
    const file = url.replace(/^.*\//, '');
    const orig = originalOf(webDir, url, line, column, maps);
    return { fn, where: orig ? `${file} = ${orig}` : file, ms: +ms.toFixed(1) };
  });
  for (const k of Object.keys(buckets)) buckets[k] = +buckets[k].toFixed(1);
  return { totalMs: +((p.endTime - p.startTime) / 1000).toFixed(1), buckets, top };
}
