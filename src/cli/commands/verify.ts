import type { Command } from 'commander';
import type { VerifyReport } from '../../ops/verify.js';
import { lazyPasswordFor, PASSWORD_FILE_FLAG } from '../archive-password.js';
import { PARENT_DIR_FLAG, parentDirsFrom } from '../parent-dirs.js';
import type { CommandContext } from '../context.js';
import { bytesText, printJson } from '../output.js';
import { createProgress } from '../progress.js';

interface VerifyFlags {
  json?: boolean;
  silent?: boolean;
  pubkey?: string;
  signatureOnly?: boolean;
  passwordFile?: string;
  parentDir?: string[];
}

/** `hexz verify`: registers the command on `program`. */
export function registerVerify(program: Command, run: (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>): void {
  program
    .command('verify')
    .description('check the header, the signature (if any) and every index node and block of an archive')
    .argument('<file>', 'archive')
    .option('--pubkey <file>', 'require a valid signature by this public key (PEM, from hexz keygen)')
    .option('--signature-only', 'check the header and the signature only, not the blocks (fast; no password needed)')
    .option(...PASSWORD_FILE_FLAG)
    .option(...PARENT_DIR_FLAG)
    .option('--json', 'print the report as JSON')
    .option('--silent', 'print nothing on success (damage is still reported on stderr)')
    .action((file: string, flags: VerifyFlags) => run(async (ctx) => {
      const [{ loadPublicKey }, { verify }] = await Promise.all([import('../../crypto/signing.js'), import('../../ops/verify.js')]);
      const publicKey = flags.pubkey === undefined ? undefined : await loadPublicKey(flags.pubkey);
      // The signature covers no encrypted content, so --signature-only never asks for a password;
      // otherwise the open asks, only when the header says the archive is encrypted (before the
      // first progress update, so a prompt is not drawn over). A failure to get the password
      // (none given, unreadable --password-file, Ctrl-C) is thrown by verify, not reported as damage.
      const password = flags.signatureOnly ? undefined : lazyPasswordFor(file, flags);
      const progress = createProgress('verifying', !flags.json && !flags.silent && !flags.signatureOnly);
      let r: VerifyReport;
      try {
        r = await verify(file, { signal: ctx.signal, onProgress: (d, t) => progress.update(d, t), publicKey, signatureOnly: flags.signatureOnly, password, parentDirs: parentDirsFrom(flags) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(r);
      else if (r.ok) {
        if (!flags.silent) process.stdout.write(`${file}: ${okText(r)}\n`);
      } else {
        const e = r.error!;
        const where = e.stream !== undefined ? ` in ${e.stream} stream${e.offset !== undefined ? ` at offset ${e.offset}` : ''}` : '';
        const verdict = e.code === 'BAD_SIGNATURE' ? 'BAD SIGNATURE' : e.code === 'MISSING_PARENT' ? 'MISSING PARENT' : 'DAMAGED';
        const hint = e.code === 'MISSING_PARENT' ? ' (search other directories with --parent-dir DIR or HEXZ_PATH)' : '';
        process.stderr.write(`hexz: ${file}: ${verdict}${where}: ${e.message}${hint}\n`);
      }
      // Damage exits 4 (CorruptArchiveError), a bad signature 10; a missing file, a non-archive etc. keep their own codes.
      return r.ok ? 0 : r.error!.exitCode;
    }));
}

/** The success line: what was checked, and what a signature does and does not prove. */
function okText(r: VerifyReport): string {
  const s = r.signature;
  const signature = !s?.signed ? undefined
    : s.trusted ? `signature valid (key ${s.fingerprint} matches --pubkey)`
    : `signature valid (key ${s.fingerprint} not checked: pass --pubkey)`;
  if (r.signatureOnly) return `${signature}; blocks not checked (--signature-only)`;
  const blocks = `OK (${r.blocksChecked} blocks, ${bytesText(r.bytesChecked)} checked in ${r.seconds.toFixed(2)} s)`;
  return signature ? `${blocks}; ${signature}` : blocks;
}
