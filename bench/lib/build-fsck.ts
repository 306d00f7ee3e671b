/**
 * Checking a built filesystem with a tool other than hexz (untimed, once per archive):
 * `hexz extract ARCHIVE -o x.raw` (a sparse raw disk), then `e2fsck -fn 'x.raw?offset=OFFSET'`
 * on the partition, and the extracted disk removed.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { BuildContext } from './build-context.js';
import { log } from './log.js';

export interface FsckResult {
  /** e2fsck passed (exit 0: no errors, nothing it would change). */
  clean: boolean;
  /** e2fsck's exit status (4: errors left uncorrected, 8: operational error), or -1 when extract failed. */
  status: number;
  /** The commands run, as typed. */
  commands: string[];
  /** e2fsck's summary line when clean, else its complaints (first lines) or extract's error. */
  detail: string;
  /** The full output when not clean (for the JSON). */
  output?: string;
  seconds: number;
}

/**
 * Extracts `archive` to a sparse raw disk in the work dir and runs `e2fsck -fn` on the
 * filesystem at byte `offset` of it; never throws (a failure is the result).
 */
export function fsckArchive(c: BuildContext, archive: string, offset: number, name: string): FsckResult {
  const t0 = performance.now();
  const raw = c.path(`${name}.fsck.raw`);
  const extract = [process.execPath, c.bin, 'extract', archive, '-o', raw, '--force', '--silent'];
  const fsck = ['e2fsck', '-fn', `${raw}?offset=${offset}`];
  const commands = [`node ${c.bin} extract ${archive} -o ${raw} --force --silent`, `e2fsck -fn '${raw}?offset=${offset}'`];
  log(`  e2fsck -fn of ${archive} (partition at ${offset}) ...`);
  try {
    const x = spawnSync(extract[0], extract.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (x.status !== 0) {
      return { clean: false, status: -1, commands, detail: `hexz extract failed (exit ${x.status}): ${(x.stderr || x.error?.message || '').trim().slice(0, 500)}`, seconds: (performance.now() - t0) / 1000 };
    }
    const r = spawnSync(fsck[0], fsck.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const lines = output.split('\n').map((l) => l.trim()).filter((l) => l);
    const seconds = (performance.now() - t0) / 1000;
    if (r.status === 0) return { clean: true, status: 0, commands, detail: lines.find((l) => / files \(/.test(l)) ?? lines.at(-1) ?? '', seconds };
    const complaints = lines.filter((l) => !/^(Pass \d|e2fsck \d|Checking|Running additional passes)/.test(l));
    return { clean: false, status: r.status ?? -1, commands, detail: complaints.slice(0, 6).join(' | ').slice(0, 600), output: output.slice(0, 200_000), seconds };
  } finally {
    rmSync(raw, { force: true });
  }
}
