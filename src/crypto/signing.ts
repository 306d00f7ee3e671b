/**
 * Ed25519 keys and signatures for signed archives (docs/FORMAT.md §14), on node:crypto only.
 * Keys live in standard PEM files — PKCS#8 private, SPKI public — so openssl and other tools
 * read them; the fingerprint is the OpenSSH form, `SHA256:` + unpadded base64.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE } from '../format/signature.js';
import { UsageError, wrapIoError } from '../errors.js';

/** A freshly generated key pair as PEM text, and the public key's fingerprint. */
export interface GeneratedKeyPair {
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), unencrypted. */
  privateKeyPem: string;
  /** SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
  publicKeyPem: string;
  /** `SHA256:…` of the public key. */
  fingerprint: string;
}

/** Generates a new Ed25519 key pair. */
export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    fingerprint: fingerprint(publicKey),
  };
}

/**
 * Loads an Ed25519 private key from a PEM file (PKCS#8, as `hexz keygen` writes it).
 * @throws StoreError when the file cannot be read (missing, permission denied).
 * @throws UsageError naming the file when it is not a PEM private key, is passphrase-protected,
 *   is a public key, or holds a key of another type.
 */
export async function loadPrivateKey(path: string): Promise<KeyObject> {
  const pem = await readPem(path, 'read private key');
  const label = pemLabel(pem);
  if (label === 'PUBLIC KEY') throw new UsageError(`${path}: is a public key; signing needs the private key (the .key file from hexz keygen)`);
  if (label === 'ENCRYPTED PRIVATE KEY') throw new UsageError(`${path}: the private key is passphrase-protected; hexz needs an unencrypted PKCS#8 Ed25519 key`);
  if (label === undefined || !label.endsWith('PRIVATE KEY')) throw new UsageError(`${path}: not a PEM private key (expected -----BEGIN PRIVATE KEY-----)`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new UsageError(`${path}: not a valid PEM private key`, {}, { cause: err });
  }
  assertEd25519(key, path);
  return key;
}

/**
 * Loads an Ed25519 public key from a PEM file (SPKI, as `hexz keygen` writes it).
 * A private key is refused rather than quietly turned into its public half, so private keys are
 * not handed around for verification by habit.
 * @throws StoreError when the file cannot be read.
 * @throws UsageError naming the file when it is not a PEM public key or holds another key type.
 */
export async function loadPublicKey(path: string): Promise<KeyObject> {
  const pem = await readPem(path, 'read public key');
  const label = pemLabel(pem);
  if (label?.endsWith('PRIVATE KEY')) throw new UsageError(`${path}: is a private key; pass the public key (the .pub file from hexz keygen)`);
  if (label !== 'PUBLIC KEY') throw new UsageError(`${path}: not a PEM public key (expected -----BEGIN PUBLIC KEY-----)`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new UsageError(`${path}: not a valid PEM public key`, {}, { cause: err });
  }
  assertEd25519(key, path);
  return key;
}

/**
 * Checks that `key` is an Ed25519 key of the wanted kind.
 * @param what names the key in the message (a file path or "key").
 * @throws UsageError otherwise.
 */
export function assertEd25519(key: KeyObject, what = 'key', kind?: 'private' | 'public'): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`${what}: is ${key.asymmetricKeyType ? `an ${key.asymmetricKeyType.toUpperCase()}` : 'a symmetric'} key; hexz signs with Ed25519 (make one with hexz keygen)`);
  }
  if (kind && key.type !== kind) throw new UsageError(`${what}: is a ${key.type} key; a ${kind} key is needed`);
}

/**
 * The raw 32-byte Ed25519 public key of `key` (a private key gives its public half).
 * @throws UsageError when `key` is not an Ed25519 key.
 */
export function rawPublicKey(key: KeyObject): Uint8Array {
  assertEd25519(key);
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const { x } = pub.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(x!, 'base64url'));
}

/**
 * A public KeyObject from the raw 32 bytes stored in a signature block.
 * @throws RangeError when `raw` is not 32 bytes.
 */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== PUBLIC_KEY_SIZE) throw new RangeError(`an Ed25519 public key is ${PUBLIC_KEY_SIZE} bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/**
 * The fingerprint of a public key: `SHA256:` + unpadded base64 of SHA-256 of the raw 32-byte key,
 * the form OpenSSH prints.
 * @param key a KeyObject (private keys give their public half) or the raw 32 bytes.
 */
export function fingerprint(key: KeyObject | Uint8Array): string {
  const raw = key instanceof Uint8Array ? key : rawPublicKey(key);
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Signs `message` with an Ed25519 private key (pure Ed25519: no pre-hash).
 * @returns the 64-byte signature.
 * @throws UsageError when `key` is not an Ed25519 private key.
 */
export function signMessage(key: KeyObject, message: Uint8Array): Uint8Array {
  assertEd25519(key, 'key', 'private');
  return new Uint8Array(sign(null, message, key));
}

/**
 * True when `signature` is a valid Ed25519 signature of `message` by `publicKey` (a KeyObject
 * or the raw 32 bytes). Never throws for a bad key or signature: those are just invalid.
 */
export function verifyMessage(publicKey: KeyObject | Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_SIZE) return false;
  try {
    const key = publicKey instanceof Uint8Array ? publicKeyFromRaw(publicKey) : publicKey;
    return verify(null, message, key, signature);
  } catch {
    return false; // e.g. raw bytes that are not a point on the curve
  }
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw wrapIoError(err, path, what);
  }
}

/** The label of the first PEM block (`PRIVATE KEY`, `PUBLIC KEY`, ...), or undefined. */
function pemLabel(text: string): string | undefined {
  return /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
}
