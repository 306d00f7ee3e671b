/**
 * The many small operations of a filesystem walk (tens of thousands per case), judged like the
 * Judge's but counted per kind instead of listed one by one: the case result stays small, and
 * the parent is told only of coarse steps (each directory, each entry), which is enough to
 * attribute a hang while keeping the IPC traffic low. Optionally keeps a transcript (operation,
 * outcome, digest of the value) so two walks of the same bytes through different devices can
 * be compared step by step.
 */
import { createHash } from 'node:crypto';
import type { Judge } from './judge.ts';

export class Steps {
  /** One line per operation, when recording. */
  readonly transcript: string[] | undefined;
  /** The operation running now (for findings raised from outside it, e.g. by the device). */
  current = '';
  private readonly counts = new Map<string, number>();

  /** `record`: keep a transcript, or write into this one (a walk inside a walk). */
  constructor(readonly j: Judge, readonly tag: string, record: boolean | string[]) {
    this.transcript = Array.isArray(record) ? record : record ? [] : undefined;
  }

  /** Tells the parent what the walk is at (coarse: a hang is attributed to this). */
  announce(what: string): void {
    this.j.env.onOp?.(`${this.tag}${what}`);
  }

  finding(type: string, message: string, op = this.current): void {
    this.j.finding(type, `${this.tag}${op}`, message);
  }

  /**
   * Runs `fn` as operation `kind(detail)`: returns its value, or undefined when it threw (a
   * HexzError is an allowed outcome, anything else a finding). `digest` summarises the value
   * for the transcript. `refusal` marks a call made to be refused (a made-up path, an inode
   * number outside the filesystem): its HexzError does not make the case count as rejected.
   */
  async run<T>(kind: string, detail: string, fn: () => Promise<T>, digest?: (v: T) => string, refusal = false): Promise<T | undefined> {
    this.current = `${kind}(${detail})`;
    let outcome: string;
    let value: T | undefined;
    try {
      value = await fn();
      outcome = 'ok';
    } catch (err) {
      outcome = this.j.judgeError(`${this.tag}${this.current}`, err);
      if (refusal && !outcome.startsWith('!')) outcome = `refused (${outcome})`;
    }
    this.counts.set(`${kind}\t${outcome}`, (this.counts.get(`${kind}\t${outcome}`) ?? 0) + 1);
    if (this.transcript) this.transcript.push(`${this.tag}${this.current} → ${outcome}${outcome === 'ok' && digest ? ` ${digest(value as T)}` : ''}`);
    return value;
  }

  /** Adds the counted outcomes to the case's operations (`readdir ×12` → ok). */
  finish(): void {
    for (const [key, n] of this.counts) {
      const [kind, outcome] = key.split('\t');
      this.j.result.ops.push({ op: `${this.tag}${kind} ×${n}`, outcome });
    }
    this.counts.clear();
  }
}

/** A short digest of anything JSON-able (bytes as hex). */
export function digestOf(v: unknown): string {
  const h = createHash('sha256');
  if (v instanceof Uint8Array) h.update(v);
  else h.update(JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : typeof x === 'bigint' ? String(x) : x)) ?? 'undefined');
  return h.digest('hex').slice(0, 16);
}
