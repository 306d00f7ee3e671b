/**
 * `npm run fuzz`: a time-bounded, seeded, reproducible fuzzer of every parser of untrusted
 * input. Kinds (`--kind K`; corpus.ts KINDS):
 *
 * - `zstd`, `lz4`, `cdc`, `dict`, `encrypted`, `signed`, `two-streams`, `thin`,
 *   `thin-encrypted`, `sliced`: the archive reader and inspect/verify over mutated .hxz archives
 *   (issue 10, "Prove it"); mutate-archive.ts, oracle.ts. `sliced` is a fixed-block base and a
 *   child committed from an overlay of small scattered writes: SLICE entries (format 8) of the
 *   base's blocks around the child's new pages.
 * - `qcow2`, `qcow2-zlib`, `qcow2-backing`: the qcow2 image reader (mutate-qcow2.ts).
 * - `partitions`, `ext4`: the pure parsers of disk contents: partition tables, filesystem
 *   detection and the ext2/3/4 reader (issue 15; mutate-partitions.ts, mutate-ext4.ts).
 * - `tar`: the `hexz build` tar reader (src/build/tree: scanTar, openSourceTree; plain, gzip,
 *   zstd) over seeds made by GNU tar (pax, gnu, ustar, v7, --sparse in every version) and
 *   tar-stream, mutated at the header, pax record, sparse map and entry level, plus bombs and
 *   size generators (mutate-tar.ts); each case scans from the file and from a stream or pipe,
 *   reads every file, and now and then lays the tree out as ext4/ext2 at the auto size and
 *   reads the image back (walk-tar.ts; issue 16).
 * - `spec`: the `hexz build --spec` TOML parser (src/build/spec.ts), mutated as text and as a
 *   parsed document and judged against the TSDoc read independently (spec-fuzz.ts; issue 16).
 *
 *   node --import tsx scripts/fuzz/main.ts [--seconds N] [--seed S] [--replay CASESEED]
 *        [--kind K] [--json] [--jobs N] [--case-timeout S] [--memory-mib M] [--corpus DIR]
 *        [--verify-chance P] [--pack-chance P] [--layout-chance P] [--findings DIR]
 *
 * --pack-chance: the fraction of partitions/ext4 cases that also pack the mutated image and
 * walk it again through the archive (default 0.05).
 * --layout-chance: the fraction of tar cases that also lay the scanned tree out as a
 * filesystem and read it back (default 0.3).
 *
 * Case n of run seed S has case seed caseSeedOf(S, n) (rng.ts); everything about the case
 * follows from that seed, so `--replay CASESEED` reruns exactly that case, verbosely, keeping
 * its directory. Cases run in child processes (child.ts) under a per-case timeout and an RSS
 * bound; a hang, a memory blow-up or a crash is a finding. Exit status 1 when anything was
 * found, 0 otherwise (2 for bad arguments).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, cpSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCorpus, KINDS, type Corpus, type KindName } from './corpus.ts';
import type { FromChild, ToChild } from './child.ts';
import { planCase, type CaseResult, type Finding } from './run-case.ts';
import { caseSeedOf, formatSeed, parseSeed } from './rng.ts';

interface Options {
  seconds: number;
  seed: number;
  replay?: number;
  kind?: KindName;
  json: boolean;
  jobs: number;
  caseTimeoutMs: number;
  memoryMiB: number;
  corpus?: string;
  verifyChance: number;
  packChance: number;
  layoutChance: number;
  findings?: string;
}

function usage(message?: string): never {
  if (message) process.stderr.write(`fuzz: ${message}\n`);
  process.stderr.write('usage: fuzz [--seconds N] [--seed S] [--replay CASESEED] [--kind K] [--json] [--jobs N] [--case-timeout S] [--memory-mib M] [--corpus DIR] [--verify-chance P] [--pack-chance P] [--layout-chance P] [--findings DIR]\n');
  process.stderr.write(`kinds: ${KINDS.join(', ')}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 60, seed: (Date.now() >>> 0), json: false, jobs: 2, caseTimeoutMs: 12_000, memoryMiB: 768, verifyChance: 0.1, packChance: 0.05, layoutChance: 0.3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    const num = () => { const v = Number(val()); if (!Number.isFinite(v) || v < 0) usage(`${a}: not a number`); return v; };
    switch (a) {
      case '--seconds': o.seconds = num(); break;
      case '--seed': o.seed = parseSeed(val()); break;
      case '--replay': o.replay = parseSeed(val()); break;
      case '--kind': { const k = val(); if (!(KINDS as readonly string[]).includes(k)) usage(`unknown kind ${k}`); o.kind = k as KindName; break; }
      case '--json': o.json = true; break;
      case '--jobs': o.jobs = Math.max(1, Math.floor(num())); break;
      case '--case-timeout': o.caseTimeoutMs = num() * 1000; break;
      case '--memory-mib': o.memoryMiB = num(); break;
      case '--corpus': o.corpus = val(); break;
      case '--verify-chance': o.verifyChance = Math.min(1, num()); break;
      case '--pack-chance': o.packChance = Math.min(1, num()); break;
      case '--layout-chance': o.layoutChance = Math.min(1, num()); break;
      case '--findings': o.findings = val(); break;
      case '-h': case '--help': usage();
      // eslint-disable-next-line no-fallthrough
      default: usage(`unknown argument ${a}`);
    }
  }
  return o;
}

/** Attack classes whose bugs were known (being fixed by others) when the fuzzer was written. */
const KNOWN: Record<string, string> = {
  'cross-stream-root': 'known: node cache hit skips the stream check',
  'entry-overlap': 'known: entries not checked to tile within a leaf/node range',
  'zero-dedup-overlap': 'known: entries not checked to tile within a leaf/node range',
  'node-tiling': 'known: entries not checked to tile within a leaf/node range',
  'kdf-costs': 'known: unbounded KDF costs',
  'fifo-parent': 'known: FIFOs',
  'fifo-backing': 'known: FIFOs',
};

interface Reported extends Finding {
  seed: string;
  kind: string;
  flavour: string;
  description: string;
  attack?: string;
  known?: string;
  savedFile?: string;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** A child process running cases, watched for time and memory. */
class Runner {
  private proc!: ChildProcess;
  private ready!: Promise<boolean>;
  busy: { seed: number; plan: ReturnType<typeof planCase>; op: string; mutation?: { target: string; region: string; description: string; attack?: string }; timer: NodeJS.Timeout; done: (r: CaseResult) => void; events: Finding[] } | undefined;
  private rssTimer: NodeJS.Timeout | undefined;
  headerMac = false;

  constructor(private readonly o: Options, private readonly init: ToChild, private readonly onLog: (line: string) => void) {
    this.spawn();
  }

  private spawn(): void {
    this.proc = fork(CHILD, [], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${Math.max(256, this.o.memoryMiB - 128)}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      // The reader's default Argon2id limits (1 GiB) are above the per-case memory bound: lower
      // them (the limit check is still what crafted KDF costs run into) unless the caller set them.
      env: { HEXZ_KDF_MAX_MEMORY: '256M', HEXZ_KDF_MAX_WORK: '512M', ...process.env },
    });
    let stderr = '';
    this.proc.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
    this.ready = new Promise((resolve) => {
      const onMsg = (m: FromChild) => {
        if (m.type === 'ready') { this.headerMac = m.headerMac; this.proc.off('message', onMsg); resolve(true); }
      };
      this.proc.on('message', onMsg);
    });
    const proc = this.proc;
    proc.on('message', (m: FromChild) => { if (proc === this.proc) this.message(m); });
    proc.on('exit', (code, signal) => {
      if (proc !== this.proc || this.closing) return;
      // Died on its own: a crash of the running case. Respawn first, so the next case goes to the new child.
      const op = this.busy?.op ?? 'idle';
      this.replace();
      this.finish({ type: 'crash', op, message: `child exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}` });
    });
    proc.send(this.init);
    this.rssTimer = setInterval(() => this.checkRss(), 100);
  }

  /** Kills the current child (if alive) and starts a fresh one. */
  private replace(): void {
    if (this.rssTimer) clearInterval(this.rssTimer);
    const old = this.proc;
    if (old.exitCode === null && old.signalCode === null) old.kill('SIGKILL');
    this.spawn();
  }

  private closing = false;

  private message(m: FromChild): void {
    if (m.type === 'log') this.onLog(m.line);
    else if (m.type === 'op' && this.busy) this.busy.op = m.op;
    else if (m.type === 'mutation' && this.busy) this.busy.mutation = { target: m.target, region: m.region, description: m.description, attack: m.attack };
    else if (m.type === 'event') {
      if (this.busy) this.busy.events.push(m.finding);
      else this.onLog(`late event from ${m.seed}: ${m.finding.type}: ${m.finding.message}`);
    } else if (m.type === 'result' && this.busy) {
      const b = this.busy;
      this.busy = undefined;
      clearTimeout(b.timer);
      m.result.findings.push(...b.events);
      b.done(m.result);
    }
  }

  private checkRss(): void {
    if (!this.busy || !this.proc.pid) return;
    try {
      const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > this.o.memoryMiB * 1024) this.kill({ type: 'memory', op: this.busy.op, message: `RSS ${Math.round(kb / 1024)} MiB exceeds ${this.o.memoryMiB} MiB` });
    } catch { /* exited */ }
  }

  private kill(f: Finding): void {
    this.replace();
    this.finish(f);
  }

  /** Ends the current case with `f` as its finding (the child is gone or going). */
  private finish(f: Finding): void {
    const b = this.busy;
    if (!b) return;
    this.busy = undefined;
    clearTimeout(b.timer);
    const { rng: _rng, ...plan } = b.plan;
    // Keep the case's file and remove its directory (the child could not).
    let savedFile: string | undefined;
    for (const d of readdirSync(tmpdir()).filter((n) => n.startsWith(`hexz-fuzz-${plan.seed}-`))) {
      const dir = join(tmpdir(), d);
      if (this.o.findings) {
        mkdirSync(this.o.findings, { recursive: true });
        for (const f2 of readdirSync(dir).filter((x) => /\.(hxz|qcow2|img|tar|gz|zst|toml)$/.test(x))) {
          try { cpSync(join(dir, f2), join(this.o.findings, `${plan.seed}-${f2}`)); savedFile ??= join(this.o.findings, `${plan.seed}-${f2}`); } catch { /* a FIFO */ }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    }
    const mu = b.mutation ?? { target: '', region: '', description: '(before the mutation was made)' };
    b.done({ ...plan, ...mu, ops: [], findings: [...b.events, f], savedFile });
  }

  async run(seed: number, verbose = false, keep = false): Promise<CaseResult> {
    await this.ready;
    return new Promise((resolve) => {
      const plan = planCase(seed);
      const timer = setTimeout(() => this.kill({ type: 'timeout', op: this.busy?.op ?? '?', message: `case ran longer than ${this.o.caseTimeoutMs / 1000} s` }), this.o.caseTimeoutMs);
      this.busy = { seed, plan, op: 'prepare', timer, done: resolve, events: [] };
      this.proc.send({ type: 'case', seed, verbose, keep } satisfies ToChild);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.rssTimer) clearInterval(this.rssTimer);
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const gone = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      await gone;
    }
  }
}

async function prepareCorpus(o: Options, log: (s: string) => void): Promise<{ corpus: Corpus; cleanup: () => void }> {
  if (o.corpus && existsSync(join(o.corpus, 'manifest.json'))) {
    return { corpus: JSON.parse(readFileSync(join(o.corpus, 'manifest.json'), 'utf8')) as Corpus, cleanup: () => {} };
  }
  const root = o.corpus ? resolve(o.corpus) : mkdtempSync(join(tmpdir(), 'hexz-fuzz-corpus-'));
  mkdirSync(root, { recursive: true });
  const t = Date.now();
  const corpus = await buildCorpus(root, log);
  writeFileSync(join(root, 'manifest.json'), JSON.stringify(corpus, null, 1));
  log(`corpus: ${Object.keys(corpus.items).length} kinds in ${((Date.now() - t) / 1000).toFixed(1)} s at ${root}${corpus.skipped.length ? `; skipped ${corpus.skipped.join('; ')}` : ''}`);
  return { corpus, cleanup: o.corpus ? () => {} : () => rmSync(root, { recursive: true, force: true }) };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const err = (s: string) => process.stderr.write(`${s}\n`);
  const { corpus, cleanup } = await prepareCorpus(o, o.json ? err : (s) => console.log(s));
  const findingsDir = o.findings ?? join(tmpdir(), `hexz-fuzz-findings-${formatSeed(o.seed)}`);
  o.findings = findingsDir;
  const init: ToChild = { type: 'init', corpusRoot: corpus.root, verifyChance: o.verifyChance, packChance: o.packChance, layoutChance: o.layoutChance, findingsDir };
  try {
    if (o.replay !== undefined) return await replay(o, init);
    return await fuzz(o, init, corpus);
  } finally {
    cleanup();
  }
}

async function replay(o: Options, init: ToChild): Promise<number> {
  const r = new Runner(o, init, (line) => console.log(line));
  try {
    const seed = o.replay!;
    const result = await r.run(seed, true, true);
    console.log(JSON.stringify({ ...result, mutatedPath: undefined }, null, 1));
    return result.findings.length ? 1 : 0;
  } finally {
    await r.close();
  }
}

async function fuzz(o: Options, init: ToChild, corpus: Corpus): Promise<number> {
  const log = o.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => console.log(s);
  const runners = Array.from({ length: o.jobs }, () => new Runner(o, init, log));
  const counts = new Map<string, { cases: number; outcomes: Map<string, number> }>();
  const findings: Reported[] = [];
  let next = 0;
  let total = 0;
  let skipped = 0;
  const deadline = Date.now() + o.seconds * 1000;
  const started = Date.now();
  log(`fuzz: run seed ${formatSeed(o.seed)}, ${o.seconds} s, ${o.jobs} job(s)${o.kind ? `, kind ${o.kind}` : ''}; replay a case with --replay CASESEED`);
  const nextSeed = (): number => {
    for (;;) {
      const s = caseSeedOf(o.seed, next++);
      const p = planCase(s);
      if ((!o.kind || p.kind === o.kind) && corpus.items[p.kind]) return s;
    }
  };
  const record = (r: CaseResult) => {
    if (r.skipped) { skipped++; return; }
    total++;
    const key = `${r.kind}/${r.flavour}`;
    const c = counts.get(key) ?? { cases: 0, outcomes: new Map() };
    c.cases++;
    const outcome = r.findings.length ? 'FINDING' : r.ops.some((x) => x.outcome === 'bytes' || x.outcome === 'ok') && !r.ops.some((x) => /Error$/.test(x.outcome)) ? 'clean' : 'rejected';
    c.outcomes.set(outcome, (c.outcomes.get(outcome) ?? 0) + 1);
    counts.set(key, c);
    for (const f of r.findings) {
      const rep: Reported = { ...f, seed: r.seed, kind: r.kind, flavour: r.flavour, description: r.description, attack: r.attack, known: r.attack ? KNOWN[r.attack] : undefined, savedFile: r.savedFile };
      findings.push(rep);
      if (f === r.findings[0]) log(`FINDING${r.findings.length > 1 ? ` (+${r.findings.length - 1} more)` : ''} ${rep.seed} ${rep.kind}/${rep.flavour} ${rep.type} in ${rep.op}: ${rep.message.slice(0, 300)} — ${rep.description}${rep.known ? ` (${rep.known})` : ''}`);
    }
  };
  let lastProgress = Date.now();
  await Promise.all(runners.map(async (runner) => {
    while (Date.now() < deadline) {
      record(await runner.run(nextSeed()));
      if (!o.json && Date.now() - lastProgress > 15_000) {
        lastProgress = Date.now();
        log(`… ${total} cases, ${findings.length} finding(s), ${Math.round((deadline - Date.now()) / 1000)} s left`);
      }
    }
  }));
  await Promise.all(runners.map((r) => r.close()));
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    runSeed: formatSeed(o.seed), seconds, cases: total, skipped, headerMac: runners[0].headerMac,
    /** The kinds this machine could build (the others were skipped for a missing tool). */
    kinds: Object.keys(corpus.items),
    counts: Object.fromEntries([...counts].sort().map(([k, v]) => [k, { cases: v.cases, ...Object.fromEntries(v.outcomes) }])),
    findings: dedupe(findings),
    findingsDir: findings.length ? o.findings : undefined,
  };
  if (o.json) console.log(JSON.stringify(summary, null, 1));
  else printSummary(summary);
  return findings.length ? 1 : 0;
}

/** One line per distinct (type, op shape, message shape, attack); keeps the first seed and counts the rest. */
function dedupe(findings: Reported[]): (Reported & { count: number; seeds: string[] })[] {
  const by = new Map<string, Reported & { count: number; seeds: string[] }>();
  for (const f of findings) {
    const key = `${f.type}|${f.op.replace(/\(.*\)/, '')}|${f.message.replace(/\d+/g, 'N').slice(0, 120)}|${f.attack ?? ''}`;
    const g = by.get(key);
    if (g) { g.count++; if (g.seeds.length < 5) g.seeds.push(f.seed); } else by.set(key, { ...f, count: 1, seeds: [f.seed] });
  }
  return [...by.values()];
}

function printSummary(s: { runSeed: string; seconds: number; cases: number; skipped: number; headerMac: boolean; counts: Record<string, Record<string, number>>; findings: ReturnType<typeof dedupe>; findingsDir?: string }): void {
  console.log(`\nfuzz: ${s.cases} cases in ${s.seconds.toFixed(0)} s (run seed ${s.runSeed}; header MAC ${s.headerMac ? 'used' : 'not available'})`);
  console.log('kind/flavour                 cases  clean  rejected  findings');
  for (const [k, v] of Object.entries(s.counts)) {
    console.log(`${k.padEnd(28)} ${String(v.cases).padStart(5)}  ${String(v.clean ?? 0).padStart(5)}  ${String(v.rejected ?? 0).padStart(8)}  ${String(v.FINDING ?? 0).padStart(8)}`);
  }
  if (!s.findings.length) {
    console.log('no findings');
    return;
  }
  console.log(`\n${s.findings.length} distinct finding(s); replay with --replay CASESEED (mutated files in ${s.findingsDir}):`);
  for (const f of s.findings) {
    console.log(`- [${f.known ?? 'NEW'}] ${f.type} in ${f.op} ×${f.count} (seeds ${f.seeds.join(', ')}), ${f.kind}/${f.flavour}: ${f.message.slice(0, 400)}\n    mutation: ${f.description}`);
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`fuzz: internal error: ${(err as Error)?.stack ?? err}\n`);
  process.exit(3);
});
