import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';

export type { ZstdBinding };

/** The binding, once a codec has asked for it. */
let binding: typeof ZstdBinding | undefined;

/**
 * zstd-napi's native binding, loaded by the first caller: a process that opens archives without
 * decoding a block (inspect, ls, diff) never loads the addon. Loaded with `require`, because an
 * ESM `import` of this CommonJS module first has Node scan its source for export names
 * (cjs-module-lexer), a start-up cost for nothing.
 */
export function zstdBinding(): typeof ZstdBinding {
  return (binding ??= createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding);
}
