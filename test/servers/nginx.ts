/**
 * A real nginx on 127.0.0.1 for the HTTP tests: its own config, pid, log and temp directories
 * in a temp dir, a free port, serving one root directory. The commands follow
 * ../shared/servers/servers.sh (`start_nginx`), changed so that the test owns the process:
 * `daemon off` + `master_process off` make nginx one process, the spawned child itself, so
 * `stop()` ends exactly the process we started, by its pid, with no orphaned workers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's nginx-light puts the binary here; `HEXZ_NGINX` overrides it. */
const NGINX = process.env.HEXZ_NGINX ?? (spawnSync('sh', ['-c', 'command -v nginx']).stdout?.toString().trim() || '/usr/sbin/nginx');

/** True when an nginx binary runs here. */
export const hasNginx = spawnSync(NGINX, ['-v']).status === 0;

/**
 * The `skip` option for nginx tests: a reason (printed once) when nginx is missing outside CI,
 * else false. With CI=true a missing nginx is not skipped: {@link startNginx} then fails the test.
 */
export function nginxSkip(): string | false {
  if (hasNginx || process.env.CI === 'true') return false;
  const reason = 'nginx not installed (Debian package nginx-light): HTTP tests skipped';
  console.log(`# ${reason}`);
  return reason;
}

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** The directory served at `/`. */
  root: string;
  /**
   * Extra lines inside the `server { }` block, e.g. `max_ranges 0;` (Range ignored: every
   * answer is 200 with the whole body) or `add_header Access-Control-Allow-Origin *;`.
   */
  serverConfig?: string[];
}

/** A running nginx started by {@link startNginx}. */
export interface NginxServer {
  /** The port on 127.0.0.1 it listens on (kept across {@link NginxServer.restart}). */
  readonly port: number;
  /** The directory holding nginx.conf, the pid file, logs and temp dirs. */
  readonly dir: string;
  /** `http://127.0.0.1:PORT/NAME` (NAME is used as given: URL-encode it yourself if needed). */
  url(name: string): string;
  /** Ends nginx (SIGTERM, SIGKILL after 5 s) and waits until it has exited; idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config (after {@link NginxServer.stop}, or stops it first). */
  restart(): Promise<void>;
  /** Stops nginx and removes its directory. */
  close(): Promise<void>;
  /** The error log so far (for failure messages). */
  errorLog(): string;
}

/**
 * Starts nginx serving `options.root` on a free port of 127.0.0.1 and waits until it accepts
 * connections.
 * @throws Error naming the error log when nginx is missing or does not come up within 10 s.
 */
export async function startNginx(options: NginxOptions): Promise<NginxServer> {
  if (!hasNginx) throw new Error(`nginx not found (${NGINX}): install the Debian package nginx-light (required with CI=true)`);
  const dir = mkdtempSync(join(tmpdir(), 'hexz-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    // One process, in the foreground: the child we spawn is all of nginx, and as root it never
    // switches to `nobody` (who could not read our 0700 temp dirs).
    'daemon off;', 'master_process off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events { worker_connections 256; }',
    'http {',
    `  access_log ${dir}/access.log; default_type application/octet-stream; sendfile on;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp;`),
    '  server {',
    `    listen 127.0.0.1:${port}; root ${options.root};`,
    ...(options.serverConfig ?? []).map((line) => `    ${line}`),
    '  }',
    '}',
    '',
  ].join('\n'));

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  // A test that fails before stop() must not leave nginx running after the test process.
  const killOnExit = () => child?.kill('SIGKILL');

  const start = async () => {
    // -e: errors before the config is read go to our log, not /var/log/nginx.
    const proc = spawn(NGINX, ['-c', conf, '-p', `${dir}/`, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    exited = new Promise((resolve) => proc.once('close', () => resolve()));
    proc.once('error', () => {}); // a missing binary also ends with 'close'; reported below
    process.once('exit', killOnExit);
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        await exited;
        child = undefined;
        throw new Error(`nginx (${NGINX}) did not start on 127.0.0.1:${port}: ${stderr.trim()} ${readLog()}`.trim());
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    process.removeListener('exit', killOnExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM'); // fast shutdown: open connections are closed at once
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    } else await exited;
  };

  const readLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };

  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    dir,
    url: (name) => `http://127.0.0.1:${port}/${name.replace(/^\//, '')}`,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    errorLog: readLog,
  };
}

/** A TCP port of 127.0.0.1 free right now (the kernel picks it; nginx binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * Server lines for CORS as a static host must configure it for the viewer page on another
 * origin (README "In the browser"): preflights answered (none is needed for plain Range
 * requests, but a client may send one), every answer allowing any origin and exposing the
 * headers the reader checks. `/nocors/` has none: a page's reads there are refused.
 */
export const CORS_CONFIG = [
  'location / {',
  '  if ($request_method = OPTIONS) {',
  '    add_header Access-Control-Allow-Origin "*";',
  '    add_header Access-Control-Allow-Headers "Range";',
  '    add_header Access-Control-Max-Age 600;',
  '    return 204;',
  '  }',
  '  add_header Access-Control-Allow-Origin "*" always;',
  '  add_header Access-Control-Expose-Headers "Content-Range, Content-Length, ETag" always;',
  '}',
  'location /nocors/ { }',
];
