import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { BuildSpec } from '../../build/spec.js';
import type { BuildSummary } from '../../build/build.js';
import { parseSize, formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { packProgressHandler, packSummaryFields } from '../pack-report.js';
import { addPackOptions, encryptionFlags, openParent, packOptionsFrom, type PackOptionFlags } from '../pack-flags.js';

interface BuildFlags extends PackOptionFlags {
  fs?: string;
  size?: string;
  table?: string;
  label?: string;
  uuid?: string;
  rootOwned?: boolean;
  spec?: string;
  tmpDir?: string;
}

/** `hexz build`: registers the command on `program`. */
export function registerBuild(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  const cmd = program
    .command('build')
    .description('make a disk-image archive (GPT/MBR + ext4/ext2) from a directory tree or a tar file, without root')
    .argument('[source]', "directory, or tar file (.tar, .tar.gz, .tar.zst; '-' for stdin); omit with --spec")
    .requiredOption('-o, --output <out.hxz>', 'archive to write (refused if it exists, unless --force)')
    .option('--fs <type>', 'filesystem: ext4 or ext2 (default ext4)')
    .option('--size <size>', "disk size (e.g. 4G), or 'auto' to fit the tree (default auto)")
    .option('--table <type>', 'partition table: gpt, mbr or none (the filesystem is the whole disk) (default gpt)')
    .option('--label <label>', 'filesystem label (at most 16 bytes; also the GPT partition name)')
    .option('--uuid <uuid>', 'filesystem UUID (default: random, derived from the tree with SOURCE_DATE_EPOCH, or the parent build\'s with --parent)')
    .option('--root-owned', 'make every file owned by root (uid/gid 0) whatever the source says')
    .option('--spec <image.toml>', 'describe the whole disk (table, size, partitions with their sources) in a TOML file; see the README')
    .option('--tmp-dir <dir>', 'where a compressed or piped tar\'s contents are spooled while building (default: the system temp directory)');
  addPackOptions(cmd)
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print a summary as JSON')
    .addHelpText('after', `
The filesystem is generated straight into the archive: no root, no loop device, no full-size
temporary file; free space is a zero run that is never written. --size auto gives the
filesystem the space up to the last block the tree needs (data, directories, inode tables,
journal) plus a quarter of the blocks in use and 16 MiB, rounded up to a MiB. With SOURCE_DATE_EPOCH set, times later than it are clamped to it and the
UUIDs, hash seed and archive id are derived from the tree, so the same input gives a
byte-identical archive. With --parent the result is thin against an earlier build (its
filesystem UUID is kept, and unchanged files land on blocks of the same content).`)
    .action((source: string | undefined, flags: BuildFlags) => run((ctx) => buildCommand(source, flags, ctx)));
}

const CHOICES = { fs: ['ext4', 'ext2'], table: ['gpt', 'mbr', 'none'] } as const;

/** The one-partition spec the flags describe. */
function specFromFlags(source: string, flags: BuildFlags): BuildSpec {
  const fs = (flags.fs ?? 'ext4') as 'ext4' | 'ext2';
  if (!CHOICES.fs.includes(fs)) throw new UsageError(`--fs must be ext4 or ext2, got '${flags.fs}'`);
  const table = (flags.table ?? 'gpt') as BuildSpec['table'];
  if (!CHOICES.table.includes(table as 'gpt')) throw new UsageError(`--table must be gpt, mbr or none, got '${flags.table}'`);
  const size = flags.size === undefined || flags.size === 'auto' ? undefined : parseSize(flags.size);
  if (flags.label !== undefined && new TextEncoder().encode(flags.label).length > 16) throw new UsageError(`--label holds at most 16 bytes; '${flags.label}' is longer`);
  if (flags.uuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(flags.uuid)) {
    throw new UsageError(`--uuid must look like 0e4f4c8a-1b2c-4d5e-8f90-0123456789ab, got '${flags.uuid}'`);
  }
  return {
    table,
    size,
    partitions: [{
      type: table === 'none' ? undefined : 'linux',
      label: table === 'gpt' ? flags.label : undefined,
      fs, source: source === '-' ? '-' : resolve(source), fsLabel: flags.label, fsUuid: flags.uuid?.toLowerCase(), rootOwned: flags.rootOwned,
    }],
  };
}

/** SOURCE_DATE_EPOCH from the environment, checked. */
function sourceDateEpoch(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 2 ** 34) throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds, got '${v}'`);
  return Number(v);
}

async function buildCommand(source: string | undefined, flags: BuildFlags, ctx: CommandContext): Promise<number> {
  let spec: BuildSpec;
  if (flags.spec !== undefined) {
    if (source !== undefined) throw new UsageError('give either SOURCE or --spec (the spec names each partition\'s source)');
    for (const f of ['fs', 'size', 'table', 'label', 'uuid', 'rootOwned'] as const) {
      if (flags[f] !== undefined) throw new UsageError(`--${f === 'rootOwned' ? 'root-owned' : f} cannot be combined with --spec (say it in the spec)`);
    }
    const { parseBuildSpec } = await import('../../build/spec.js');
    const text = await readFile(flags.spec, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`--spec ${flags.spec}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
    spec = parseBuildSpec(text, dirname(resolve(flags.spec)));
  } else {
    if (source === undefined) throw new UsageError('nothing to build: give a SOURCE directory or tar file, or --spec');
    spec = specFromFlags(source, flags);
  }
  const epoch = sourceDateEpoch();
  const common = packOptionsFrom(flags);
  const { build } = await import('../../build/build.js');
  const opened = await openParent(flags);
  const progress = createProgress('building', !flags.silent && !flags.json);
  let result;
  try {
    const encrypt = await encryptionFlags(flags, opened);
    result = await build({
      spec, output: flags.output, sourceDateEpoch: epoch, tmpDir: flags.tmpDir, signal: ctx.signal,
      pack: { ...common, encrypt, parent: opened?.parent },
      onProgress: packProgressHandler(progress),
    });
  } finally {
    progress.stop();
    await opened?.parent.close();
  }
  if (flags.json) {
    const { header: _h, ...summary } = result;
    printJson(summary);
  } else if (!flags.silent) {
    printFields([...layoutFields(result.build), ...packSummaryFields(result)]);
  }
  return 0;
}

/** One row per partition: where it is and what went into it. */
function layoutFields(b: BuildSummary): [string, string][] {
  const rows: [string, string][] = [['disk', `${formatBytes(b.diskSize)} (${b.table === 'none' ? 'no partition table' : b.table.toUpperCase()})`]];
  for (const p of b.partitions) {
    const what = p.fs === 'none'
      ? 'no filesystem'
      : `${p.fs} ${p.fsUuid}, ${p.files ?? 0} files, ${p.dirs ?? 0} directories, ${formatBytes(p.dataBytes ?? 0)} of data, ${formatBytes(p.usedBytes ?? 0)} used`;
    rows.push([`partition ${p.number}`, `${formatBytes(p.size)} at ${formatBytes(p.offset)}${p.type ? ` ${p.type}` : ''}: ${what}`]);
  }
  return rows;
}
