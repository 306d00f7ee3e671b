import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { bytesText, printJson } from '../output.js';

/** `hexz sign`: registers the command on `program`. */
export function registerSign(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('sign')
    .description('sign an archive (format version 4) with an Ed25519 private key; replaces an earlier signature')
    .argument('<file>', 'archive, rewritten atomically')
    .requiredOption('--key <file>', 'private key (PEM, from hexz keygen)')
    .option('--json', 'print the result as JSON')
    .action((file: string, flags: { key: string; json?: boolean }) => run(async (ctx) => {
      const { signArchive } = await import('../../ops/sign.js');
      const r = await signArchive(file, { key: flags.key, signal: ctx.signal });
      if (flags.json) printJson(r);
      else process.stdout.write(`${file}: ${r.replaced ? 're-signed' : 'signed'} with key ${r.fingerprint} at ${r.signedAt} (${bytesText(r.bytes)})\n`);
      return 0;
    }));
}
