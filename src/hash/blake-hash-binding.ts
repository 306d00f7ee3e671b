import { createRequire } from 'node:module';
import type * as BlakeHash from '@napi-rs/blake-hash';

/**
 * The @napi-rs/blake-hash addon (native BLAKE3), loaded with `require`. An ESM `import` of
 * this CommonJS package first has Node scan its 20 KB generated loader for export names
 * (cjs-module-lexer), which costs more than loading the addon; every archive open hashes its
 * header, so that cost was on the start-up path of every reading command.
 */
export const blakeHash = createRequire(import.meta.url)('@napi-rs/blake-hash') as typeof BlakeHash;
