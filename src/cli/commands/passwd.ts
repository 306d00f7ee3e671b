import type { Command } from 'commander';
import { formatBytes } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';
import { requirePassword } from '../password.js';
import { kdfFlags } from '../kdf-flags.js';

interface PasswdFlags {
  passwordFile?: string;
  newPasswordFile?: string;
  kdfMemory?: string;
  kdfIterations?: string;
  kdfLanes?: string;
  json?: boolean;
  silent?: boolean;
}

/** `hexz passwd`: registers the command on `program`. */
export function registerPasswd(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('passwd')
    .description('change the password of an encrypted archive (rewrites only the header, atomically; signatures stay valid)')
    .argument('<file>', 'encrypted archive')
    .option('--password-file <file>', 'current password: first line of FILE (else HEXZ_PASSWORD, else a prompt)')
    .option('--new-password-file <file>', 'new password: first line of FILE (else HEXZ_NEW_PASSWORD, else a prompt, asked twice)')
    .option('--kdf-memory <size>', 'Argon2id memory for the new password (default: unchanged)')
    .option('--kdf-iterations <n>', 'Argon2id iterations for the new password (default: unchanged)')
    .option('--kdf-lanes <n>', 'Argon2id lanes for the new password (default: unchanged)')
    .option('--silent', 'print nothing but errors')
    .option('--json', 'print the result as JSON')
    .action((file: string, flags: PasswdFlags) => run(async (_ctx) => {
      const kdf = kdfFlags(flags);
      const oldPassword = await requirePassword({ passwordFile: flags.passwordFile, prompt: `Current password for ${file}: ` }, `${file} needs its current password`);
      const newPassword = await requirePassword(
        { passwordFile: flags.newPasswordFile, envVar: 'HEXZ_NEW_PASSWORD', confirm: true, prompt: 'New password: ' },
        'a new password is needed (--new-password-file FILE or HEXZ_NEW_PASSWORD)',
      );
      const { changePassword } = await import('../../ops/passwd.js');
      const r = await changePassword(file, { oldPassword, newPassword, kdf });
      if (flags.json) printJson(r);
      else if (!flags.silent) printFields([['password changed', file], ['kdf', `Argon2id ${formatBytes(r.kdf.memoryKiB * 1024)} × ${r.kdf.iterations} iterations × ${r.kdf.lanes} lanes`]]);
      return 0;
    }));
}
