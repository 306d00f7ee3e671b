import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { createProgress } from '../progress.js';
import { bytesText, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';

/** `hexz pull`: registers the command on `program`. */
export function registerPull(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('pull')
    .description('download a remote archive (s3:// or http(s)://) and its parent chain into a directory, verified')
    .argument('<url>', 'archive to download')
    .argument('<dir>', 'directory to put it (and its parents) in')
    .option(...PARENT_DIR_FLAG)
    .option(...PASSWORD_FILE_FLAG)
    .option('-f, --force', 'replace a local file of the same name that is another archive')
    .option('--no-verify', 'check only each header, not every block')
    .option('--silent', 'no progress or summary')
    .option('--json', 'print a JSON summary')
    .addHelpText('after', `
Archives already in DIR (same id and identity) are skipped. Each download is written to a
temporary file, checked (header identity, then every block; an encrypted chain's blocks only
with its password) and renamed into place, parents first.`)
    .action((url: string, dir: string, flags: { parentDir?: string[]; passwordFile?: string; force?: boolean; verify?: boolean; silent?: boolean; json?: boolean }) => run(async (ctx) => {
      const { pull } = await import('../../ops/pull.js');
      const progress = createProgress('pulling', !flags.silent && !flags.json);
      let r;
      try {
        const password = flags.passwordFile !== undefined || process.env.HEXZ_PASSWORD !== undefined ? lazyPasswordFor(url, flags) : undefined;
        r = await pull(url, dir, { parentDirs: parentDirsFrom(flags), force: flags.force, verify: flags.verify, password, signal: ctx.signal, onProgress: (done, total) => progress.update(done, total) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (!flags.silent) {
        for (const a of r.archives) process.stdout.write(`${a.status === 'downloaded' ? 'downloaded' : 'present   '} ${a.path} (${bytesText(a.bytes)})${a.status === 'downloaded' ? `, ${a.verified === 'blocks' ? 'every block verified' : 'header verified'}` : ' already there'}\n`);
        process.stdout.write(`${bytesText(r.downloadedBytes)} downloaded in ${r.seconds.toFixed(1)} s\n`);
      }
      return 0;
    }));
}
