import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { createProgress } from '../progress.js';
import { bytesText, printJson } from '../output.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';

/** `hexz push`: registers the command on `program`. */
export function registerPush(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('push')
    .description('upload an archive and the archives of its parent chain that an S3 prefix does not hold yet (matched by id and identity, not name)')
    .argument('<file>', 'archive to upload')
    .argument('<destination>', 's3://bucket/prefix/')
    .option(...PARENT_DIR_FLAG)
    .option('-f, --force', 'replace an object of the same name that is another archive')
    .option('--silent', 'no progress or summary')
    .option('--json', 'print a JSON summary')
    .addHelpText('after', `
Parents are uploaded before their children, each by its base name under the prefix, as multipart
uploads with parallel parts. An interrupted push leaves no partial object (the upload is aborted);
running it again skips what is complete. S3 settings come from the AWS environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_PROFILE).`)
    .action((file: string, destination: string, flags: { parentDir?: string[]; force?: boolean; silent?: boolean; json?: boolean }) => run(async (ctx) => {
      const { push } = await import('../../ops/push.js');
      const progress = createProgress('pushing', !flags.silent && !flags.json);
      let r;
      try {
        r = await push(file, destination, { parentDirs: parentDirsFrom(flags), force: flags.force, signal: ctx.signal, onProgress: (done, total) => progress.update(done, total) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (!flags.silent) {
        for (const a of r.archives) process.stdout.write(`${a.status === 'uploaded' ? 'uploaded' : 'present '} ${a.url} (${bytesText(a.bytes)})${a.status === 'present' ? ' already there' : ''}\n`);
        process.stdout.write(`${bytesText(r.uploadedBytes)} uploaded in ${r.seconds.toFixed(1)} s\n`);
      }
      return 0;
    }));
}
