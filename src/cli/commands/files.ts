import { once } from 'node:events';
import type { Command } from 'commander';
import type { StreamName } from '../../format/constants.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import type { CommandContext } from '../context.js';
import { entryJson, layoutLines, longLine } from '../file-listing.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { PARTITION_FLAG } from '../partition-option.js';
import { parseStream } from './stream-option.js';

interface FilesFlags {
  partition?: number;
  long?: boolean;
  json?: boolean;
  recursive: boolean;
  stream?: StreamName;
  passwordFile?: string;
  parentDir?: string[];
}

/** Output is gathered into pieces of about this many bytes before a write (one syscall per piece). */
const FLUSH_BYTES = 64 << 10;

/** `hexz files`: registers the command on `program`. */
export function registerFiles(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('files')
    .description('list the partitions of an archive\'s disk and the files of its ext2/3/4 filesystem (under PATH, recursively)')
    .argument('<file>', 'archive')
    .argument('[path]', 'absolute path inside the filesystem', '/')
    .option(...PARTITION_FLAG)
    .option('-l, --long', 'one line per file like ls -l: mode, links, uid, gid, size, mtime (UTC), path, -> target')
    .option('--no-recursive', 'list only the entries of PATH itself, like ls')
    .option('--json', 'one JSON document: {archive, table, partitions, partition, filesystem, entries}')
    .option('--stream <name>', 'the stream holding the disk (default: disk)', parseStream)
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .addHelpText('after', `
Prints the partition table (number, type, offset, size, filesystem, label, UUID), then the files
below PATH depth-first, names sorted by their bytes within each directory (PATH itself is not
listed unless it is a file). Supported: GPT, MBR (logical partitions too) and disks without a
table; ext2, ext3, ext4. The journal is not replayed: a filesystem not cleanly unmounted is read
as it is on disk, after a warning. Owners are numbers (uid, gid). Exit status 2 when PATH does not
exist or several partitions hold ext2/3/4 and --partition does not choose; 5 for a partition
holding another filesystem.`)
    .action((file: string, path: string, flags: FilesFlags) => run(async (ctx) => {
      const [{ Archive }, { listFiles }] = await Promise.all([import('../../node/archive.js'), import('../../ops/files/list-files.js')]);
      const a = await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags) });
      try {
        const listing = await listFiles(a, {
          path, partition: flags.partition, recursive: flags.recursive, stream: flags.stream, signal: ctx.signal,
          onWarning: (m) => process.stderr.write(`hexz: warning: ${m}\n`),
        });
        const out = new LineWriter(ctx.signal);
        if (flags.json) {
          const head = { archive: file, table: listing.layout.table, partitions: listing.layout.partitions, partition: listing.partition.number, filesystem: listing.filesystem };
          // Streamed as one document: the entries are written as they are read, never all held.
          await out.write(`${JSON.stringify(head).slice(0, -1)},"entries":[`);
          let first = true;
          for await (const e of listing.entries) {
            await out.write(`${first ? '' : ','}\n${JSON.stringify(entryJson(e))}`);
            first = false;
          }
          await out.write('\n]}\n');
        } else {
          for (const line of layoutLines(listing.layout, listing.partition)) await out.write(`${line}\n`);
          await out.write('\n');
          for await (const e of listing.entries) await out.write(`${flags.long ? longLine(e) : e.path}\n`);
        }
        await out.flush();
      } finally {
        await a.close();
      }
      return 0;
    }));
}

/** Writes text to stdout in pieces, waiting for the pipe to drain when it is full. */
class LineWriter {
  private pending: string[] = [];
  private bytes = 0;

  constructor(private readonly signal: AbortSignal) {}

  async write(text: string): Promise<void> {
    this.pending.push(text);
    this.bytes += text.length;
    if (this.bytes >= FLUSH_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    if (!process.stdout.write(text)) await once(process.stdout, 'drain', { signal: this.signal });
  }
}
