/**
 * Preload (`node --import ./test/setup/record-modules.mjs bin/hexz.js ...`) that writes every
 * module the process loads to the file named by HEXZ_MODULE_LOG, one URL per line, so a test can
 * check which modules a CLI command pulls in (test/cli-startup.test.ts). Two sources, because
 * neither sees everything:
 * - a resolve hook (module.register) logs each specifier the ESM loader resolves, as it
 *   resolves it: `import`, `await import()`, and the CommonJS packages ESM imports;
 * - at exit, the CommonJS cache: what `require` / createRequire loaded, which the ESM hooks of
 *   Node 20 never see — native addons (`.node` files, e.g. lz4's), and the files a CommonJS
 *   package requires internally.
 * Without HEXZ_MODULE_LOG it does nothing. Plain JavaScript so that the built CLI (no tsx) can
 * load it.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const log = process.env.HEXZ_MODULE_LOG;
if (log) {
  register('./record-modules-hooks.mjs', import.meta.url, { data: { log } });
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    // Keys are paths; the hook logs URLs: one form for the test to match.
    const lines = Object.keys(cache).map((path) => `${path.startsWith('/') ? pathToFileURL(path).href : path}\n`);
    appendFileSync(log, lines.join(''));
  });
}
