/**
 * Remote-archive benchmark (issue 11), every peer measured in the same run on the same input,
 * runs alternated, medians reported:
 *
 * - open + first 4 KiB read of a never-seen archive over loopback nginx: requests and bytes
 *   (counted below the wrappers) and ms, beside qemu's curl driver opening the zstd qcow2 of the
 *   same image and reading the same 4 KiB (`qemu-io -r -f qcow2 http://…`; its requests and
 *   bytes from nginx's access log).
 * - random 4 KiB reads, cold (no block cache; a new reader per batch), p50/p99 per read, beside
 *   qemu-io's per-op times for reads at the same offsets, and two floors: a bare request of each
 *   read's stored block through the same HTTP transport (no decode, no hash), and the same
 *   request followed by decompressing the block (what qemu's read also does; no hash).
 * - sequential read of the disk stream: `hexz cat URL > /dev/null` beside
 *   `curl URL.zst | zstd -d > /dev/null` of a zstd -3 stream of the same raw image.
 * - push / pull of the archive to radosgw beside `aws s3 cp` of the same file (with Ceph).
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:remote    # disk-v1.raw, disk-v1-zstd.qcow2
 *
 * Without HEXZ_CORPUS a generated 512 MiB image is used (qcow2 made with qemu-img). Results go
 * to bench/results/remote-latest.json. Needs nginx, curl, zstd, qemu-img/qemu-io with qemu's curl
 * driver (Debian qemu-block-extra); Ceph and
 * awscli for the push/pull rows (skipped without them).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../src/pack/pack.js';
import { Archive } from '../src/node/archive.js';
import { HttpSource } from '../src/store/http-source.js';
import { CountingSource } from '../src/store/counting-source.js';
import { wrapRemote } from '../src/store/wrap-remote.js';
import { nodeHttpFetch } from '../src/store/node-http-fetch.js';
import { createCodec } from '../src/codec/registry.js';
import type { CodecId } from '../src/format/constants.js';
import { startNginx, type NginxServer } from '../test/servers/nginx.js';
import { writeGeneratedImage } from './lib/generated-image.js';
import { sh as shell } from './lib/shell.js';
import { upperMedian as median, upperPercentile as pct } from './lib/stats.js';
import { have } from './lib/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-remote-'));
const HEXZ = join(ROOT, 'bin', 'hexz.js');
/** lib/shell's `sh`, with the extra environment (AWS credentials) as a second argument. */
const sh = (cmd: string, env?: Record<string, string>) => shell(cmd, { env });

/** The raw image and its zstd qcow2: from the corpus, or generated. */
function inputs(): { raw: string; qcow2: string } {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) return { raw: join(corpus, 'disk-v1.raw'), qcow2: join(corpus, 'disk-v1-zstd.qcow2') };
  const raw = join(work, 'disk.raw');
  writeGeneratedImage(raw);
  const qcow2 = join(work, 'disk.qcow2');
  sh(`qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd ${raw} ${qcow2}`);
  return { raw, qcow2 };
}

/** Lines of nginx's access log for `name` after line `from`, with their bytes sent. */
function logSince(nginx: NginxServer, name: string, from: number): { lines: number; bytes: number; total: number } {
  const all = readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter(Boolean);
  const mine = all.slice(from).filter((l) => l.includes(`/${name} `));
  // Combined log format: "... " STATUS BYTES "referer" "agent"
  const bytes = mine.reduce((n, l) => n + Number(/" \d{3} (\d+) /.exec(l)?.[1] ?? 0), 0);
  return { lines: mine.length, bytes, total: all.length };
}

function logLength(nginx: NginxServer): number {
  return existsSync(join(nginx.dir, 'access.log')) ? readFileSync(join(nginx.dir, 'access.log'), 'utf8').split('\n').filter(Boolean).length : 0;
}

async function main(): Promise<void> {
  for (const t of ['nginx', 'curl', 'zstd', 'qemu-io', 'qemu-img']) if (!have(t) && !existsSync(`/usr/sbin/${t}`)) throw new Error(`${t} is needed for this benchmark`);
  const { raw, qcow2 } = inputs();
  const www = join(work, 'www');
  mkdirSync(www);
  const archive = join(www, 'disk.hxz');
  console.log(`packing ${raw} (${(statSync(raw).size / MiB).toFixed(0)} MiB) ...`);
  await pack({ disk: raw, output: archive });
  symlinkSync(qcow2, join(www, 'disk.qcow2'));
  sh(`zstd -q -3 -T0 -f -o ${join(www, 'disk.raw.zst')} ${raw}`);
  const nginx = await startNginx({ root: www });
  const url = (n: string) => nginx.url(n);
  const size = statSync(raw).size;
  const results: Record<string, unknown> = { input: raw, inputBytes: size, archiveBytes: statSync(archive).size };
  try {
    // Offsets inside data (not zero runs): sampled from the archive's DATA entries.
    const a0 = await Archive.open(archive);
    const dataOffsets: number[] = [];
    // The stored extent of each data entry (same order), for the bare-request floor below.
    const storedAt: [number, number, CodecId, number][] = [];
    for await (const e of a0.entries('disk')) {
      if (e.kind === 0) continue;
      dataOffsets.push(e.offset);
      storedAt.push([e.storedOffset, e.storedLength, e.encoding, e.length]);
    }
    await a0.close();
    // xorshift32 (exact in doubles, unlike an LCG with a 31-bit multiplier), each pick a new
    // block so neither reader can serve a read from what an earlier one fetched.
    let seed = 7;
    const used = new Set<number>();
    /** The stored extent of the entry each picked 4 KiB offset lies in. */
    const extentOf = new Map<number, [number, number, CodecId, number]>();
    const pick = () => {
      for (;;) {
        seed ^= seed << 13; seed >>>= 0;
        seed ^= seed >>> 17;
        seed ^= seed << 5; seed >>>= 0;
        const i = seed % dataOffsets.length;
        if (used.size < dataOffsets.length && used.has(i)) continue;
        used.add(i);
        const at = Math.floor(dataOffsets[i] / 4096) * 4096;
        extentOf.set(at, storedAt[i]);
        return at;
      }
    };

    // 1. Open + first 4 KiB read.
    const first = pick();
    const hexzOpen: { ms: number; requests: number; bytes: number }[] = [];
    const qemuOpen: { ms: number; requests: number; bytes: number }[] = [];
    for (let round = 0; round < 5; round++) {
      const counted = new CountingSource(new HttpSource(url('disk.hxz')));
      const t = performance.now();
      const a = await Archive.open(wrapRemote(counted));
      await a.readAt('disk', first, 4096);
      hexzOpen.push({ ms: performance.now() - t, requests: counted.requests, bytes: counted.bytesRead });
      await a.close();
      const from = logLength(nginx);
      const q = sh(`qemu-io -r -f qcow2 ${url('disk.qcow2')} -c 'read ${first} 4096'`);
      if (q.status !== 0) throw new Error(`qemu-io failed: ${q.stderr}`);
      const log = logSince(nginx, 'disk.qcow2', from);
      qemuOpen.push({ ms: q.ms, requests: log.lines, bytes: log.bytes });
    }
    results.openFirstRead = {
      hexz: { requests: median(hexzOpen.map((x) => x.requests)), bytes: median(hexzOpen.map((x) => x.bytes)), ms: median(hexzOpen.map((x) => x.ms)) },
      qemuCurl: { requests: median(qemuOpen.map((x) => x.requests)), bytes: median(qemuOpen.map((x) => x.bytes)), msWholeProcess: median(qemuOpen.map((x) => x.ms)) },
    };

    // 2. Random 4 KiB reads, cold: no block cache, each read at a new offset.
    const N = 200;
    const offsets = Array.from({ length: N }, pick);
    const hexzLat: number[] = [];
    const qemuLat: number[] = [];
    const qemuRequests: number[] = [];
    const hexzRequests: number[] = [];
    for (let round = 0; round < 2; round++) {
      // Cold: no decoded-block cache, no read-ahead and no byte cache in front of HTTP.
      const a = await Archive.open(url('disk.hxz'), { cacheBytes: 0, readAheadBytes: 0, source: { cacheBytes: 0 } });
      const hexzBefore = logLength(nginx);
      for (const off of offsets) {
        const t = performance.now();
        await a.readAt('disk', off, 4096);
        hexzLat.push(performance.now() - t);
      }
      hexzRequests.push(logSince(nginx, 'disk.hxz', hexzBefore).lines);
      await a.close();
      const cmds = offsets.map((o) => `-c 'read ${o} 4096'`).join(' ');
      const before = logLength(nginx);
      const q = sh(`qemu-io -r -f qcow2 ${url('disk.qcow2')} ${cmds}`);
      qemuRequests.push(logSince(nginx, 'disk.qcow2', before).lines);
      // qemu-io prints each op's time rounded to 10 ms, but its rate exactly: latency = 1 / rate.
      for (const m of q.stdout.matchAll(/and ([\d.]+) ops\/sec/g)) qemuLat.push(1000 / Number(m[1]));
    }
    // The floor: one bare HTTP request of each read's stored block through the same transport
    // (undici, keep-alive), no decode, no hash check. Whatever a verified read adds comes on top.
    // The second floor adds what every reader of a compressed block must do, qemu included:
    // decompress it (the same native codec hexz uses; no hash check, no copy, no cache).
    const bare: number[] = [];
    const bareDecode: number[] = [];
    const codecs = new Map<CodecId, ReturnType<typeof createCodec>>();
    for (const [k, off] of offsets.entries()) {
      const [at, n, encoding, length] = extentOf.get(off)!;
      let codec = codecs.get(encoding);
      if (!codec) codecs.set(encoding, (codec = createCodec(encoding)));
      const t = performance.now();
      const res = await nodeHttpFetch(url('disk.hxz'), { headers: { range: `bytes=${at}-${at + n - 1}` } });
      const body = await res.arrayBuffer();
      // Alternate which floor a read measures, so both see the same mix of blocks and moments.
      if (k % 2 === 1) codec.decompress(new Uint8Array(body), length);
      (k % 2 === 1 ? bareDecode : bare).push(performance.now() - t);
      if (body.byteLength !== n) throw new Error(`bare request of ${n} bytes at ${at} gave ${body.byteLength}`);
    }
    results.randomRead4k = {
      // Requests per read: qemu's curl driver reads ahead 256 KiB per request and caches it, so
      // below 1 some of its "cold" reads were served from memory.
      hexz: { p50: median(hexzLat), p99: pct(hexzLat, 0.99), reads: hexzLat.length, requestsPerRead: median(hexzRequests) / N },
      qemuCurl: { p50: median(qemuLat), p99: pct(qemuLat, 0.99), reads: qemuLat.length, requestsPerRead: median(qemuRequests) / N },
      p50Ratio: median(hexzLat) / median(qemuLat),
      bareRequest: { p50: median(bare), p99: pct(bare, 0.99), p50RatioToQemu: median(bare) / median(qemuLat) },
      bareRequestAndDecompress: { p50: median(bareDecode), p99: pct(bareDecode, 0.99), p50RatioToQemu: median(bareDecode) / median(qemuLat) },
    };

    // 3. Sequential read of the whole stream.
    const hexzSeq: number[] = [];
    const curlSeq: number[] = [];
    for (let round = 0; round < 3; round++) {
      const h = sh(`node ${HEXZ} cat ${url('disk.hxz')} > /dev/null`);
      if (h.status !== 0) throw new Error(`hexz cat failed: ${h.stderr}`);
      hexzSeq.push(h.ms);
      const c = sh(`set -o pipefail; curl -s ${url('disk.raw.zst')} | zstd -d -q > /dev/null`);
      if (c.status !== 0) throw new Error(`curl | zstd failed: ${c.stderr}`);
      curlSeq.push(c.ms);
    }
    results.sequential = {
      hexzMs: median(hexzSeq), curlZstdMs: median(curlSeq),
      hexzMBps: size / MiB / (median(hexzSeq) / 1000), curlZstdMBps: size / MiB / (median(curlSeq) / 1000),
      throughputRatio: median(curlSeq) / median(hexzSeq),
    };
  } finally {
    await nginx.close();
  }

  // 4. Push / pull beside aws s3 cp, against radosgw.
  const { startCeph } = await import('../test/servers/ceph.js');
  const ceph = have('aws') ? await startCeph().catch(() => undefined) : undefined;
  if (ceph) {
    const env = { AWS_ACCESS_KEY_ID: ceph.accessKey, AWS_SECRET_ACCESS_KEY: ceph.secretKey, AWS_REGION: ceph.region, AWS_DEFAULT_REGION: ceph.region, AWS_ENDPOINT_URL: ceph.endpoint, AWS_EC2_METADATA_DISABLED: 'true' };
    try {
      sh(`aws --endpoint-url ${ceph.endpoint} s3api create-bucket --bucket bench`, env);
      const push: number[] = [];
      const awsUp: number[] = [];
      const pull: number[] = [];
      const awsDown: number[] = [];
      for (let round = 0; round < 3; round++) {
        const p = sh(`node ${HEXZ} push ${archive} s3://bench/push${round}/ --silent`, env);
        if (p.status !== 0) throw new Error(`hexz push failed: ${p.stderr}`);
        push.push(p.ms);
        const u = sh(`aws --endpoint-url ${ceph.endpoint} --only-show-errors s3 cp ${archive} s3://bench/aws${round}/disk.hxz`, env);
        if (u.status !== 0) throw new Error(`aws s3 cp failed: ${u.stderr}`);
        awsUp.push(u.ms);
        const dir = join(work, `pull${round}`);
        const d = sh(`node ${HEXZ} pull s3://bench/push${round}/disk.hxz ${dir} --silent --no-verify`, env);
        if (d.status !== 0) throw new Error(`hexz pull failed: ${d.stderr}`);
        pull.push(d.ms);
        const w = sh(`aws --endpoint-url ${ceph.endpoint} --only-show-errors s3 cp s3://bench/aws${round}/disk.hxz ${join(work, `aws${round}.hxz`)}`, env);
        if (w.status !== 0) throw new Error(`aws s3 cp failed: ${w.stderr}`);
        awsDown.push(w.ms);
        rmSync(dir, { recursive: true, force: true });
        rmSync(join(work, `aws${round}.hxz`), { force: true });
      }
      results.pushPull = {
        pushMs: median(push), awsUpMs: median(awsUp), pushThroughputRatio: median(awsUp) / median(push),
        pullMs: median(pull), awsDownMs: median(awsDown), pullThroughputRatio: median(awsDown) / median(pull),
      };
    } finally {
      await ceph.stop();
    }
  } else results.pushPull = 'skipped (Ceph or awscli missing)';

  console.log(JSON.stringify(results, null, 2));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'remote-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2)}\n`);
  if (!process.env.HEXZ_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}

await main();
