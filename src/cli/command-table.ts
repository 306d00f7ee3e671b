import type { Command } from 'commander';
import type { CommandContext } from './context.js';

/** Runs a command's work with the CLI's signal handling and error reporting (see main). */
export type RunCommand = (fn: (ctx: CommandContext) => Promise<number>) => Promise<void>;

/** Adds one command (or a pair, as `mount` / `umount`) to `program`. */
export type RegisterCommand = (program: Command, run: RunCommand) => void;

/** A file of src/cli/commands/, by the command names it registers. */
export interface CommandEntry {
  /** The names it adds to the program. */
  readonly names: readonly string[];
  /** Imports the file and returns its register function. */
  load(): Promise<RegisterCommand>;
}

/**
 * Every command, in the order `hexz --help` lists them. Each file is imported only when it is
 * needed (see {@link commandsFor}): a start-up that loads every command's module pays for all
 * of them on every run.
 */
export const COMMANDS: readonly CommandEntry[] = [
  { names: ['pack'], load: async () => (await import('./commands/pack.js')).registerPack },
  { names: ['build'], load: async () => (await import('./commands/build.js')).registerBuild },
  { names: ['inspect'], load: async () => (await import('./commands/inspect.js')).registerInspect },
  { names: ['extract'], load: async () => (await import('./commands/extract.js')).registerExtract },
  { names: ['cat'], load: async () => (await import('./commands/cat.js')).registerCat },
  { names: ['verify'], load: async () => (await import('./commands/verify.js')).registerVerify },
  { names: ['flatten'], load: async () => (await import('./commands/flatten.js')).registerFlatten },
  { names: ['rebase'], load: async () => (await import('./commands/rebase.js')).registerRebase },
  { names: ['diff'], load: async () => (await import('./commands/diff.js')).registerDiff },
  { names: ['ls'], load: async () => (await import('./commands/ls.js')).registerLs },
  { names: ['files'], load: async () => (await import('./commands/files.js')).registerFiles },
  { names: ['get'], load: async () => (await import('./commands/get.js')).registerGet },
  { names: ['keygen'], load: async () => (await import('./commands/keygen.js')).registerKeygen },
  { names: ['sign'], load: async () => (await import('./commands/sign.js')).registerSign },
  { names: ['analyze'], load: async () => (await import('./commands/analyze.js')).registerAnalyze },
  { names: ['passwd'], load: async () => (await import('./commands/passwd.js')).registerPasswd },
  { names: ['push'], load: async () => (await import('./commands/push.js')).registerPush },
  { names: ['pull'], load: async () => (await import('./commands/pull.js')).registerPull },
  { names: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
  { names: ['overlay'], load: async () => (await import('./commands/overlay.js')).registerOverlay },
  { names: ['mount', 'umount'], load: async () => (await import('./commands/mount.js')).registerMount },
  { names: ['commit'], load: async () => (await import('./commands/commit.js')).registerCommit },
  { names: ['web'], load: async () => (await import('./commands/web.js')).registerWeb },
];

/**
 * The commands to register for `argv` (as process.argv). When the first argument names a
 * command, only its file: the program has no options of its own but --version and --help, so
 * that argument is what commander dispatches on, and the command's parsing, help and errors
 * depend on nothing else. Anything else (`--help`, `help CMD`, no argument, an unknown or
 * misspelt name) needs every command: for the list, the help of another command, or the
 * "did you mean" suggestion.
 */
export function commandsFor(argv: readonly string[], table: readonly CommandEntry[] = COMMANDS): readonly CommandEntry[] {
  const named = table.find((entry) => entry.names.includes(argv[2]));
  return named ? [named] : table;
}
