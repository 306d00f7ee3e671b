import { HEXZ_VERSION } from '../version.js';
import { AbortedError } from '../errors.js';
import type { CommandContext } from './context.js';
import { reportError } from './errors.js';
import { installShutdown, signalExitCode } from './shutdown.js';
import { commandsFor } from './command-table.js';

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
  if (asksVersionOnly(argv)) {
    // What commander prints for it, without loading commander: checking an install costs no parser.
    process.stdout.write(`${VERSION}\n`);
    shutdown.dispose(0);
    return 0;
  }
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
  let commander: typeof import('commander') | undefined;
  try {
    // Inside the try: a module that fails to load is reported like any other error.
    commander = await import('commander');
    const program = new commander.Command('hexz')
      .description('pack disk images and memory dumps into compressed, deduplicated, randomly readable .hxz archives')
      .version(VERSION)
      .exitOverride()
      // Usage errors stay one line, with the hint on it.
      .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `hexz: ${s.trimEnd()} (see hexz --help)\n` : s) });
    const registers = await Promise.all(commandsFor(argv).map((entry) => entry.load()));
    for (const register of registers) register(program, run);
    program.commands.forEach((c) => c.exitOverride());
    await program.parseAsync(argv);
  } catch (err) {
    if (commander && err instanceof commander.CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      exitCode = ok ? 0 : 2;
    } else {
      exitCode = reportError(err);
    }
  }
  shutdown.dispose(exitCode);
  return exitCode;
}

/** `hexz --version` (or `-V`) and nothing else. */
function asksVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V');
}
