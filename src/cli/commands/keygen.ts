import type { Command } from 'commander';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';

/** `hexz keygen`: registers the command on `program`. */
export function registerKeygen(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('keygen')
    .description('make an Ed25519 key pair for hexz sign: NAME.key (private, mode 0600) and NAME.pub (public)')
    .requiredOption('-o, --output <name>', 'path of the two files without extension (NAME.key, NAME.pub)')
    .option('-f, --force', 'overwrite existing key files')
    .option('--json', 'print the paths and the fingerprint as JSON')
    .action((flags: { output: string; force?: boolean; json?: boolean }) => run(async () => {
      const { generateKeyFiles } = await import('../../ops/generate-key-files.js');
      const r = await generateKeyFiles(flags.output, { force: flags.force });
      if (flags.json) printJson(r);
      else {
        printFields([
          ['private key', `${r.privateKey} (keep it secret: it signs as you)`],
          ['public key', `${r.publicKey} (give it to whoever verifies: hexz verify --pubkey ${r.publicKey})`],
          ['fingerprint', r.fingerprint],
        ]);
      }
      return 0;
    }));
}
