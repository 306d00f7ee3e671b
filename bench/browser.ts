/**
 * Browser reader benchmark: hexz in headless Chromium (the viewer page of `hexz web`, the library
 * as `window.hexz`) beside the Node reader, both reading the SAME archive URL from one loopback
 * nginx (another origin than the page, CORS configured as the README says), in the same run,
 * runs alternated (browser, Node, browser, …), medians reported:
 *
 * 1. open + first 4 KiB read of a never-seen archive (a fresh browser context and page each run,
 *    HTTP cache off; a fresh Archive in Node): requests and bytes from nginx's access log (and
 *    no OPTIONS preflight), ms timed inside the page with performance.now(). The page figure is
 *    given twice: in a fresh page (which first fetches the BLAKE3 and zstd WebAssembly from the
 *    page's server) and again in that page once they are loaded, which is what compares with a
 *    Node process that has its modules loaded.
 * 2. random 4 KiB reads, cold (no block cache, no read-ahead, no byte cache; one open, then
 *    reads each in a DATA block not read before, new blocks every round, the same blocks for
 *    both readers within a round): p50 / p99 per read, pooled over the rounds. Both readers'
 *    bytes are checked against the raw image. Beside them, the floor: a bare HTTP GET of each
 *    read's stored block (the same range the read fetched), `fetch` in the page and Node's own
 *    transport (node-http-fetch.ts) in Node, after the reads.
 * 3. sequential read of 256 MiB of the disk stream (the 256 MiB window with the most non-zero
 *    data): in the page `readableStream` consumed by a reader loop that counts bytes, in Node
 *    `createReadStream`; the open is not timed. Beside them, the network floor: the window's
 *    stored bytes fetched by bare 4 MiB range GETs, one at a time, nothing decoded (`fetch` in
 *    the page, node-http-fetch.ts in Node). Then one more page run under Chromium's CPU
 *    profiler, to say where the page's main thread spends it (zstd / BLAKE3 WebAssembly,
 *    GC, idle waiting for fetch, other JS).
 * Plus the sizes of the browser bundle in dist/web (raw and gzip -9).
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:browser     # disk-v1.raw (2 GiB), packed with defaults (zstd)
 *
 * Without HEXZ_CORPUS a generated sample image is used (lib/input.ts). Knobs:
 * HEXZ_BROWSER_ROUNDS (3: random and sequential rounds per reader), HEXZ_BROWSER_OPEN_ROUNDS (5),
 * HEXZ_BROWSER_READS (300 random reads per round), HEXZ_BROWSER_SEQ_MIB (256), HEXZ_BENCH_KEEP=1.
 * Needs nginx and chromium (test/servers/). Results go to bench/results/browser-latest.json.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { pack } from '../src/pack/pack.js';
import { startNginx, type NginxServer } from '../test/servers/nginx.js';
import { launchChromium, CHROMIUM } from '../test/servers/chromium.js';
import { blockAt, blockPicker, densestWindow, readLayout, storedSpan } from './lib/browser-input.js';
import { profileRun } from './lib/browser-profile.js';
import { checksum, COLD, nodeReader, ViewerPage, type RandomReads, type SeqRead, type StoredRange } from './lib/browser-readers.js';
import { AccessLog, CORS_CONFIG, startWeb, type Traffic, type WebServer } from './lib/browser-servers.js';
import { bundleSizes } from './lib/browser-sizes.js';
import { formatBrowserTable } from './lib/browser-table.js';
import { pickInput } from './lib/input.js';
import { log } from './lib/log.js';
import { readRaw } from './lib/offsets.js';
import type { RunResult } from './lib/run.js';
import { ScreenedRuns } from './lib/screened-runs.js';
import { intEnv } from './lib/settings.js';
import { must } from './lib/shell.js';
import { upperMedian as median, upperPercentile as pct } from './lib/stats.js';
import { firstLine } from './lib/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const ROUNDS = Math.max(3, intEnv('HEXZ_BROWSER_ROUNDS', 3));
const OPEN_ROUNDS = Math.max(3, intEnv('HEXZ_BROWSER_OPEN_ROUNDS', 5));
const READS = intEnv('HEXZ_BROWSER_READS', 300);
const SEQ_BYTES = intEnv('HEXZ_BROWSER_SEQ_MIB', 256) * MiB;
const NAME = 'disk.hxz';
/** Request size of the bare-GET floor of the sequential read. */
const FETCH_CHUNK = 4 * MiB;

/** A measure's figures as lib/screened-runs.ts takes them (its `ms` is what it logs per run). */
const asRun = <T extends { ms: number }>(x: T): T & RunResult => ({ code: 0, stdout: '', stderr: '', ...x });

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hexz-bench-browser-'));
  const keep = process.env.HEXZ_BENCH_KEEP === '1';
  let nginx: NginxServer | undefined;
  let web: WebServer | undefined;
  let browser: Browser | undefined;
  try {
    const input = pickInput(work, 512);
    const www = join(work, 'www');
    mkdirSync(www);
    const archive = join(www, NAME);
    log(`packing ${input.path} (${(input.size / MiB).toFixed(0)} MiB, default options) ...`);
    await pack({ disk: input.path, output: archive });
    const layout = await readLayout(archive);
    // Both readers get the archive from the page cache: no reader pays for the disk.
    must(`cat ${archive} > /dev/null`);

    nginx = await startNginx({ root: www, serverConfig: CORS_CONFIG });
    web = await startWeb();
    browser = await launchChromium();
    const chromiumVersion = await browser.version();
    const url = nginx.url(NAME);
    const accessLog = new AccessLog(nginx);
    const runs = new ScreenedRuns(ROUNDS);
    const pick = blockPicker(layout);
    const b = browser;
    const webUrl = web.url;
    /** `fn` in a fresh viewer page (own browser context), closed after. */
    const inPage = async <T>(fn: (p: ViewerPage) => Promise<T>): Promise<T> => {
      const p = await ViewerPage.open(b, webUrl);
      try {
        return await fn(p);
      } finally {
        await p.close();
      }
    };

    // 1. Open + first 4 KiB read of a never-seen archive.
    const first = pick();
    const again = pick();
    await nodeReader.openFirstRead(url, again); // Node's modules (HTTP client, codecs) loaded before timing
    log(`open + first 4 KiB read at ${first}: browser (fresh page) and Node, alternated, ${OPEN_ROUNDS} runs each ...`);
    const open = await runs.alternate({
      browser: {
        label: 'browser open+read',
        run: () => inPage(async (p) => {
          const mark = accessLog.mark();
          const cold = await p.openFirstRead(url, first);
          const traffic = await accessLog.since(mark, NAME);
          // The same page again, its decoders loaded: a fresh Archive, another block.
          const warm = await p.openFirstRead(url, again);
          return asRun({ ms: cold.ms, warmMs: warm.ms, traffic });
        }),
      },
      node: {
        label: 'Node open+read',
        run: async () => {
          const mark = accessLog.mark();
          const r = await nodeReader.openFirstRead(url, first);
          return asRun({ ms: r.ms, warmMs: r.ms, traffic: await accessLog.since(mark, NAME) });
        },
      },
    }, OPEN_ROUNDS, { screen: false });
    const preflights = open.browser.reduce((n, r) => n + r.traffic.preflights, 0);
    if (preflights) log(`WARNING: ${preflights} OPTIONS preflight(s) in the browser's open + first read`);

    // 2. Random 4 KiB reads, cold: new blocks every round, the same for both readers in a round.
    log(`random 4 KiB reads, cold: ${READS} per round, browser and Node alternated, ${ROUNDS} rounds ...`);
    const lat = { browser: [] as number[], node: [] as number[] };
    const fetchLat = { browser: [] as number[], node: [] as number[] };
    const reqPerRead = { browser: [] as number[], node: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const offsets = Array.from({ length: READS }, pick);
      const stored = offsets.map((o): StoredRange => {
        const blk = blockAt(layout, o);
        return [blk.storedOffset, blk.storedLength];
      });
      const want = checksum(offsets.map((o) => readRaw(input.path, o, 4096)));
      const check = (who: string, r: RandomReads & { traffic: Traffic }) => {
        if (r.sum !== want) throw new Error(`${who}: the random reads of round ${round + 1} differ from the raw image`);
        return asRun({ ...r, ms: r.lat.reduce((s, x) => s + x, 0) });
      };
      const r = await runs.alternate({
        browser: {
          label: `browser ${READS} random reads, round ${round + 1}`,
          run: () => inPage(async (p) => {
            const mark = accessLog.mark();
            const got = await p.randomReads(url, offsets, COLD, stored);
            return check('browser', { ...got, traffic: await accessLog.since(mark, NAME) });
          }),
        },
        node: {
          label: `Node ${READS} random reads, round ${round + 1}`,
          run: async () => {
            const mark = accessLog.mark();
            const got = await nodeReader.randomReads(url, offsets, COLD, stored);
            return check('Node', { ...got, traffic: await accessLog.since(mark, NAME) });
          },
        },
      }, 1, { screen: false });
      for (const who of ['browser', 'node'] as const) {
        lat[who].push(...r[who][0].lat);
        fetchLat[who].push(...r[who][0].fetchLat);
        // The log also holds the READS bare GETs made after the reads.
        reqPerRead[who].push((r[who][0].traffic.requests - READS) / READS);
      }
    }

    // 3. Sequential read.
    const win = densestWindow(layout, SEQ_BYTES);
    const len = Math.min(SEQ_BYTES, layout.size - win.start);
    log(`sequential read of ${(len / MiB).toFixed(0)} MiB from ${win.start} (${(win.dataShare * 100).toFixed(0)}% non-zero): browser readableStream and Node createReadStream, alternated, ${ROUNDS} runs each ...`);
    const checkLen = (who: string, r: SeqRead) => {
      if (r.bytes !== len) throw new Error(`${who} sequential read delivered ${r.bytes} bytes, expected ${len}`);
      return asRun(r);
    };
    // The network floor: the window's stored bytes by bare range GETs, one at a time, nothing decoded.
    const span = storedSpan(layout, win.start, len);
    const checkSpan = (who: string, r: SeqRead) => {
      if (r.bytes !== span.to - span.from) throw new Error(`${who} fetched ${r.bytes} bytes, expected ${span.to - span.from}`);
      return asRun(r);
    };
    const seq = await runs.alternate({
      browser: { label: 'browser sequential', run: () => inPage(async (p) => checkLen('browser', await p.sequential(url, win.start, len))) },
      node: { label: 'Node sequential', run: async () => checkLen('Node', await nodeReader.sequential(url, win.start, len)) },
      browserFetch: { label: 'browser bare GETs of the stored bytes', run: () => inPage(async (p) => checkSpan('browser', await p.fetchRange(url, span.from, span.to, FETCH_CHUNK))) },
      nodeFetch: { label: 'Node bare GETs of the stored bytes', run: async () => checkSpan('Node', await nodeReader.fetchRange(url, span.from, span.to, FETCH_CHUNK)) },
    }, ROUNDS, { screen: false });
    log('one more browser sequential run under the CPU profiler ...');
    const prof = await inPage((p) => profileRun(p.page, join(ROOT, 'dist', 'web'), () => p.sequential(url, win.start, len)));
    log('and one bare-GET run under the CPU profiler ...');
    const profGets = await inPage((p) => profileRun(p.page, join(ROOT, 'dist', 'web'), () => p.fetchRange(url, span.from, span.to, FETCH_CHUNK)));

    // Figures.
    const med = (xs: { ms: number }[]) => median(xs.map((x) => x.ms));
    const mbps = (rs: SeqRead[]) => len / MiB / (med(rs) / 1000);
    const tr = (rs: { traffic: Traffic }[], k: keyof Traffic) => median(rs.map((r) => r.traffic[k]));
    const sizes = bundleSizes(join(ROOT, 'dist', 'web'));
    const results = {
      input: input.note, inputBytes: input.size, archiveBytes: statSync(archive).size, url,
      chromium: chromiumVersion, chromiumPath: CHROMIUM, node: process.version, cpu: firstLine('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]),
      openFirstRead: {
        offset: first, runs: OPEN_ROUNDS,
        browser: { requests: tr(open.browser, 'requests'), bytes: tr(open.browser, 'bytes'), preflights, msFreshPage: med(open.browser), msDecodersLoaded: median(open.browser.map((r) => r.warmMs)), all: open.browser.map(({ ms, warmMs, traffic }) => ({ ms, warmMs, traffic })) },
        node: { requests: tr(open.node, 'requests'), bytes: tr(open.node, 'bytes'), ms: med(open.node), all: open.node.map(({ ms, traffic }) => ({ ms, traffic })) },
      },
      randomRead4k: {
        rounds: ROUNDS, readsPerRound: READS,
        browser: { p50: median(lat.browser), p99: pct(lat.browser, 0.99), requestsPerRead: median(reqPerRead.browser), bareFetchP50: median(fetchLat.browser), bareFetchP99: pct(fetchLat.browser, 0.99) },
        node: { p50: median(lat.node), p99: pct(lat.node, 0.99), requestsPerRead: median(reqPerRead.node), bareFetchP50: median(fetchLat.node), bareFetchP99: pct(fetchLat.node, 0.99) },
        p50Ratio: median(lat.browser) / median(lat.node),
      },
      sequential: {
        start: win.start, bytes: len, nonZeroShare: +win.dataShare.toFixed(3), runs: ROUNDS,
        browser: { ms: med(seq.browser), MiBps: mbps(seq.browser), all: seq.browser.map((r) => r.ms) },
        node: { ms: med(seq.node), MiBps: mbps(seq.node), cpuS: median(seq.node.map((r) => r.cpuS ?? NaN)), all: seq.node.map((r) => r.ms) },
        throughputRatio: mbps(seq.browser) / mbps(seq.node),
        bareGets: { storedFrom: span.from, storedBytes: span.to - span.from, chunk: FETCH_CHUNK, browserMs: med(seq.browserFetch), nodeMs: med(seq.nodeFetch) },
        browserProfile: { runMs: prof.result.ms, ...prof.summary },
        bareGetsProfile: { runMs: profGets.result.ms, ...profGets.summary },
      },
      bundle: sizes,
    };

    const ro = results.openFirstRead;
    const rr = results.randomRead4k;
    const sq = results.sequential;
    const table = formatBrowserTable([
      {
        title: `open + first 4 KiB read, never-seen archive (median of ${OPEN_ROUNDS})`,
        rows: [
          { measure: 'requests', browser: ro.browser.requests, node: ro.node.requests, unit: 'count', target: { text: '<= 3', met: () => ro.browser.requests <= 3 } },
          { measure: 'bytes', browser: ro.browser.bytes, node: ro.node.bytes, unit: 'B', showRatio: true },
          { measure: 'OPTIONS preflights (all runs)', browser: preflights, node: 0, unit: 'count', target: { text: 'none', met: () => preflights === 0 } },
          { measure: 'ms, fresh page (fetches wasm)', browser: ro.browser.msFreshPage, node: ro.node.ms, unit: 'ms', showRatio: true },
          { measure: 'ms, page with decoders loaded', browser: ro.browser.msDecodersLoaded, node: ro.node.ms, unit: 'ms', showRatio: true },
        ],
      },
      {
        title: `random 4 KiB reads, cold (${ROUNDS} x ${READS} distinct data blocks)`,
        rows: [
          { measure: 'p50', browser: rr.browser.p50, node: rr.node.p50, unit: 'ms', target: { text: '<= 2x', met: (x) => x <= 2 } },
          { measure: 'p99', browser: rr.browser.p99, node: rr.node.p99, unit: 'ms', showRatio: true },
          { measure: 'requests per read', browser: rr.browser.requestsPerRead, node: rr.node.requestsPerRead, unit: 'count' },
          { measure: 'bare HTTP GET of the block, p50', browser: rr.browser.bareFetchP50, node: rr.node.bareFetchP50, unit: 'ms', showRatio: true },
          { measure: 'bare HTTP GET of the block, p99', browser: rr.browser.bareFetchP99, node: rr.node.bareFetchP99, unit: 'ms', showRatio: true },
        ],
      },
      {
        title: `sequential ${(len / MiB).toFixed(0)} MiB from ${(win.start / MiB).toFixed(0)} MiB (${(win.dataShare * 100).toFixed(0)}% non-zero; median of ${ROUNDS})`,
        rows: [
          { measure: 'throughput', browser: sq.browser.MiBps, node: sq.node.MiBps, unit: 'MiB/s', target: { text: '>= 0.5x', met: (x) => x >= 0.5 } },
          { measure: 'time', browser: sq.browser.ms, node: sq.node.ms, unit: 'ms', showRatio: true },
          { measure: `bare 4 MiB GETs of its ${(sq.bareGets.storedBytes / MiB).toFixed(0)} MiB stored, time`, browser: sq.bareGets.browserMs, node: sq.bareGets.nodeMs, unit: 'ms', showRatio: true },
        ],
      },
    ]);
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    const share = (ms: number) => `${((ms / prof.summary.totalMs) * 100).toFixed(0)}%`;
    console.log(`\ninput: ${input.note}; archive ${(results.archiveBytes / MiB).toFixed(1)} MiB (default options: zstd); ${chromiumVersion}, Node ${process.version}`);
    console.log(table);
    const busyMs = prof.summary.totalMs - (prof.summary.buckets.idle ?? 0);
    console.log(`\nbrowser sequential, page main thread (CPU profile of one more ${(prof.result.ms / 1000).toFixed(2)} s run incl. its open, ${prof.summary.totalMs.toFixed(0)} ms profiled, `
      + `${(busyMs / 1000).toFixed(2)} s busy; Node's read used ${sq.node.cpuS.toFixed(2)} CPU-s on all its threads, decoding on workers):`);
    console.log(`  ${Object.entries(prof.summary.buckets).sort((x, y) => y[1] - x[1]).map(([k, ms]) => `${k} ${share(ms)}`).join(', ')}`);
    console.log(`  top self time: ${prof.summary.top.slice(0, 5).map((t) => `${t.fn} [${t.where}] ${share(t.ms)}`).join('; ')}`);
    const g = profGets.summary;
    console.log(`  the bare GETs alone (profiled, ${(profGets.result.ms / 1000).toFixed(2)} s): ${Object.entries(g.buckets).sort((x, y) => y[1] - x[1]).map(([k, ms]) => `${k} ${((ms / g.totalMs) * 100).toFixed(0)}%`).join(', ')}`);
    console.log(`\nbundle (dist/web, raw / gzip -9): library hexz.js + static chunks ${kb(sizes.library.bytes)} / ${kb(sizes.library.gzip)}; `
      + `loaded at the first open of a zstd archive (BLAKE3 chunk, zstd glue, zstd.wasm) ${kb(sizes.zstdArchiveExtra.bytes)} / ${kb(sizes.zstdArchiveExtra.gzip)}; `
      + `viewer page on top (index.html, style.css, app.js) ${kb(sizes.viewerExtra.bytes)} / ${kb(sizes.viewerExtra.gzip)}`);
    for (const f of sizes.files) console.log(`  ${f.file.padEnd(34)} ${String(f.bytes).padStart(8)} B  gzip ${String(f.gzip).padStart(7)} B`);

    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', 'browser-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2)}\n`);
  } finally {
    await browser?.close();
    await web?.stop();
    await nginx?.close();
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

await main();
