import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The one method of an `@aws-sdk/client-s3` S3Client that hexz calls. S3 sources, listings and
 * uploads take this narrow shape so tests can inject a fake that answers commands from memory.
 */
export interface S3ClientLike {
  // The SDK's `send` is generic over every command; `any` keeps a hand-written fake assignable.
  send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any>;
}

/** Options of {@link createS3Client}; each overrides what the AWS environment says. */
export interface S3ClientOptions {
  /** Region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1). */
  region?: string;
  /** Endpoint URL of an S3-compatible server (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL). */
  endpoint?: string;
  /** Path-style addressing (default: true when a custom endpoint is set, as such servers rarely have per-bucket DNS names). */
  forcePathStyle?: boolean;
  /** Static credentials (default: the SDK's chain: env vars, AWS_PROFILE, config files, SSO, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request inside the SDK, first included (default: the SDK's, 3). */
  maxAttempts?: number;
  /** The environment to read (default `process.env`); injectable for tests. */
  env?: Record<string, string | undefined>;
}

/**
 * Builds an S3Client from the standard AWS environment and config files. The SDK is imported
 * here, on first use, so local-only users of hexz never load it.
 *
 * Against a custom endpoint (radosgw, MinIO, …) path-style addressing is used, and checksums
 * are only sent or checked where S3 requires them: the SDK's default CRC32 trailers since
 * 3.729 are not understood by many S3-compatible servers.
 * @example
 * const client = await createS3Client({ endpoint: 'http://127.0.0.1:7480' });
 * @throws Error when `@aws-sdk/client-s3` is not installed.
 */
export async function createS3Client(options: S3ClientOptions = {}): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const env = options.env ?? process.env;
  const endpoint = options.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
  // Unset options are left out, not set to undefined: the SDK only applies its defaults (the
  // credential chain above all) to absent keys.
  const config: S3ClientConfig = { forcePathStyle: options.forcePathStyle ?? endpoint !== undefined };
  if (endpoint !== undefined) {
    config.endpoint = endpoint;
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (options.credentials) config.credentials = options.credentials;
  if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
  const region = options.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  if (region !== undefined) return construct(S3Client, { ...config, region });
  // No region in the environment: let the SDK read the profile's, and fall back to us-east-1
  // (the AWS CLI's default) rather than failing every request with "Region is missing".
  const client = construct(S3Client, config);
  try {
    await client.config.region();
    return client;
  } catch {
    client.destroy();
    return construct(S3Client, { ...config, region: 'us-east-1' });
  }
}

/**
 * Constructs the client with the SDK's Node-version notice silenced: from 2027 its new releases
 * need Node 22, but hexz supports Node 20 on purpose, the notice is not something a hexz user can
 * act on, and it is a process warning (which fails the test suite). The variable is restored
 * right after, so nothing else in the process sees it changed.
 */
function construct(S3ClientClass: typeof S3Client, config: S3ClientConfig): S3Client {
  const name = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  const before = process.env[name];
  process.env[name] = 'true';
  try {
    return new S3ClientClass(config);
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}
