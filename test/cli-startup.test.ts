/**
 * What the built CLI loads to start (issue 14, "a CLI that starts instantly"): `hexz --version`
 * and `hexz --help` load the CLI's own small modules and nothing of the library or its native
 * addons; `inspect` and a short `cat` of a local archive load the reader, but none of the
 * packer, the servers, the mount, the network clients or the progress bar. Structural, never
 * timed: each run records every module it loads (test/setup/record-modules.mjs: ESM
 * resolutions and, at exit, the CommonJS cache, where the `require`d native addons are) and the
 * test checks the list. Also: registering only the named command gives the same help as
 * registering all of them (which is what makes that shortcut safe).
 * `npm test` runs `npm run build` first, so dist/ is current.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { COMMANDS, commandsFor } from '../src/cli/command-table.ts';
import { HEXZ_BIN, mixedData, packSmall, tempDir, writeData } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).href;
const RECORDER = fileURLToPath(new URL('./setup/record-modules.mjs', import.meta.url));

const tmp = tempDir('hexz-startup-');
after(() => tmp.cleanup());

/** What one CLI run loaded: repository files (`dist/cli/main.js`), packages (`commander`), builtins (`node:fs`). */
interface Loaded {
  files: string[];
  packages: string[];
  builtins: string[];
  /** Everything, as recorded (URLs). */
  all: string[];
}

/** The environment of a recorded run: no preloads of the test process (tsx) in NODE_OPTIONS. */
function recordEnv(log: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HEXZ_MODULE_LOG: log };
  delete env.NODE_OPTIONS;
  delete env.HEXZ_PASSWORD;
  return env;
}

let runs = 0;
/** Runs `node --import RECORDER bin/hexz.js ...args`; fails unless it exits 0. */
function loadedBy(args: string[]): Loaded {
  const log = tmp.path(`modules-${runs++}.log`);
  const r = spawnSync(process.execPath, ['--import', RECORDER, HEXZ_BIN, ...args], { env: recordEnv(log), encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `hexz ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const all = [...new Set(readFileSync(log, 'utf8').split('\n').filter((l) => l !== ''))].sort();
  const files: string[] = [];
  const packages = new Set<string>();
  const builtins: string[] = [];
  for (const url of all) {
    if (url.startsWith('node:')) builtins.push(url);
    else if (url.includes('/node_modules/')) packages.add(/\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)![1]);
    else if (url.startsWith(ROOT)) files.push(url.slice(ROOT.length));
  }
  return { files, packages: [...packages].sort(), builtins, all };
}

/**
 * Packages (by name prefix, so a native addon's platform package counts too) that no command
 * may load unless it uses them: the native addons, the network clients, the progress bar.
 */
const HEAVY = ['zstd-napi', '@napi-rs/blake-hash', '@node-rs/argon2', 'undici', '@aws-sdk/', 'cli-progress', 'lz4', 'koffi'];
const heavy = (...except: string[]) => (name: string) => HEAVY.some((p) => !except.includes(p) && name.startsWith(p));

/** Fails naming every loaded file, package or builtin that `forbidden` picks. */
function assertNone(loaded: Loaded, forbidden: (name: string) => boolean, what: string): void {
  const found = [...loaded.files, ...loaded.packages, ...loaded.builtins].filter(forbidden);
  assert.deepEqual(found, [], `${what} loaded ${found.join(', ')}`);
}

/** Outside dist/cli/, the only modules a start-up needs: the version, the error family, the temp-file registry of the signal handler. */
const STARTUP_FILES = ['bin/hexz.js', 'dist/version.js', 'dist/errors.js', 'dist/store/live-temp-files.js'];
/** And what registering every command needs besides: the sizes and stream names its option parsers check. */
const REGISTRATION_FILES = [...STARTUP_FILES, 'dist/util/size.js', 'dist/format/constants.js'];

describe('hexz --version and --help load no library module', () => {
  test('--version: the CLI entry, the version and the error family only; not even commander', () => {
    const loaded = loadedBy(['--version']);
    const outside = loaded.files.filter((f) => !f.startsWith('dist/cli/') && !STARTUP_FILES.includes(f));
    assert.deepEqual(outside, [], `--version loaded ${outside.join(', ')}`);
    assert.deepEqual(loaded.packages, [], `--version loaded packages ${loaded.packages.join(', ')}`);
    // Nothing of the commands either: the answer needs none of them.
    assert.deepEqual(loaded.files.filter((f) => f.startsWith('dist/cli/commands/')), []);
  });

  test('--help: every command registered, with commander and small helpers only', () => {
    const loaded = loadedBy(['--help']);
    const outside = loaded.files.filter((f) => !f.startsWith('dist/cli/') && !REGISTRATION_FILES.includes(f));
    assert.deepEqual(outside, [], `--help loaded ${outside.join(', ')}`);
    assert.deepEqual(loaded.packages, ['commander']);
    assertNone(loaded, heavy(), '--help');
    // Every command file was loaded (it is a registration check, not an empty one); helpers
    // such as stream-option.js live there too.
    const commandFiles = loaded.files.filter((f) => f.startsWith('dist/cli/commands/'));
    assert.ok(commandFiles.length >= COMMANDS.length, `command files loaded: ${commandFiles.join(', ')}`);
  });

  test('COMMAND --help loads that command file only', () => {
    const loaded = loadedBy(['serve', '--help']);
    assert.deepEqual(loaded.files.filter((f) => f.startsWith('dist/cli/commands/')), ['dist/cli/commands/serve.js']);
    assertNone(loaded, (f) => f.startsWith('dist/serve/') || f.startsWith('dist/node/') || f === 'node:http', 'serve --help');
  });
});

describe('reading a local archive loads the reader only', () => {
  let plain: string;
  let locked: string;
  before(async () => {
    const disk = writeData(tmp.path('disk.raw'), mixedData(256 * 1024, { unit: 4096, seed: 14 }));
    plain = tmp.path('plain.hxz');
    locked = tmp.path('locked.hxz');
    await packSmall({ disk, output: plain, blockSize: 4096 });
    await packSmall({ disk, output: locked, blockSize: 4096, encrypt: { password: 'startup', kdf: { memoryKiB: 256, iterations: 1, lanes: 1 } } });
  });

  /** Directories of the library that reading never needs. */
  const notForReading = (dirs: string[]) => (f: string) => dirs.some((d) => f.startsWith(`dist/${d}/`));

  test('inspect: no packer, servers, mount, overlay, network, Argon2id, workers or progress bar', () => {
    const loaded = loadedBy(['inspect', plain]);
    // The recorder sees both kinds of loading: ESM (the ops module) and require (the BLAKE3 addon).
    assert.ok(loaded.files.includes('dist/ops/inspect.js'), 'the recorder saw no ESM import');
    assert.ok(loaded.all.some((u) => u.endsWith('.node')), 'the recorder saw no native addon');
    assertNone(loaded, notForReading(['pack', 'serve', 'mount', 'overlay', 'workers']), 'inspect');
    // BLAKE3 checks the header, zstd would decode: the rest is for other commands.
    assertNone(loaded, heavy('@napi-rs/blake-hash', 'zstd-napi'), 'inspect');
    // A plain, unsigned archive needs no cipher, signature check, HTTP client or thread.
    assertNone(loaded, (b) => ['node:crypto', 'node:http', 'node:https', 'node:worker_threads', 'node:tty'].includes(b), 'inspect');
  });

  test('inspect of an encrypted archive without its password: no Argon2id, no cipher', () => {
    const loaded = loadedBy(['inspect', locked]);
    assertNone(loaded, (n) => n.startsWith('@node-rs/argon2') || n === 'node:crypto' || n.startsWith('dist/crypto/key-envelope'), 'inspect (locked)');
  });

  test('cat --length 4K: no packer, servers, mount, network, workers or progress bar', () => {
    const loaded = loadedBy(['cat', '--length', '4K', plain]);
    assert.ok(loaded.files.includes('dist/cli/commands/cat.js'));
    assertNone(loaded, notForReading(['pack', 'serve', 'mount', 'overlay', 'workers']), 'cat');
    assertNone(loaded, heavy('@napi-rs/blake-hash', 'zstd-napi'), 'cat');
    // 4 KiB decode in the calling thread: no pool, no worker_threads.
    assertNone(loaded, (b) => ['node:http', 'node:https', 'node:worker_threads'].includes(b), 'cat');
  });
});

describe('registering only the named command', () => {
  test('commandsFor: a command name picks its file; anything else needs all of them, in help order', () => {
    const argv = (...args: string[]) => ['node', 'hexz', ...args];
    assert.deepEqual(commandsFor(argv('cat', 'x.hxz')).map((c) => c.names), [['cat']]);
    assert.deepEqual(commandsFor(argv('umount', '/mnt')).map((c) => c.names), [['mount', 'umount']]);
    for (const args of [[], ['--help'], ['-h'], ['help', 'cat'], ['cta'], ['--version', 'cat'], ['x.hxz']]) {
      assert.equal(commandsFor(argv(...args)), COMMANDS, `hexz ${args.join(' ')}`);
    }
    assert.equal(COMMANDS[0].names[0], 'pack');
  });

  test('every command has the same help registered alone as among all the others', async () => {
    const { Command } = await import('commander');
    const registers = await Promise.all(COMMANDS.map((entry) => entry.load()));
    const program = (rs: typeof registers) => {
      const p = new Command('hexz').version('0').exitOverride();
      for (const register of rs) register(p, async () => {});
      return p;
    };
    const all = program(registers);
    COMMANDS.forEach((entry, i) => {
      const alone = program([registers[i]]);
      for (const name of entry.names) {
        const help = (p: InstanceType<typeof Command>) => p.commands.find((c) => c.name() === name)!.helpInformation();
        assert.equal(help(alone), help(all), `help of ${name}`);
      }
    });
  });

  test('the built CLI: COMMAND --help (only its file) prints what help COMMAND (every file) prints', async () => {
    const run = promisify(execFile);
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    // umount: the second command of a file; serve: long help text after the options.
    for (const name of ['umount', 'serve']) {
      const [alone, amongAll] = await Promise.all([
        run(process.execPath, [HEXZ_BIN, name, '--help'], { env }),
        run(process.execPath, [HEXZ_BIN, 'help', name], { env }),
      ]);
      assert.equal(alone.stdout, amongAll.stdout, `hexz ${name} --help differs from hexz help ${name}`);
      assert.ok(alone.stdout.startsWith(`Usage: hexz ${name} `), alone.stdout);
    }
  });
});
