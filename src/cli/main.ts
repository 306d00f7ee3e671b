import { HEXZ_VERSION } from '../version.js';
import { Command, CommanderError } from 'commander';
import { AbortedError } from '../errors.js';
import type { CommandContext } from './context.js';
import { reportError } from './errors.js';
import { installShutdown, signalExitCode } from './shutdown.js';
import { registerAnalyze } from './commands/analyze.js';
import { registerCat } from './commands/cat.js';
import { registerCommit } from './commands/commit.js';
import { registerDiff } from './commands/diff.js';
import { registerExtract } from './commands/extract.js';
import { registerFlatten } from './commands/flatten.js';
import { registerInspect } from './commands/inspect.js';
import { registerKeygen } from './commands/keygen.js';
import { registerLs } from './commands/ls.js';
import { registerMount } from './commands/mount.js';
import { registerOverlay } from './commands/overlay.js';
import { registerPack } from './commands/pack.js';
import { registerSign } from './commands/sign.js';
import { registerPasswd } from './commands/passwd.js';
import { registerPull } from './commands/pull.js';
import { registerPush } from './commands/push.js';
import { registerRebase } from './commands/rebase.js';
import { registerServe } from './commands/serve.js';
import { registerVerify } from './commands/verify.js';

const VERSION = HEXZ_VERSION;

/**
 * Runs the CLI on `argv` (as process.argv) and resolves to the exit code. Ctrl-C (SIGINT) or
 * SIGTERM aborts the running command, which cleans up (no partial output) and exits 130 or 143;
 * a command still busy after a short grace period is ended anyway (see installShutdown).
 */
export async function main(argv: string[]): Promise<number> {
  const shutdown = installShutdown();
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // A closed pipe (`hexz cat ... | head`) is a normal end, not an error.
    if (err.code === 'EPIPE') process.exit(0);
  });
  let exitCode = 0;
  const run = async (fn: (ctx: CommandContext) => Promise<number>) => {
    try {
      exitCode = await fn({ signal: shutdown.signal });
    } catch (err) {
      const cancelled = shutdown.signal.aborted || err instanceof AbortedError;
      exitCode = reportError(cancelled && !(err instanceof AbortedError) ? new AbortedError('cancelled', {}, { cause: err }) : err);
      // A command cancelled by a signal exits with that signal's status (SIGTERM 143, not 130).
      if (cancelled && shutdown.received) exitCode = signalExitCode(shutdown.received);
    }
  };
  const program = new Command('hexz')
    .description('pack disk images and memory dumps into compressed, deduplicated, randomly readable .hxz archives')
    .version(VERSION)
    .exitOverride()
    // Usage errors stay one line, with the hint on it.
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `hexz: ${s.trimEnd()} (see hexz --help)\n` : s) });
  registerPack(program, run);
  registerInspect(program, run);
  registerExtract(program, run);
  registerCat(program, run);
  registerVerify(program, run);
  registerFlatten(program, run);
  registerRebase(program, run);
  registerDiff(program, run);
  registerLs(program, run);
  registerKeygen(program, run);
  registerSign(program, run);
  registerAnalyze(program, run);
  registerPasswd(program, run);
  registerPush(program, run);
  registerPull(program, run);
  registerServe(program, run);
  registerOverlay(program, run);
  registerMount(program, run);
  registerCommit(program, run);
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      exitCode = ok ? 0 : 2;
    } else {
      exitCode = reportError(err);
    }
  }
  shutdown.dispose(exitCode);
  return exitCode;
}
