// Bundles the browser build (`hexz/browser`) and the archive viewer page into dist/web/:
// hexz.js (the library), app.js (the page), shared chunks, zstd.wasm beside them, index.html
// and style.css. Run by `npm run build` after tsc. Everything in dist/web is static: any web
// server (or `hexz web`) can serve it.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'dist/web');
// tsc compiled src/web here too; the page needs only the bundle.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** What both bundles share: ES modules for browsers, minified, with source maps. */
const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // es2022: a newer target makes esbuild emit Uint8Array.fromBase64 for embedded binaries,
  // which browsers (and Node 20) before 2025 lack.
  target: 'es2022',
  minify: true,
  // Class names survive minifying: errors are told apart by `name` (CorruptArchiveError, …).
  keepNames: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: { hexz: join(root, 'src/browser/index.ts'), app: join(root, 'src/web/app.ts') },
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
});

// The Web Worker that decodes long reads: one self-contained module in chunks/, beside the
// shared chunk that starts it (worker-run-decoder.ts finds it by import.meta.url).
await build({ ...common, entryPoints: [join(root, 'src/browser/decode-worker.ts')], outfile: join(out, 'chunks/decode-worker.js') });

// The zstd decoder fetches its WebAssembly from beside the module that loads it.
const require = createRequire(import.meta.url);
// The package's exports hide package.json; its main file is dist/common/index.node.js.
const zstdDir = join(dirname(require.resolve('@bokuweb/zstd-wasm')), '../..');
copyFileSync(join(zstdDir, 'dist/web/zstd.wasm'), join(out, 'zstd.wasm'));
copyFileSync(join(zstdDir, 'dist/web/zstd.wasm'), join(out, 'chunks/zstd.wasm'));
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src/web', f), join(out, f));

if (process.argv.includes('--sizes')) {
  const walk = (d) => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  for (const f of walk(out).filter((f) => !f.endsWith('.map')).sort()) {
    const bytes = readFileSync(f);
    console.log(`${f.slice(out.length + 1).padEnd(40)} ${String(bytes.length).padStart(9)} B  gzip ${String(gzipSync(bytes, { level: 9 }).length).padStart(8)} B`);
  }
}
