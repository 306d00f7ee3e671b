import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ReadStream, WriteStream } from 'node:tty';
import { AbortedError, UsageError, wrapIoError } from '../errors.js';

/** Where a command may take a password from; never from a command-line argument. */
export interface PasswordSource {
  /** `--password-file FILE`: the file's first line. */
  passwordFile?: string;
  /** Environment variable to read (HEXZ_PASSWORD, or HEXZ_NEW_PASSWORD for passwd). */
  envVar?: string;
  /** Ask twice on the terminal and require both answers to match (creating a password). */
  confirm?: boolean;
  /** What the terminal prompt says. */
  prompt?: string;
}

/**
 * Gets a password from, in order: `--password-file`, the environment variable, or a no-echo
 * prompt on the controlling terminal (/dev/tty, so stdin stays free for data).
 * @returns undefined when none of them is available.
 * @throws UsageError for an empty password or a mismatch when confirming.
 * @throws StoreError when the password file cannot be read.
 * @throws AbortedError on Ctrl-C at the prompt.
 */
export async function readPassword(src: PasswordSource): Promise<string | undefined> {
  if (src.passwordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(src.passwordFile, 'utf8');
    } catch (err) {
      throw wrapIoError(err, src.passwordFile, 'read password file');
    }
    const first = text.split(/\r?\n/)[0];
    if (!first) throw new UsageError(`${src.passwordFile}: the password file's first line is empty`);
    return first;
  }
  const env = process.env[src.envVar ?? 'HEXZ_PASSWORD'];
  if (env !== undefined) {
    if (env === '') throw new UsageError(`${src.envVar ?? 'HEXZ_PASSWORD'} is set but empty`);
    return env;
  }
  const tty = await openTty();
  if (!tty) return undefined;
  try {
    const prompt = src.prompt ?? 'Password: ';
    const first = await ask(tty, prompt);
    if (first === '') throw new UsageError('the password must not be empty');
    if (src.confirm && (await ask(tty, `Repeat ${prompt.charAt(0).toLowerCase()}${prompt.slice(1)}`)) !== first) {
      throw new UsageError('the passwords do not match');
    }
    return first;
  } finally {
    tty.input.destroy();
    tty.output.destroy();
  }
}

/**
 * Like {@link readPassword} but fails when no source is available.
 * @throws UsageError naming the ways to give a password.
 */
export async function requirePassword(src: PasswordSource, why: string): Promise<string> {
  const pw = await readPassword(src);
  if (pw === undefined) {
    throw new UsageError(`${why}: give the password with --password-file FILE or ${src.envVar ?? 'HEXZ_PASSWORD'}, or run on a terminal to be asked`);
  }
  return pw;
}

async function openTty(): Promise<{ input: ReadStream; output: WriteStream } | undefined> {
  // Imported only to prompt: most runs take the password from a file or the environment.
  const { ReadStream, WriteStream } = await import('node:tty');
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined; // no controlling terminal (CI, cron, a pipe)
  }
  try {
    return { input: new ReadStream(fd), output: new WriteStream(fd) };
  } catch {
    closeSync(fd);
    return undefined;
  }
}

/** Reads one line from the terminal in raw mode without echoing it. */
function ask(tty: { input: ReadStream; output: WriteStream }, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = '';
    tty.output.write(prompt);
    tty.input.setRawMode(true);
    const done = (err?: Error) => {
      tty.input.setRawMode(false);
      tty.input.off('data', onData);
      tty.input.pause();
      tty.output.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new AbortedError('cancelled at the password prompt'));
        if (ch === '\u0004') return line === '' ? done() : undefined;
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch === '\u0015') line = ''; // Ctrl-U
        else if (ch >= ' ') line += ch;
      }
    };
    tty.input.on('data', onData);
    tty.input.resume();
  });
}
