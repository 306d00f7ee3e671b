/**
 * `hexz diff A B --files`: opens both archives, compares their filesystems file by file and
 * prints a summary, then one line per path in path order (`A` added, `D` removed, `M` changed
 * with what changed), like `git diff --name-status`; or the report as JSON.
 */
import type { FilesDiffReport } from '../ops/files/diff-files.js';
import { formatBytes } from '../util/size.js';
import { lazyPasswordFor } from './archive-password.js';
import type { CommandContext } from './context.js';
import { printFields, printJson } from './output.js';
import { parentDirsFrom } from './parent-dirs.js';

/** The flags of `hexz diff` that `--files` uses. */
export interface FilesDiffFlags {
  json?: boolean;
  partition?: number;
  passwordFile?: string;
  parentDir?: string[];
}

/**
 * Runs `hexz diff A B --files`; returns the exit code (0 whether or not anything differs).
 * @throws as `Archive.open` and `diffFiles`.
 */
export async function runFilesDiff(a: string, b: string, flags: FilesDiffFlags, ctx: CommandContext): Promise<number> {
  const [{ Archive }, { diffFiles }] = await Promise.all([import('../node/archive.js'), import('../ops/files/diff-files.js')]);
  const parentDirs = parentDirsFrom(flags);
  const archiveA = await Archive.open(a, { password: lazyPasswordFor(a, flags), parentDirs });
  try {
    const archiveB = await Archive.open(b, { password: lazyPasswordFor(b, flags), parentDirs });
    try {
      const r = await diffFiles(archiveA, archiveB, {
        partition: flags.partition, signal: ctx.signal, onWarning: (m) => process.stderr.write(`hexz: warning: ${m}\n`),
      });
      if (flags.json) printJson(r);
      else printFilesDiff(r, a, b);
    } finally {
      await archiveB.close();
    }
  } finally {
    await archiveA.close();
  }
  return 0;
}

/** Orders paths as the walk does: component by component, each compared by its bytes. */
export function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]), Buffer.from(y[i]));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** Prints the summary and the lines on stdout. */
export function printFilesDiff(r: FilesDiffReport, a: string, b: string): void {
  const partitions = r.partitionA === r.partitionB ? `partition ${r.partitionA}` : `partition ${r.partitionA} of a, ${r.partitionB} of b`;
  printFields([
    ['a', a],
    ['b', b],
    ['compared', `${partitions}; ${r.filesCompared} files both have: ${formatBytes(r.bytesByIndex)} equal by index hashes, ${formatBytes(r.bytesRead)} read`],
    ['changes', `${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`],
  ]);
  const lines: [string, string][] = [
    ...r.added.map((x): [string, string] => [x.path, `A ${x.path}  (${x.type}, ${formatBytes(x.size)})`]),
    ...r.removed.map((x): [string, string] => [x.path, `D ${x.path}  (${x.type}, ${formatBytes(x.size)})`]),
    ...r.changed.map((c): [string, string] => {
      const type = c.typeA === c.typeB ? c.typeA : `${c.typeA} -> ${c.typeB}`;
      const size = c.sizeA === c.sizeB ? formatBytes(c.sizeB) : `${formatBytes(c.sizeA)} -> ${formatBytes(c.sizeB)}`;
      const bytes = c.changedBytes > 0 ? `, ${formatBytes(c.changedBytes)} changed` : '';
      return [c.path, `M ${c.path}  (${c.what.join(', ')}; ${type}, ${size}${bytes})`];
    }),
  ];
  lines.sort((x, y) => comparePaths(x[0], y[0]));
  if (lines.length > 0) process.stdout.write(`\n${lines.map(([, l]) => l).join('\n')}\n`);
}
