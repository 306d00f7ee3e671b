import type { Command } from 'commander';
import type { StreamName } from '../../format/constants.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import type { CommandContext } from '../context.js';
import { bytesText, printFields, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { createProgress } from '../progress.js';
import { PARTITION_FLAG } from '../partition-option.js';
import { parseStream } from './stream-option.js';

interface GetFlags {
  output: string;
  partition?: number;
  force?: boolean;
  stream?: StreamName;
  passwordFile?: string;
  parentDir?: string[];
  silent?: boolean;
  json?: boolean;
}

/** `hexz get`: registers the command on `program`. */
export function registerGet(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('get')
    .description('restore files or directories from the ext2/3/4 filesystem inside an archive into DIR, as cp -a PATH... DIR would')
    .argument('<file>', 'archive')
    .argument('<paths...>', 'absolute paths inside the filesystem (/ or DIR/. for a directory\'s entries)')
    .requiredOption('-o, --output <dir>', 'directory to restore into (made if missing); each PATH goes to DIR/its base name')
    .option(...PARTITION_FLAG)
    .option('-f, --force', 'replace files or directories already at the destinations')
    .option('--stream <name>', 'the stream holding the disk (default: disk)', parseStream)
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .option('--silent', 'print nothing but errors and warnings')
    .option('--json', 'print a summary as JSON')
    .addHelpText('after', `
Restores content (sparse files stay sparse), directories, symlinks (not followed), hard links
within what is restored, fifos, modes (setuid, setgid, sticky too) and access/modification
times; as root also owners and device nodes (otherwise devices are skipped with a warning, and
setuid/setgid are dropped from files whose owner cannot be given, as cp does). Sockets are
skipped. Each PATH is built under .NAME.hexz-tmp-... in DIR and renamed into place when
complete: an error or Ctrl-C leaves no partial file or directory. An existing destination is
refused (exit 2) unless --force, which replaces it.`)
    .action((file: string, paths: string[], flags: GetFlags) => run(async (ctx) => {
      const [{ Archive }, { getFiles }] = await Promise.all([import('../../node/archive.js'), import('../../ops/files/get-files.js')]);
      const a = await Archive.open(file, { password: lazyPasswordFor(file, flags), parentDirs: parentDirsFrom(flags) });
      const progress = createProgress('restoring', !flags.silent && !flags.json);
      let r;
      try {
        r = await getFiles(a, paths, flags.output, {
          partition: flags.partition, force: flags.force, stream: flags.stream, signal: ctx.signal,
          onProgress: (p) => progress.update(p.bytesDone, p.bytesTotal),
          onWarning: (m) => process.stderr.write(`hexz: warning: ${m}\n`),
        });
      } finally {
        progress.stop();
        await a.close();
      }
      if (flags.json) printJson(r);
      else if (!flags.silent) {
        const kinds = [[r.files, 'file'], [r.directories, 'director'], [r.symlinks, 'symlink'], [r.hardLinks, 'hard link'], [r.fifos, 'fifo'], [r.devices, 'device']] as const;
        const counted = kinds.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what === 'director' ? (n === 1 ? 'directory' : 'directories') : `${what}${n === 1 ? '' : 's'}`}`);
        printFields([
          ['restored', `${r.items.length} item${r.items.length === 1 ? '' : 's'} -> ${r.outDir} (partition ${r.partition})`],
          ['made', counted.join(', ') || 'nothing'],
          ...(r.skipped > 0 ? [['skipped', `${r.skipped} (see the warnings)`] as [string, string]] : []),
          ['content', `${bytesText(r.bytes)}, ${bytesText(r.writtenBytes)} written (holes left as holes)`],
          ['time', `${r.seconds.toFixed(2)} s`],
        ]);
      }
      return 0;
    }));
}
