/**
 * `hexz web` as the tests and the browser bench start it: the viewer page's origin.
 */
import { startCliServer } from './cli-server.ts';

/** A running `hexz web`: the page's origin. */
export interface WebServer {
  url: string;
  stop(): Promise<void>;
}

/** `node bin/hexz.js web --port 0 --json`; ended by {@link WebServer.stop}. */
export async function startWeb(): Promise<WebServer> {
  const server = await startCliServer(['web', '--port', '0', '--json']);
  return { url: (JSON.parse(server.line) as { url: string }).url, stop: async () => void (await server.stop()) };
}
