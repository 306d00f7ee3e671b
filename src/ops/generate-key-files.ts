import { access } from 'node:fs/promises';
import { generateSigningKeyPair } from '../crypto/signing.js';
import { AtomicFile } from '../store/atomic-file.js';
import { UsageError } from '../errors.js';

/** What {@link generateKeyFiles} wrote. */
export interface KeyFiles {
  /** `NAME.key`: the PKCS#8 PEM private key, mode 0600. */
  privateKey: string;
  /** `NAME.pub`: the SPKI PEM public key. */
  publicKey: string;
  /** `SHA256:…` of the public key. */
  fingerprint: string;
}

/**
 * Generates an Ed25519 key pair for `hexz sign` and writes `NAME.key` (private, mode 0600) and
 * `NAME.pub` (public), each atomically (temporary file, fsync, rename). A trailing `.key` or
 * `.pub` on `name` is dropped, so `-o release.key` does not make `release.key.key`.
 * @param name the path of both files without their extension.
 * @throws UsageError when either file exists and `force` is not set (then neither is written).
 * @throws StoreError when the directory is not writable.
 * @example
 * const { privateKey, publicKey, fingerprint } = await generateKeyFiles('release');
 */
export async function generateKeyFiles(name: string, options: { force?: boolean } = {}): Promise<KeyFiles> {
  const base = name.replace(/\.(key|pub)$/, '');
  if (!base) throw new UsageError(`key name '${name}' is empty`);
  const privateKey = `${base}.key`;
  const publicKey = `${base}.pub`;
  if (!options.force) {
    // Check both before writing either: a half-replaced pair would not match.
    const existing = (await Promise.all([privateKey, publicKey].map(async (p) => ((await exists(p)) ? p : undefined)))).filter(Boolean);
    if (existing.length) throw new UsageError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''} (use --force to overwrite)`);
  }
  const pair = generateSigningKeyPair();
  const files = [await AtomicFile.create(privateKey, { force: true })];
  try {
    // Restrict the private key before a byte of it is written.
    await files[0].fh.chmod(0o600);
    await files[0].writeAt(Buffer.from(pair.privateKeyPem, 'utf8'), 0);
    files.push(await AtomicFile.create(publicKey, { force: true }));
    await files[1].writeAt(Buffer.from(pair.publicKeyPem, 'utf8'), 0);
    await files[0].commit();
    await files[1].commit();
  } catch (err) {
    await Promise.all(files.map((f) => f.abort()));
    throw err;
  }
  return { privateKey, publicKey, fingerprint: pair.fingerprint };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
