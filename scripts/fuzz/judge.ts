/**
 * Records the outcomes and findings of one case. An error of the HexzError family is an allowed
 * outcome of any operation; anything else thrown is a finding, reported with the first frame
 * in src/ (the whole stack goes to the case log, which `--replay` prints).
 */
import { HexzError } from '../../src/index.ts';
import type { CaseEnv, CaseResult } from './run-case.ts';

export class Judge {
  constructor(readonly result: CaseResult, readonly env: CaseEnv) {}

  finding(type: string, op: string, message: string): void {
    this.result.findings.push({ type, op, message });
    this.env.log(`  FINDING ${type} in ${op}: ${message}`);
  }

  /** Runs `fn`; a HexzError is an allowed outcome, anything else thrown is a finding. Returns undefined on error. */
  async run<T>(op: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.env.onOp?.(op);
    try {
      const v = await fn();
      this.result.ops.push({ op, outcome: v instanceof Uint8Array ? 'bytes' : 'ok' });
      return v;
    } catch (err) {
      this.result.ops.push({ op, outcome: this.judgeError(op, err) });
      return undefined;
    }
  }

  /** The outcome name of `err` thrown by `op`: its class for a HexzError, else `!Class` after recording the finding. */
  judgeError(op: string, err: unknown): string {
    if (err instanceof HexzError) {
      this.env.log(`  ${op}: ${err.name}: ${err.message}`);
      return err.name;
    }
    const e = err as Error;
    this.finding('non-hexz-error', op, `${e?.name ?? typeof err}: ${e?.message ?? String(err)}${e?.stack ? ` @ ${firstFrame(e.stack)}` : ''}`);
    if (e?.stack) this.env.log(`  stack: ${e.stack}`);
    return `!${e?.name ?? typeof err}`;
  }
}

/** The first stack frame in src/ (where the reader went wrong), else the first frame. */
export function firstFrame(stack: string): string {
  const line = stack.split('\n').find((l) => l.includes('/src/'));
  return (line ?? stack.split('\n')[1] ?? '').trim();
}
