import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { DiffReport, DiffSide, StreamDiff } from '../../ops/diff.js';
import { formatBytes } from '../../util/size.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { PARTITION_FLAG } from '../partition-option.js';

/** Changed ranges shown per stream in text output; --json has them all. */
const MAX_RANGES_SHOWN = 50;

interface DiffFlags {
  json?: boolean;
  files?: boolean;
  partition?: number;
  passwordFile?: string;
  parentDir?: string[];
}

/** `hexz diff`: registers the command on `program`. */
export function registerDiff(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('diff')
    .description('compare two archives by their indexes (no block is read): content shared and unique to each, and the byte ranges of each stream that changed from A to B')
    .argument('<a>', 'archive A (before)')
    .argument('<b>', 'archive B (after)')
    .option('--json', 'print the report as JSON (every range, sizes in bytes)')
    .option('--files', 'compare the ext2/3/4 filesystems inside the disks instead: files added, removed and changed')
    .option(...PARTITION_FLAG)
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .addHelpText('after', `
Changes are found at block granularity: a block of B is unchanged when A has a block with the
same offset, length and content hash, and zero runs are unchanged where both are zero.
Encrypted archives need their password (the same --password-file or HEXZ_PASSWORD serves both)
and compare only when they share a data key, as the archives of one thin lineage do.
With --files, the filesystems are walked side by side and files listed in path order as A
(added), D (removed) or M (changed: type, size, mode, owner, target, device or content, with the
bytes of content changed); a file's content is equal without being read where both archives
hold it at the same disk offsets with the same content hashes (a thin child against its parent).
Exit status: 0 whether or not the archives differ (unlike cmp); non-zero only on an error.`)
    .action((a: string, b: string, flags: DiffFlags) => run(async (ctx) => {
      if (flags.files) return (await import('../files-diff.js')).runFilesDiff(a, b, flags, ctx);
      if (flags.partition !== undefined) throw new UsageError('--partition applies only with --files');
      // Each password is asked by its archive's open, only when its header says it is encrypted.
      const passwordA = lazyPasswordFor(a, flags);
      const passwordB = lazyPasswordFor(b, flags);
      const { diffArchives } = await import('../../ops/diff.js');
      const r = await diffArchives(a, b, { passwordA, passwordB, parentDirs: parentDirsFrom(flags), signal: ctx.signal });
      if (flags.json) printJson(r);
      else printDiff(r);
      return 0;
    }));
}

/** Prints the summary (content shared and unique each way), then the changed ranges per stream. */
function printDiff(r: DiffReport): void {
  const side = (x: DiffSide) => `${x.file} (archive ${x.archiveId}, ${formatBytes(x.logicalBytes)} logical)`;
  const ranges = r.streams.reduce((n, s) => n + s.ranges.length, 0);
  printFields([
    ['a', side(r.a)],
    ['b', side(r.b)],
    ['shared', `${blocks(r.a.sharedBlocks)}; ${formatBytes(r.a.sharedBytes)} of a, ${formatBytes(r.b.sharedBytes)} of b`],
    ['only in a', `${blocks(r.a.uniqueBlocks)}, ${bytesText(r.a.uniqueBytes)}`],
    ['only in b', `${blocks(r.b.uniqueBlocks)}, ${bytesText(r.b.uniqueBytes)}`],
    ['zero runs', `${formatBytes(r.a.zeroBytes)} in a, ${formatBytes(r.b.zeroBytes)} in b`],
    ['changed', r.sameContent ? 'nothing: same content' : `${bytesText(r.changedBytes)} in ${ranges} range${ranges === 1 ? '' : 's'}`],
  ]);
  process.stdout.write(r.streams.map(streamText).join(''));
}

function blocks(n: number): string {
  return `${n} block${n === 1 ? '' : 's'}`;
}

/** One stream: presence and sizes, then up to {@link MAX_RANGES_SHOWN} ranges as `[start, end)` in hex. */
function streamText(s: StreamDiff): string {
  const sizes = s.presentIn === 'a' ? `only in a (${formatBytes(s.sizeA!)})`
    : s.presentIn === 'b' ? `only in b (${formatBytes(s.sizeB!)})`
    : s.sizeA === s.sizeB ? formatBytes(s.sizeA!)
    : `${formatBytes(s.sizeA!)} in a, ${formatBytes(s.sizeB!)} in b`;
  const n = s.ranges.length;
  const head = `\n${s.stream}: ${sizes}; ${n === 0 ? 'unchanged' : `${bytesText(s.changedBytes)} changed in ${n} range${n === 1 ? '' : 's'}`}\n`;
  const shown = s.ranges.slice(0, MAX_RANGES_SHOWN).map((g) => `  [0x${g.start.toString(16)}, 0x${g.end.toString(16)})  ${formatBytes(g.end - g.start)}\n`);
  const more = n > MAX_RANGES_SHOWN ? `  … ${n - MAX_RANGES_SHOWN} more (--json lists all)\n` : '';
  return head + shown.join('') + more;
}
