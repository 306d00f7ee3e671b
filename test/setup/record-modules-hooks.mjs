/**
 * The module hooks of test/setup/record-modules.mjs (they run on the loader's own thread, given
 * the log file as `data`): every resolved URL is appended to the log before the module loads,
 * so a module counts as loaded even when it fails to evaluate or the process exits early.
 */
import { appendFileSync } from 'node:fs';

let log;

/** Called once by module.register with the `data` it was given. */
export function initialize(data) {
  log = data.log;
}

/** Passes every resolution through, logging the URL it resolved to. */
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(log, `${result.url}\n`);
  return result;
}
