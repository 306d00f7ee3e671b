import type { Command } from 'commander';
import type { OverlayReport } from '../../overlay/inspect-overlay.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';

/** Ranges listed per stream in the text output (all of them with --json). */
const TEXT_RANGES = 20;

/** `hexz overlay`: registers the command on `program`. */
export function registerOverlay(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('overlay')
    .description('show what a copy-on-write overlay file holds: its base archive, the ranges written per stream, and its log')
    .argument('<file>', 'overlay file (as made by hexz serve --overlay or hexz mount --overlay)')
    .option('--json', 'print the report as JSON (sizes in bytes, every range)')
    .option(...PARENT_DIR_FLAG)
    .addHelpText('after', `
Reads the overlay without its lock, so it works while a server has the overlay open (it then
shows what the file held at that moment). The base is looked for at the path the overlay
recorded (relative to the overlay), then with --parent-dir / HEXZ_PATH, and checked by archive id
and identity; only its header is read. A base that is missing or changed is reported (exit 0).
"dirty" counts pages written (data) and pages zeroed (write-zeroes, trim, all-zero writes).
"garbage" is log space of overwritten pages and record headers; compaction reclaims it.`)
    .action((file: string, flags: { json?: boolean; parentDir?: string[] }) => run(async () => {
      const { inspectOverlay } = await import('../../overlay/inspect-overlay.js');
      const report = await inspectOverlay(file, { parentDirs: parentDirsFrom(flags) });
      if (flags.json) printJson(report);
      else printReport(report);
      return 0;
    }));
}

function printReport(r: OverlayReport): void {
  const b = r.base;
  const baseText = b.found ? `${b.archiveId} at ${b.path}` : `${b.archiveId} NOT AVAILABLE: ${b.problem}`;
  printFields([
    ['overlay', r.path],
    ['base', baseText],
    ['recorded base path', b.recordedPath],
    ['created', r.created],
    ['page size', `${r.pageSize} B`],
  ]);
  for (const s of r.streams) {
    process.stdout.write(`${s.name} (${bytesText(s.size)}): ${s.dirtyPages} pages dirty (${s.dataPages} data, ${s.zeroPages} zero), ${bytesText(s.dirtyBytes)} in ${s.ranges.length} range${s.ranges.length === 1 ? '' : 's'}\n`);
    for (const g of s.ranges.slice(0, TEXT_RANGES)) {
      process.stdout.write(`  ${g.offset}..${g.offset + g.length}  ${bytesText(g.length)}${g.zero ? '  zero' : ''}\n`);
    }
    if (s.ranges.length > TEXT_RANGES) process.stdout.write(`  … ${s.ranges.length - TEXT_RANGES} more (--json lists them all)\n`);
  }
  const l = r.log;
  printFields([
    ['log', `${l.records} records, ${bytesText(l.logBytes)} (file ${bytesText(l.fileBytes)})`],
    ['live', bytesText(l.liveBytes)],
    ['garbage', bytesText(l.garbageBytes)],
    ['flushed', `up to byte ${l.flushedEnd}, sequence ${l.flushedSequence} (${l.slotSequence} flushes, last ${l.lastFlush})`],
    ['unflushed', bytesText(l.unflushedBytes)],
    ['torn tail', l.tornBytes ? `${bytesText(l.tornBytes)}: ${l.tornReason}` : 'none'],
  ]);
}
