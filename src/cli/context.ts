/** What every command gets from the CLI runner. */
export interface CommandContext {
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
}
