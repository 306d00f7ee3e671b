/**
 * The servers of the browser bench: nginx serving the archive with CORS (the archive is on
 * another origin than the page), `hexz web` serving the viewer page, and nginx's access log as
 * the count of requests and bytes each reader made.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NginxServer } from '../../test/servers/nginx.js';

export { CORS_CONFIG } from '../../test/servers/nginx.js';
export { startWeb, type WebServer } from '../../test/servers/hexz-web.js';

/** What one reader asked nginx for: requests (log lines), body bytes sent, OPTIONS preflights. */
export interface Traffic { requests: number; bytes: number; preflights: number }

/** nginx's access log, read as "the lines for one file since a mark". */
export class AccessLog {
  private readonly path: string;

  constructor(nginx: NginxServer) {
    this.path = join(nginx.dir, 'access.log');
  }

  private lines(): string[] {
    return existsSync(this.path) ? readFileSync(this.path, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** The current end of the log: pass it to {@link since}. */
  mark(): number {
    return this.lines().length;
  }

  /**
   * The requests for `/name` logged after `mark`, once the log has stopped growing for 150 ms
   * (nginx writes a line when the answer is sent, which can be a moment after the reader has
   * its bytes, or a moment after a cancelled read).
   */
  async since(mark: number, name: string): Promise<Traffic> {
    let n = -1;
    let all = this.lines();
    while (all.length !== n) {
      n = all.length;
      await new Promise((r) => setTimeout(r, 150));
      all = this.lines();
    }
    const mine = all.slice(mark).filter((l) => l.includes(`/${name} `));
    // Combined log format: "... " STATUS BYTES "referer" "agent"
    const bytes = mine.reduce((s, l) => s + Number(/" \d{3} (\d+) /.exec(l)?.[1] ?? 0), 0);
    return { requests: mine.length, bytes, preflights: mine.filter((l) => l.includes('"OPTIONS ')).length };
  }
}
