/**
 * `hexz serve` benchmark (issue 12), each peer measured in the same run on the same input, runs
 * alternated, medians reported:
 *
 * - NBD whole-disk copy with nbdcopy (1 and 4 connections) to null:, beside `qemu-nbd -r`
 *   serving the zstd qcow2 of the same image.
 * - random 4 KiB read latency through NBD (libnbd python, one read at a time, each at a data
 *   block not read before), p50/p99, same peer: the first 1500 reads of a fresh server, then
 *   300 more (steady state: what a long-running server answers; every offset still a block
 *   neither server has read). While a fresh hexz server's JIT compiles its read path and its
 *   block cache (64 MiB: 1024 decoded 64 KiB blocks) fills with memory the process has not
 *   touched before, its reads are slower. The target row is the steady state; the fresh-server
 *   figure is reported beside it.
 * - boot of the corpus disk to its login prompt (qemu-system-x86_64, TCG) from each server's
 *   NBD export (only with the corpus, which has the kernel and initrd: HEXZ_CORPUS).
 * - HTTP: `curl` of the whole disk stream beside nginx serving the raw image file.
 *
 *   HEXZ_CORPUS=/work/corpus npm run bench:serve    # disk-v1.raw, disk-v1-zstd.qcow2
 *
 * Without HEXZ_CORPUS a generated 512 MiB image is used (no boot row). Results go to
 * bench/results/serve-latest.json. Needs qemu-img, qemu-nbd, nbdcopy (libnbd-bin), python3-libnbd,
 * curl, nginx; qemu-system-x86_64 for the boot row.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from '../src/pack/pack.js';
import { Archive } from '../src/node/archive.js';
import { startNginx } from '../test/servers/nginx.js';
import { startHexzServe } from '../test/servers/hexz-serve.js';
import { writeGeneratedImage } from './lib/generated-image.js';
import { must as mustRun, sh as shell } from './lib/shell.js';
import { upperMedian as median, upperPercentile as pct } from './lib/stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;
/** Reads of each fresh server before its latency is measured (reported as the fresh-server figure). */
const WARMUP_READS = 1500;
const work = mkdtempSync(join(tmpdir(), 'hexz-bench-serve-'));
/** lib/shell's `sh` and `must`, with the command's stdin as a second argument. */
const sh = (cmd: string, input?: string) => shell(cmd, { input });
const must = (cmd: string, input?: string) => mustRun(cmd, { input });

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** The raw image and its zstd qcow2: from the corpus, or generated. */
function inputs(): { raw: string; qcow2: string; boot?: { kernel: string; initrd: string } } {
  const corpus = process.env.HEXZ_CORPUS;
  if (corpus) {
    const bootDir = join(corpus, '.build', 'rootfs-v1', 'boot');
    const find = (prefix: string) => existsSync(bootDir) ? readdirSync(bootDir).find((f) => f.startsWith(prefix)) : undefined;
    const kernel = find('vmlinuz-');
    const initrd = find('initrd.img-');
    return {
      raw: join(corpus, 'disk-v1.raw'), qcow2: join(corpus, 'disk-v1-zstd.qcow2'),
      boot: kernel && initrd ? { kernel: join(bootDir, kernel), initrd: join(bootDir, initrd) } : undefined,
    };
  }
  const raw = join(work, 'disk.raw');
  writeGeneratedImage(raw);
  const qcow2 = join(work, 'disk.qcow2');
  must(`qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd ${raw} ${qcow2}`);
  return { raw, qcow2 };
}

/** `qemu-nbd -r` of the qcow2 on a free port; its NBD URL and a stop function. */
async function startQemuNbd(qcow2: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn('qemu-nbd', ['-t', '-r', '-p', String(port), '-b', '127.0.0.1', '-f', 'qcow2', '-x', 'disk', '--shared=16', qcow2], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('close', r));
  for (let i = 0; i < 200 && sh(`nbdinfo --size nbd://127.0.0.1:${port}/disk`).status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  return { url: `nbd://127.0.0.1:${port}/disk`, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/** Boots the corpus disk from `url` and returns the ms to the login prompt on the serial console. */
async function bootMs(url: string, boot: { kernel: string; initrd: string }, tag: string): Promise<number> {
  const serial = join(work, `serial-${tag}.log`);
  rmSync(serial, { force: true });
  const t = performance.now();
  const q = spawn('qemu-system-x86_64', [
    '-machine', 'q35,accel=tcg', '-m', '1024', '-smp', '2', '-display', 'none', '-no-reboot',
    '-kernel', boot.kernel, '-initrd', boot.initrd, '-append', 'root=/dev/vda1 rw console=ttyS0',
    '-drive', `driver=raw,file=${url},if=virtio,snapshot=on`, '-nic', 'none', '-serial', `file:${serial}`,
  ], { stdio: 'ignore' });
  const exited = new Promise((r) => q.once('close', r));
  try {
    for (;;) {
      if (existsSync(serial) && readFileSync(serial, 'utf8').includes('login:')) return performance.now() - t;
      if (q.exitCode !== null || performance.now() - t > 600_000) throw new Error(`boot from ${url} failed: ${existsSync(serial) ? readFileSync(serial, 'utf8').slice(-500) : 'no console output'}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    q.kill('SIGKILL');
    await exited;
  }
}

async function main(): Promise<void> {
  for (const t of ['qemu-img', 'qemu-nbd', 'nbdcopy', 'curl', 'python3']) if (sh(`command -v ${t}`).status !== 0) throw new Error(`${t} is needed for this benchmark`);
  if (sh('/usr/bin/python3 -c "import nbd"').status !== 0) throw new Error('python3-libnbd is needed for this benchmark');
  const { raw, qcow2, boot } = inputs();
  const archive = join(work, 'disk.hxz');
  console.log(`packing ${raw} (${(statSync(raw).size / MiB).toFixed(0)} MiB) ...`);
  await pack({ disk: raw, output: archive });
  const size = statSync(raw).size;
  const results: Record<string, unknown> = { input: raw, inputBytes: size, archiveBytes: statSync(archive).size, peerInput: qcow2 };

  // Data-block offsets, each read once per reader (no cache can serve them).
  const a0 = await Archive.open(archive);
  const dataOffsets: number[] = [];
  for await (const e of a0.entries('disk')) if (e.kind !== 0) dataOffsets.push(e.offset);
  await a0.close();
  let seed = 11;
  const used = new Set<number>();
  // Each pick a data block not picked before (while any is left): no cache can serve a read.
  const pick = () => {
    for (;;) {
      seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
      const i = seed % dataOffsets.length;
      if (used.size < dataOffsets.length && used.has(i)) continue;
      used.add(i);
      return Math.floor(dataOffsets[i] / 4096) * 4096;
    }
  };

  const hexzHttpPort = await freePort();
  const www = join(work, 'www');
  mkdirSync(www);
  symlinkSync(raw, join(www, 'disk.raw'));
  const nginx = await startNginx({ root: www });
  try {
    const copy: Record<string, number[]> = { hexz1: [], qemu1: [], hexz4: [], qemu4: [] };
    const lat: Record<string, number[]> = { hexz: [], qemu: [] };
    const fresh: Record<string, number[]> = { hexz: [], qemu: [] };
    const http: Record<string, number[]> = { hexz: [], nginx: [] };
    for (let round = 0; round < 3; round++) {
      const first = Array.from({ length: WARMUP_READS }, pick).join('\n');
      const offsets = Array.from({ length: 300 }, pick).join('\n');
      for (const who of round % 2 ? ['qemu', 'hexz'] : ['hexz', 'qemu']) {
        // A fresh server each round: no cache carries over between rounds.
        const server = who === 'hexz'
          ? await startHexzServe([archive, '--nbd', '127.0.0.1:0', '--http', `127.0.0.1:${hexzHttpPort}`]).then((s) => ({ url: s.url('disk', 'nbd:'), stop: async () => void (await s.stop()) }))
          : await startQemuNbd(qcow2);
        try {
          const latency = (list: string) => JSON.parse(must(`/usr/bin/python3 ${join(ROOT, 'bench', 'nbd-latency.py')} ${server.url} 4096`, list).stdout) as number[];
          fresh[who].push(...latency(first));
          lat[who].push(...latency(offsets));
          for (const c of [1, 4]) copy[`${who}${c}`].push(must(`nbdcopy --connections=${c} ${server.url} null:`).ms);
          if (who === 'hexz') http.hexz.push(must(`curl -sf -o /dev/null http://127.0.0.1:${hexzHttpPort}/disk`).ms);
          else http.nginx.push(must(`curl -sf -o /dev/null ${nginx.url('disk.raw')}`).ms);
        } finally {
          await server.stop();
        }
      }
      console.log(`round ${round + 1}: copy ${JSON.stringify(Object.fromEntries(Object.entries(copy).map(([k, v]) => [k, Math.round(v[v.length - 1])])))}`);
    }
    results.nbdcopy = Object.fromEntries([1, 4].map((c) => [`connections${c}`, {
      hexzMs: median(copy[`hexz${c}`]), qemuNbdMs: median(copy[`qemu${c}`]),
      hexzMBps: size / MiB / (median(copy[`hexz${c}`]) / 1000), throughputRatio: median(copy[`qemu${c}`]) / median(copy[`hexz${c}`]),
    }]));
    results.randomRead4k = {
      // Steady state: the 300 reads after WARMUP_READS of each fresh server, at blocks not read before.
      hexz: { p50: median(lat.hexz), p99: pct(lat.hexz, 0.99), reads: lat.hexz.length },
      qemuNbd: { p50: median(lat.qemu), p99: pct(lat.qemu, 0.99), reads: lat.qemu.length },
      p50Ratio: median(lat.hexz) / median(lat.qemu),
      // The first WARMUP_READS reads of each fresh server.
      freshServer: {
        hexz: { p50: median(fresh.hexz), p99: pct(fresh.hexz, 0.99), reads: fresh.hexz.length },
        qemuNbd: { p50: median(fresh.qemu), p99: pct(fresh.qemu, 0.99), reads: fresh.qemu.length },
        p50Ratio: median(fresh.hexz) / median(fresh.qemu),
      },
    };
    results.http = {
      hexzMs: median(http.hexz), nginxRawMs: median(http.nginx), throughputRatio: median(http.nginx) / median(http.hexz),
    };
  } finally {
    await nginx.close();
  }

  if (boot && !process.env.HEXZ_BENCH_NO_BOOT) {
    const times: Record<string, number[]> = { hexz: [], qemu: [] };
    for (let round = 0; round < 2; round++) {
      for (const who of round % 2 ? ['qemu', 'hexz'] : ['hexz', 'qemu']) {
        const server = who === 'hexz'
          ? await startHexzServe([archive, '--nbd', '127.0.0.1:0']).then((s) => ({ url: s.url('disk', 'nbd:'), stop: async () => void (await s.stop()) }))
          : await startQemuNbd(qcow2);
        try {
          times[who].push(await bootMs(server.url, boot, who));
        } finally {
          await server.stop();
        }
      }
      console.log(`boot round ${round + 1}: hexz ${Math.round(times.hexz[round])} ms, qemu-nbd ${Math.round(times.qemu[round])} ms`);
    }
    results.boot = { hexzMs: median(times.hexz), qemuNbdMs: median(times.qemu), ratio: median(times.hexz) / median(times.qemu) };
  } else results.boot = boot ? 'skipped (HEXZ_BENCH_NO_BOOT)' : 'skipped (needs HEXZ_CORPUS with .build/rootfs-v1/boot)';

  console.log(JSON.stringify(results, null, 2));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'serve-latest.json'), `${JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2)}\n`);
  if (!process.env.HEXZ_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
}

await main();
