/**
 * The two readers the browser bench compares, with the same three measures each: hexz in a
 * headless Chromium page (the viewer page of `hexz web`, its library as `window.hexz`, every
 * figure timed inside the page with performance.now()) and the Node reader in this process.
 */
import type { Browser, BrowserContext, Page } from 'puppeteer-core';
import { Archive } from '../../src/node/archive.js';
import type { OpenOptions } from '../../src/archive/open-options.js';
import { nodeHttpFetch } from '../../src/store/node-http-fetch.js';
import { timeInProcess } from './run.js';

type HexzBrowser = typeof import('../../src/browser/index.js');

/** Open + first 4 KiB read, ms. */
export interface OpenRead { ms: number }
/** Sequential read: ms and bytes delivered; for Node also the CPU seconds of the whole process (all threads). */
export interface SeqRead { ms: number; bytes: number; cpuS?: number }
/**
 * Random reads: ms of each read, a checksum of all the bytes read (see {@link checksum}), and ms
 * of a bare HTTP range request for each read's stored block (the same bytes the read fetched,
 * the reader's floor): `fetch` in the page, Node's own HTTP transport (node:http, keep-alive).
 */
export interface RandomReads { lat: number[]; sum: number; fetchLat: number[] }

/** A stored block as `[first byte, length]` in the archive. */
export type StoredRange = [number, number];

/** The checksum both readers compute over the bytes of their random reads (checked against the raw image). */
export function checksum(chunks: Uint8Array[]): number {
  let s = 0;
  for (const b of chunks) for (let i = 0; i < b.length; i++) s = (Math.imul(s, 31) + b[i]) >>> 0;
  return s;
}

/** No decoded-block cache, no read-ahead, no byte cache in front of HTTP: every random read is cold (as bench/remote.ts). */
export const COLD: OpenOptions = { cacheBytes: 0, readAheadBytes: 0, source: { cacheBytes: 0 } };

/** A page of the viewer in a browser context of its own (empty HTTP cache, nothing loaded yet), cache disabled. */
export class ViewerPage {
  private constructor(private readonly context: BrowserContext, readonly page: Page) {}

  static async open(browser: Browser, webUrl: string): Promise<ViewerPage> {
    const context = await browser.createBrowserContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(String(err)));
      // No Chromium HTTP cache between readers: Chromium may keep 206 answers and serve a later
      // open's ranges from memory, which would not be a never-seen archive.
      await page.setCacheEnabled(false);
      // tsx compiles this file's functions with esbuild's name helper; those passed to
      // page.evaluate run in the page, which has none (as test/browser.test.ts).
      await page.evaluateOnNewDocument('globalThis.__name = (f) => f;');
      await page.goto(webUrl);
      await page.waitForFunction(() => (globalThis as { hexz?: unknown }).hexz !== undefined);
      if (errors.length) throw new Error(`the viewer page failed: ${errors.join('; ')}`);
      return new ViewerPage(context, page);
    } catch (err) {
      await context.close();
      throw err;
    }
  }

  close(): Promise<void> {
    return this.context.close();
  }

  /** `hexz.Archive.open(url)` + `readAt('disk', offset, 4096)`, timed in the page. */
  openFirstRead(url: string, offset: number): Promise<OpenRead> {
    return this.page.evaluate(async (url: string, offset: number) => {
      const { Archive } = (globalThis as unknown as { hexz: HexzBrowser }).hexz;
      const t = performance.now();
      const a = await Archive.open(url);
      const b = await a.readAt('disk', offset, 4096);
      const ms = performance.now() - t;
      await a.close();
      if (b.length !== 4096) throw new Error(`read ${b.length} bytes`);
      return { ms };
    }, url, offset);
  }

  /** One open (options `opts`), then a 4 KiB read at each offset, each timed in the page; then a bare `fetch` of each stored range. */
  randomReads(url: string, offsets: number[], opts: OpenOptions, stored: StoredRange[]): Promise<RandomReads> {
    return this.page.evaluate(async (url: string, offsets: number[], opts: OpenOptions, stored: StoredRange[]) => {
      const { Archive } = (globalThis as unknown as { hexz: HexzBrowser }).hexz;
      const a = await Archive.open(url, opts);
      const lat: number[] = [];
      const got: Uint8Array[] = [];
      for (const off of offsets) {
        const t = performance.now();
        const b = await a.readAt('disk', off, 4096);
        lat.push(performance.now() - t);
        got.push(b);
      }
      await a.close();
      const fetchLat: number[] = [];
      for (const [at, n] of stored) {
        const t = performance.now();
        // As the reader fetches: past the HTTP cache (no-store).
        const res = await fetch(url, { cache: 'no-store', headers: { range: `bytes=${at}-${at + n - 1}` } });
        const body = await res.arrayBuffer();
        fetchLat.push(performance.now() - t);
        if (body.byteLength !== n) throw new Error(`fetch of ${n} bytes at ${at} gave ${body.byteLength}`);
      }
      // The same sum as checksum() (a function of this module cannot be passed into the page).
      let s = 0;
      for (const b of got) for (let i = 0; i < b.length; i++) s = (Math.imul(s, 31) + b[i]) >>> 0;
      return { lat, sum: s, fetchLat };
    }, url, offsets, opts, stored);
  }

  /** Bytes [start, start + length) of the disk stream through `readableStream`, counted by a reader loop; the open is not timed. */
  sequential(url: string, start: number, length: number): Promise<SeqRead> {
    return this.page.evaluate(async (url: string, start: number, length: number) => {
      const { Archive } = (globalThis as unknown as { hexz: HexzBrowser }).hexz;
      const a = await Archive.open(url);
      const t = performance.now();
      const reader = a.readableStream('disk', { start, end: start + length }).getReader();
      let bytes = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
      }
      const ms = performance.now() - t;
      await a.close();
      return { ms, bytes };
    }, url, start, length);
  }

  /** Bytes [from, to) of the archive itself by bare `fetch` range requests of `chunk` bytes, one at a time (no decode, no hash): the network floor of a sequential read. */
  fetchRange(url: string, from: number, to: number, chunk: number): Promise<SeqRead> {
    return this.page.evaluate(async (url: string, from: number, to: number, chunk: number) => {
      const t = performance.now();
      let bytes = 0;
      for (let at = from; at < to; at += chunk) {
        // As the reader fetches: past the HTTP cache, the body read as a stream (a Chromium
        // arrayBuffer() of megabytes is much slower: src/store/http-source.ts streamBodies).
        const res = await fetch(url, { cache: 'no-store', headers: { range: `bytes=${at}-${Math.min(at + chunk, to) - 1}` } });
        const reader = res.body!.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.byteLength;
        }
      }
      return { ms: performance.now() - t, bytes };
    }, url, from, to, chunk);
  }
}

/** The Node reader, the same three measures, timed in this process. */
export const nodeReader = {
  async openFirstRead(url: string, offset: number): Promise<OpenRead> {
    const t = performance.now();
    const a = await Archive.open(url);
    const b = await a.readAt('disk', offset, 4096);
    const ms = performance.now() - t;
    await a.close();
    if (b.length !== 4096) throw new Error(`read ${b.length} bytes`);
    return { ms };
  },

  async randomReads(url: string, offsets: number[], opts: OpenOptions, stored: StoredRange[]): Promise<RandomReads> {
    const a = await Archive.open(url, opts);
    const lat: number[] = [];
    const got: Uint8Array[] = [];
    for (const off of offsets) {
      const t = performance.now();
      const b = await a.readAt('disk', off, 4096);
      lat.push(performance.now() - t);
      got.push(b);
    }
    await a.close();
    const fetchLat: number[] = [];
    for (const [at, n] of stored) {
      const t = performance.now();
      const res = await nodeHttpFetch(url, { headers: { range: `bytes=${at}-${at + n - 1}` } });
      const body = await res.arrayBuffer();
      fetchLat.push(performance.now() - t);
      if (body.byteLength !== n) throw new Error(`fetch of ${n} bytes at ${at} gave ${body.byteLength}`);
    }
    return { lat, sum: checksum(got), fetchLat };
  },

  /** `createReadStream('disk', { start, end: start + length - 1 })` (end inclusive), bytes counted. */
  async sequential(url: string, start: number, length: number): Promise<SeqRead> {
    const a = await Archive.open(url);
    let bytes = 0;
    const r = await timeInProcess(async () => {
      for await (const c of a.createReadStream('disk', { start, end: start + length - 1 })) bytes += (c as Uint8Array).length;
    });
    await a.close();
    return { ms: r.ms, bytes, cpuS: r.cpuS };
  },

  /** {@link ViewerPage.fetchRange} with Node's own HTTP transport (node-http-fetch.ts). */
  async fetchRange(url: string, from: number, to: number, chunk: number): Promise<SeqRead> {
    const t = performance.now();
    let bytes = 0;
    for (let at = from; at < to; at += chunk) {
      const res = await nodeHttpFetch(url, { headers: { range: `bytes=${at}-${Math.min(at + chunk, to) - 1}` } });
      bytes += (await res.arrayBuffer()).byteLength;
    }
    return { ms: performance.now() - t, bytes };
  },
};
