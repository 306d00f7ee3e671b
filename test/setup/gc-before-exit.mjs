/**
 * Preload (`--import`) that forces a full garbage collection just before the process exits and
 * waits a moment for Node to report what it closed. A FileHandle nobody closed only warns
 * ("Closing file descriptor N on garbage collection", DEP0137) when the collector finds it, which
 * a short process may never run; with this preload it always warns, and the warning fails the
 * test (test/setup/fail-on-warning.ts in test processes, helpers.runCli for CLI runs).
 *
 * Plain JavaScript so that the built CLI (`node bin/hexz.js`, no tsx) can load it too.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// --expose-gc cannot be passed with --import; setting the flag before a new context is created
// makes that context's global `gc` available.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

let collected = false;
process.on('beforeExit', () => {
  if (collected) return;
  collected = true;
  gc();
  // Node closes collected FileHandles and emits the warning from a later callback; keep the
  // loop alive a little longer so it does before the process exits.
  setTimeout(() => {}, 20);
});
