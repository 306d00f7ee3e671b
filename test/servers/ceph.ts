/**
 * A real S3 server for the S3 tests: Ceph's radosgw on a one-node Ceph cluster (one mon, one
 * mgr, one bluestore OSD on an 8 GiB sparse file) in a temp dir, on free ports of 127.0.0.1.
 * The configuration and commands follow ../shared/servers/servers.sh (`check_s3-ceph`), changed
 * so that the test owns the processes: each daemon runs in the foreground (`-f`) as our child,
 * so `stop()` ends exactly the processes we started, by pid, and a test process that dies
 * kills them on its way out. Startup takes 20–40 s: start one cluster per test file
 * (`before`/`after`), not per test. For fault tests radosgw alone can be killed (SIGKILL, as a
 * crash) and started again on the same port while the cluster keeps running.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The programs the cluster needs (Debian: ceph-mon ceph-osd ceph-mgr radosgw ceph-common). */
const PROGRAMS = ['ceph-mon', 'ceph-mgr', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];

/** The S3 user created in every cluster (the keys servers.sh uses). */
export const CEPH_ACCESS_KEY = 'TESTACCESSKEY0000000';
export const CEPH_SECRET_KEY = 'TESTSECRETKEY000000000000000000000000000';

/** A running cluster started by {@link startCeph}. */
export interface CephServer {
  /** `http://127.0.0.1:PORT` of radosgw. */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Any region works with radosgw; SigV4 needs one. */
  readonly region: string;
  /** The cluster's directory (config, logs, mon/osd data). */
  readonly dir: string;
  /** Milliseconds from the first command to radosgw answering with the user created. */
  readonly startupMs: number;
  /**
   * Kills radosgw with SIGKILL, as a crash would (its connections are reset, nothing is shut
   * down cleanly), and waits until it has exited. Mon, mgr and OSD keep running. Idempotent.
   */
  killRadosgw(): Promise<void>;
  /**
   * Starts radosgw again on the same port (killing a running one first) and waits until it
   * answers HTTP.
   * @returns the milliseconds from the start to the first answer.
   * @throws Error when it does not answer within 60 s or a daemon has died (the message names
   *   the logs), or after {@link CephServer.stop}.
   */
  restartRadosgw(): Promise<number>;
  /**
   * Ends every daemon (SIGTERM, SIGKILL after 10 s), waits for them, removes the directory;
   * idempotent. A radosgw restart still under way is refused, never left running.
   */
  stop(): Promise<void>;
}

/** The Ceph programs missing from PATH. */
export function missingCephPrograms(): string[] {
  return PROGRAMS.filter((p) => !onPath(p));
}

/**
 * The `skip` option for S3 tests: a reason (printed once) when Ceph is not installed outside CI,
 * else false. With CI=true missing programs are not skipped: {@link startCeph} then throws.
 */
export function cephSkip(): string | false {
  const missing = missingCephPrograms();
  if (missing.length === 0 || process.env.CI === 'true') return false;
  const reason = `Ceph not installed (missing ${missing.join(', ')}; Debian packages ceph-mon ceph-osd ceph-mgr radosgw ceph-common): S3 tests skipped`;
  console.log(`# ${reason}`);
  return reason;
}

/**
 * Starts a one-node Ceph cluster and radosgw, and creates the S3 user
 * ({@link CEPH_ACCESS_KEY}/{@link CEPH_SECRET_KEY}).
 * @returns undefined (after printing why) when Ceph is not installed and CI is not 'true'.
 * @throws Error when a program is missing with CI=true, or the cluster does not come up
 *   (the message names the log directory's last lines).
 */
export async function startCeph(): Promise<CephServer | undefined> {
  const missing = missingCephPrograms();
  if (missing.length > 0) {
    if (process.env.CI === 'true') throw new Error(`Ceph programs missing with CI=true: ${missing.join(', ')}`);
    console.log(`# Ceph not installed (missing ${missing.join(', ')}): S3 tests skipped`);
    return undefined;
  }
  const t0 = Date.now();
  const D = mkdtempSync(join(tmpdir(), 'hexz-ceph-'));
  for (const sub of ['mon-a', 'osd-0', 'mgr-x', 'run', 'log', 'rgw']) mkdirSync(join(D, sub));
  const [monV2, monV1, rgwPort] = await freePorts(3);
  const fsid = randomUUID();
  const monAddr = `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`;
  const conf = join(D, 'ceph.conf');
  writeFileSync(conf, cephConf(D, fsid, monAddr, rgwPort));
  const C = ['-c', conf];

  const children: { name: string; proc: ChildProcess; exited: Promise<void> }[] = [];
  const killOnExit = () => children.forEach((c) => c.proc.kill('SIGKILL'));
  process.once('exit', killOnExit);
  let stopped = false;
  const daemon = (program: string, args: string[], name: string) => {
    // Checked synchronously with the spawn: stop() snapshots `children` right after setting
    // `stopped`, so every daemon is either in that snapshot or never started.
    if (stopped) throw new Error(`the cluster in ${D} was stopped: not starting ${name}`);
    // stdout/stderr to a file: a pipe nobody reads could fill and stall the daemon.
    const out = openSync(join(D, 'log', `${name}.out`), 'a');
    const proc = spawn(program, [...C, '-f', ...args], { stdio: ['ignore', out, out] });
    closeSync(out);
    const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
    proc.once('error', () => {}); // reported by the readiness waits below
    children.push({ name, proc, exited });
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // radosgw first, the monitor last (the others talk to it while shutting down).
    for (const c of [...children].reverse()) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) {
        c.proc.kill('SIGTERM');
        const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
        await c.exited;
        clearTimeout(timer);
      }
    }
    process.removeListener('exit', killOnExit);
    rmSync(D, { recursive: true, force: true });
  };

  const RGW = 'client.rgw.a';
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  const startRadosgw = async (ms: number) => {
    daemon('radosgw', ['-n', RGW], RGW);
    await waitFor('radosgw to answer', ms, children, async () => {
      await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.body?.cancel());
      return true;
    });
  };
  const killRadosgw = async () => {
    const i = children.findIndex((c) => c.name === RGW);
    if (i < 0) return;
    // Out of the list, so the readiness waits do not take it for a daemon that died.
    const [c] = children.splice(i, 1);
    c.proc.kill('SIGKILL');
    await c.exited;
  };
  const restartRadosgw = async () => {
    await killRadosgw();
    const t = Date.now();
    try {
      await startRadosgw(60_000);
    } catch (err) {
      throw new Error(`radosgw did not restart: ${(err as Error).message}\n${tailLogs(D)}`, { cause: err });
    }
    return Date.now() - t;
  };

  try {
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monAddr, join(D, 'monmap')]);
    await run('ceph-authtool', ['--create-keyring', join(D, 'mon.keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await run('ceph-mon', [...C, '--mkfs', '-i', 'a', '--monmap', join(D, 'monmap'), '--keyring', join(D, 'mon.keyring')]);
    daemon('ceph-mon', ['-i', 'a'], 'mon.a');
    daemon('ceph-mgr', ['-i', 'x'], 'mgr.x');
    const osdUuid = randomUUID();
    await run('ceph', [...C, '--connect-timeout', '60', 'osd', 'new', osdUuid], { timeout: 90_000 });
    await run('ceph-osd', [...C, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], { timeout: 120_000 });
    daemon('ceph-osd', ['-i', '0'], 'osd.0');
    await waitFor('the OSD to be up', 60_000, children, async () => {
      const { stdout } = await run('ceph', [...C, '--connect-timeout', '10', 'osd', 'stat', '-f', 'json'], { timeout: 15_000 });
      return (JSON.parse(stdout) as { num_up_osds?: number }).num_up_osds === 1;
    });
    // The first start creates radosgw's pools: slower than a restart.
    await startRadosgw(90_000);
    await run('radosgw-admin', [...C, 'user', 'create', '--uid=test', '--display-name=test', `--access-key=${CEPH_ACCESS_KEY}`, `--secret-key=${CEPH_SECRET_KEY}`], { timeout: 60_000 });
    return { endpoint, accessKey: CEPH_ACCESS_KEY, secretKey: CEPH_SECRET_KEY, region: 'us-east-1', dir: D, startupMs: Date.now() - t0, killRadosgw, restartRadosgw, stop };
  } catch (err) {
    const logs = tailLogs(D);
    await stop();
    throw new Error(`Ceph did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}

/** servers.sh's ceph.conf, with our directory and ports: no auth, one replica, small pools. */
function cephConf(D: string, fsid: string, monAddr: string, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon_host = ${monAddr}
public_addr = 127.0.0.1
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 1
run_dir = ${D}/run
admin_socket = ${D}/run/$name.asok
log_file = ${D}/log/$name.log
pid_file = ${D}/run/$name.pid
[mon]
mon_data = ${D}/mon-$id
[mgr]
mgr_data = ${D}/mgr-$id
[osd]
osd_data = ${D}/osd-$id
osd_objectstore = bluestore
bluestore_block_path = ${D}/osd-$id.block
bluestore_block_create = true
bluestore_block_size = 8589934592
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
[client.rgw.a]
rgw_data = ${D}/rgw
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
# radosgw defaults ms_mon_client_mode to "secure", impossible with auth none
ms_mon_client_mode = crc
`;
}

/** Polls `check` (errors count as "not yet") until true; fails early when a daemon has died. */
async function waitFor(what: string, ms: number, children: { name: string; proc: ChildProcess }[], check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const dead = children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
    if (dead) throw new Error(`waiting for ${what}: ${dead.name} exited (${dead.proc.exitCode ?? dead.proc.signalCode})`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The last lines of each daemon log, for a failure message. */
function tailLogs(D: string): string {
  return ['mon.a', 'mgr.x', 'osd.0', 'client.rgw.a']
    .map((n) => {
      try {
        return `--- ${n}.log\n${readFileSync(join(D, 'log', `${n}.log`), 'utf8').split('\n').slice(-8).join('\n')}`;
      } catch {
        return '';
      }
    })
    .join('\n');
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `n` distinct TCP ports of 127.0.0.1 free right now (held open together so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => resolve(srv));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
