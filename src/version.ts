import { readFileSync } from 'node:fs';

/** This hexz's version, from package.json (one directory above both src/ and dist/). */
export const HEXZ_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
