/**
 * The browser build's transfer sizes, from dist/web as `npm run build` left it (raw and gzip -9,
 * as `node scripts/build-browser.mjs --sizes` counts them, without rebuilding): the library
 * (`hexz.js` and the chunks it imports), what it loads when the first archive is opened (the
 * BLAKE3 WebAssembly chunk, always; the zstd decoder and its .wasm for a zstd archive; LZ4 for an
 * LZ4 one), and the viewer page on top.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface SizedFile { file: string; bytes: number; gzip: number }
export interface BundleSizes {
  files: SizedFile[];
  /** hexz.js and its static imports. */
  library: { bytes: number; gzip: number };
  /** Loaded at the first open of a zstd archive: every dynamic import that is not LZ4, and zstd.wasm. */
  zstdArchiveExtra: { bytes: number; gzip: number };
  /** The viewer page's own files (index.html, style.css, app.js and what it imports beyond the library). */
  viewerExtra: { bytes: number; gzip: number };
}

/** Static imports (`from"./x.js"`, `import"./x.js"`) and dynamic ones (`import("./x.js")`) of a minified module. */
function importsOf(path: string): { static: string[]; dynamic: string[] } {
  const text = readFileSync(path, 'utf8');
  const at = (re: RegExp) => [...text.matchAll(re)].map((m) => join(dirname(path), m[1]));
  return { static: at(/(?:from|import)\s*"(\.[^"]+)"/g), dynamic: at(/import\(\s*"(\.[^"]+)"\s*\)/g) };
}

/** `entry` and every module it imports statically, transitively. */
function staticClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    importsOf(f).static.forEach(visit);
  };
  visit(entry);
  return seen;
}

export function bundleSizes(webDir: string): BundleSizes {
  const sized = new Map<string, SizedFile>();
  const size = (f: string): SizedFile => {
    let s = sized.get(f);
    if (!s) {
      const b = readFileSync(f);
      s = { file: relative(webDir, f), bytes: b.length, gzip: gzipSync(b, { level: 9 }).length };
      sized.set(f, s);
    }
    return s;
  };
  const total = (fs: Iterable<string>) => [...fs].map(size).reduce((t, s) => ({ bytes: t.bytes + s.bytes, gzip: t.gzip + s.gzip }), { bytes: 0, gzip: 0 });

  const lib = staticClosure(join(webDir, 'hexz.js'));
  const lazy = new Set<string>();
  for (const f of lib) for (const d of importsOf(f).dynamic) if (!/lz4/i.test(d)) for (const g of staticClosure(d)) if (!lib.has(g)) lazy.add(g);
  // The zstd glue fetches its WebAssembly from beside itself (dist/web/chunks/zstd.wasm).
  const wasm = join(webDir, 'chunks', 'zstd.wasm');
  if (existsSync(wasm)) lazy.add(wasm);
  const app = staticClosure(join(webDir, 'app.js'));
  const viewer = new Set([join(webDir, 'index.html'), join(webDir, 'style.css'), ...[...app].filter((f) => !lib.has(f))]);
  const library = total(lib);
  const zstdArchiveExtra = total(lazy);
  const viewerExtra = total(viewer);
  return { files: [...sized.values()].sort((a, b) => a.file.localeCompare(b.file)), library, zstdArchiveExtra, viewerExtra };
}
