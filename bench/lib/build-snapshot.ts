/**
 * A private copy of the hexz build (bin/, dist/, package.json, a link to node_modules) in the
 * work dir: what the benches measure, so a concurrent `npm run build` in the checkout cannot pull
 * dist/ from under a run.
 */
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type HexzLib = typeof import('../../dist/index.js');

export interface BuildSnapshot {
  /** The copy's root. */
  dir: string;
  /** Its CLI entry (run as `node bin/hexz.js …`). */
  bin: string;
  /** file: URL of a module under the copy's dist/, e.g. `distUrl('node/sequential-chunks.js')`. */
  distUrl(module: string): string;
}

/**
 * Copies `root`'s build into `dir` (created; must not exist).
 * @throws Error when `root` has no dist/ (run `npm run build` first).
 */
export function snapshotBuild(root: string, dir: string): BuildSnapshot {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  mkdirSync(dir);
  for (const d of ['dist', 'bin', 'package.json']) cpSync(join(root, d), join(dir, d), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return { dir, bin: join(dir, 'bin', 'hexz.js'), distUrl: (module) => pathToFileURL(join(dir, 'dist', module)).href };
}

/** The library entry of a build snapshot. */
export async function importLib(build: BuildSnapshot): Promise<HexzLib> {
  return (await import(build.distUrl('index.js'))) as HexzLib;
}
