import { resolveParentIn } from '../archive/locate-parent.js';
import type { ReaderPlatform } from '../archive/reader-platform.js';
import { browserCodecs, loadCodecFor } from './codecs.js';
import { loadBlake3 } from './blake3.js';
import { openUrlSource } from './open-url-source.js';
import { URL_PLACES, urlParentOf } from './url-places.js';
import { webCrypto } from './web-crypto.js';

let platform: Promise<ReaderPlatform> | undefined;

/**
 * The reader core's platform in a web page (or a Web Worker): BLAKE3 and Argon2id in
 * WebAssembly (hash-wasm), zstd and LZ4 decoders loaded when the first archive using them is
 * opened, WebCrypto for encrypted archives, `fetch` range requests for every location, and
 * thin archives' parents found by URL. Blocks decode in the calling thread. Made once per page;
 * it loads only BLAKE3 (the header checksum needs it before anything else).
 */
export function browserPlatform(): Promise<ReaderPlatform> {
  platform ??= (async (): Promise<ReaderPlatform> => {
    const blake3 = await loadBlake3();
    return {
      blake3,
      codecs: browserCodecs,
      prepare: (header) => loadCodecFor(header.codec),
      crypto: webCrypto,
      openSource: openUrlSource,
      parentOf: urlParentOf,
      findParent: async (record, search) => {
        const { path, archive } = await resolveParentIn(record, search, URL_PLACES, blake3, search.child);
        return { location: path, archive };
      },
    };
  })();
  platform.catch(() => (platform = undefined));
  return platform;
}
