import type { Command } from 'commander';
import { changePassword } from '../../ops/passwd.js';
import { UsageError } from '../../errors.js';
import { formatBytes, parseSize } from '../../util/size.js';
import type { CommandContext } from '../context.js';
import { printFields, printJson } from '../output.js';
import { requirePassword } from '../password.js';

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
      const r = await changePassword(file, { oldPassword, newPassword, kdf });
      if (flags.json) printJson(r);
      else if (!flags.silent) printFields([['password changed', file], ['kdf', `Argon2id ${formatBytes(r.kdf.memoryKiB * 1024)} × ${r.kdf.iterations} iterations × ${r.kdf.lanes} lanes`]]);
      return 0;
    }));
}

/** The Argon2id overrides given on the command line. */
export function kdfFlags(flags: { kdfMemory?: string; kdfIterations?: string; kdfLanes?: string }): { memoryKiB?: number; iterations?: number; lanes?: number } {
  const int = (v: string, name: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
    return n;
  };
  const out: { memoryKiB?: number; iterations?: number; lanes?: number } = {};
  if (flags.kdfMemory !== undefined) {
    const bytes = parseSize(flags.kdfMemory);
    if (bytes % 1024 !== 0) throw new UsageError(`--kdf-memory must be a whole number of KiB, got '${flags.kdfMemory}'`);
    out.memoryKiB = bytes / 1024;
  }
  if (flags.kdfIterations !== undefined) out.iterations = int(flags.kdfIterations, 'kdf-iterations');
  if (flags.kdfLanes !== undefined) out.lanes = int(flags.kdfLanes, 'kdf-lanes');
  return out;
}
