import type { Command } from 'commander';
import type { LineageNode, LineageReport } from '../../ops/lineage.js';
import { formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { printJson } from '../output.js';

/** `hexz ls`: registers the command on `program`. */
export function registerLs(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('ls')
    .description('list the archives under a directory as lineage trees: each thin archive beneath its parent, with sizes and missing or modified parents flagged')
    .argument('<dir>', 'directory (or s3://bucket/prefix/) to scan for *.hxz, recursively')
    .option('--json', 'print the trees as JSON (all sizes in bytes; unreadable files in "skipped")')
    .addHelpText('after', `
Reads only headers and parents tables: fast, and no password is needed.
Columns: LOGICAL is the archive's content (all streams); OWN the block bytes it stores itself;
FILE its size on disk. A thin archive also shows how much it refers to in its chain.
Files that are not readable archives are skipped with a warning on stderr; the exit code is 0.`)
    .action((dir: string, flags: { json?: boolean }) => run(async (ctx) => {
      const { lineage } = await import('../../ops/lineage.js');
      const r = await lineage(dir, { signal: ctx.signal });
      if (flags.json) printJson(r);
      else {
        for (const s of r.skipped) process.stderr.write(`hexz: warning: ${s.path}: skipped: ${s.reason}\n`);
        process.stdout.write(lineageText(r));
      }
      return 0;
    }));
}

/**
 * The text listing: one line per archive under a header row, children indented beneath their
 * parent with box-drawing lines, then a totals line.
 */
function lineageText(r: LineageReport): string {
  const rows: string[][] = [['ARCHIVE', 'ID', 'CREATED (UTC)', 'LOGICAL', 'OWN', 'FILE', 'NOTES']];
  const add = (n: LineageNode, lead: string, branch: string) => {
    rows.push([`${branch}${n.path}`, n.archiveId.slice(0, 12), shortTime(n.created), formatBytes(n.logicalBytes), formatBytes(n.ownBytes), formatBytes(n.fileBytes), notes(n)]);
    n.children.forEach((c, i) => {
      const last = i === n.children.length - 1;
      add(c, `${lead}${last ? '    ' : '│   '}`, `${lead}${last ? '└── ' : '├── '}`);
    });
  };
  for (const root of r.roots) add(root, '', '');
  // Right-align the sizes; the last column is free text.
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => [...row[c]].length)));
  const right = new Set([3, 4, 5]);
  const lines = rows.map((row) => row.map((cell, c) => {
    if (c === row.length - 1) return cell;
    const pad = ' '.repeat(widths[c] - [...cell].length);
    return right.has(c) ? pad + cell : cell + pad;
  }).join('  ').trimEnd());
  const lineages = r.roots.length;
  const skipped = r.skipped.length ? `; ${r.skipped.length} skipped` : '';
  const total = r.archives === 0
    ? `no archives under ${r.dir}${skipped}`
    : `${r.archives} archive${r.archives === 1 ? '' : 's'} in ${lineages} tree${lineages === 1 ? '' : 's'}, ${formatBytes(r.fileBytes)} on disk, ${formatBytes(r.logicalBytes)} logical${skipped}`;
  return `${r.archives === 0 ? '' : `${lines.join('\n')}\n`}${total}\n`;
}

/** `thin (refers to …)`, `encrypted`, `signed`, and what is wrong with a thin archive's parent. */
function notes(n: LineageNode): string {
  const out: string[] = [];
  if (n.thin) out.push(`thin, refers to ${formatBytes(n.referencedBytes ?? 0)}`);
  if (n.encrypted) out.push('encrypted');
  if (n.signed) out.push('signed');
  const p = n.parent;
  if (p) {
    const recorded = `recorded path ${p.recordedPath}`;
    if (p.status === 'missing') out.push(`parent missing: id ${p.archiveId} (${recorded}${p.problem ? `: ${p.problem}` : ''})`);
    else if (p.status === 'modified') out.push(`parent modified: ${p.problem} (${recorded})`);
    else if (p.status === 'replaced') out.push(`parent replaced: ${p.problem}; parent id ${p.archiveId} (${recorded})`);
    else if (p.status === 'outside') out.push(`parent outside the directory: ${p.path}`);
    else if (p.atRecordedPath === false) out.push(`parent not at its ${recorded}: open with --parent-dir`);
  }
  return out.join('; ');
}

/** `2025-01-02 10:00:00` from an ISO 8601 UTC time (anything else, e.g. an absurd time, as is). */
function shortTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso;
}
