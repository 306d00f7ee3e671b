/**
 * An in-memory S3 for unit tests of src/store/s3-*.ts: answers the SDK's command objects
 * (GetObject with Range and IfMatch, HeadObject, PutObject, ListObjectsV2 and the multipart
 * commands) the way S3 does, records every call, and can fail or hold requests on cue.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3ClientLike } from '../src/store/s3-client.ts';

interface StoredObject {
  body: Uint8Array;
  etag: string;
}

/** An error shaped like the SDK's ServiceException. */
export function sdkError(name: string, status?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name, ...(status !== undefined && { $metadata: { httpStatusCode: status } }), ...extra });
}

export class FakeS3 implements S3ClientLike {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, { key: string; parts: Map<number, Uint8Array> }>();
  /** Every command sent: its name (without `Command`) and input. */
  readonly calls: { name: string; input: Record<string, any> }[] = [];
  /** Called before each command is answered: throw to fail it, await to hold it. */
  hook: (name: string, input: Record<string, any>) => void | Promise<void> = () => {};
  /** Answer GetObject as a server that ignores Range (200, the whole body, no Content-Range). */
  ignoreRange = false;
  /** Ignore IfMatch (as some servers do), so only the answer's ETag tells a change. */
  ignoreIfMatch = false;
  inFlight = 0;
  maxInFlight = 0;
  private nextId = 1;

  put(key: string, body: Uint8Array): void {
    this.objects.set(key, { body: Uint8Array.from(body), etag: etagOf(body) });
  }

  async send(command: any, options?: { abortSignal?: AbortSignal }): Promise<any> {
    const name = (command.constructor.name as string).replace(/Command$/, '');
    const input = command.input as Record<string, any>;
    this.calls.push({ name, input });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (options?.abortSignal?.aborted) throw sdkError('AbortError');
      await this.hook(name, input);
      if (options?.abortSignal?.aborted) throw sdkError('AbortError');
      return this.answer(name, input);
    } finally {
      this.inFlight--;
    }
  }

  private answer(name: string, input: Record<string, any>): any {
    const key = input.Key as string;
    switch (name) {
      case 'GetObject': {
        const o = this.objects.get(key);
        if (!o) throw sdkError('NoSuchKey', 404);
        if (input.IfMatch && !this.ignoreIfMatch && input.IfMatch !== o.etag) throw sdkError('PreconditionFailed', 412);
        const m = /^bytes=(\d+)-(\d+)$/.exec(input.Range ?? '');
        if (!m || this.ignoreRange) return { Body: Readable.from([Buffer.from(o.body)]), ContentLength: o.body.length, ETag: o.etag };
        const first = Number(m[1]);
        if (first >= o.body.length) throw sdkError('InvalidRange', 416);
        const last = Math.min(Number(m[2]), o.body.length - 1);
        const part = o.body.subarray(first, last + 1);
        return { Body: Readable.from([Buffer.from(part)]), ContentLength: part.length, ContentRange: `bytes ${first}-${last}/${o.body.length}`, ETag: o.etag };
      }
      case 'HeadObject': {
        const o = this.objects.get(key);
        if (!o) throw sdkError('NotFound', 404);
        return { ContentLength: o.body.length, ETag: o.etag };
      }
      case 'PutObject':
        this.put(key, input.Body as Uint8Array);
        return { ETag: this.objects.get(key)!.etag };
      case 'CreateMultipartUpload': {
        const id = `upload-${this.nextId++}`;
        this.uploads.set(id, { key, parts: new Map() });
        return { UploadId: id };
      }
      case 'UploadPart': {
        const u = this.uploads.get(input.UploadId);
        if (!u) throw sdkError('NoSuchUpload', 404);
        const body = input.Body as Uint8Array;
        u.parts.set(input.PartNumber, Uint8Array.from(body));
        return { ETag: etagOf(body) };
      }
      case 'CompleteMultipartUpload': {
        const u = this.uploads.get(input.UploadId);
        if (!u) throw sdkError('NoSuchUpload', 404);
        const parts = input.MultipartUpload.Parts as { PartNumber: number; ETag: string }[];
        const bodies = parts.map((p, i) => {
          const b = u.parts.get(p.PartNumber);
          if (!b || etagOf(b) !== p.ETag || p.PartNumber !== i + 1) throw sdkError('InvalidPart', 400);
          if (i < parts.length - 1 && b.length < 5 << 20) throw sdkError('EntityTooSmall', 400);
          return b;
        });
        this.put(key, Buffer.concat(bodies));
        this.uploads.delete(input.UploadId);
        return { ETag: `"multipart-${parts.length}"` };
      }
      case 'AbortMultipartUpload':
        if (!this.uploads.delete(input.UploadId)) throw sdkError('NoSuchUpload', 404);
        return {};
      case 'ListObjectsV2': {
        const keys = [...this.objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).sort();
        const start = input.ContinuationToken ? Number(input.ContinuationToken) : 0;
        const max = input.MaxKeys ?? 1000;
        const page = keys.slice(start, start + max);
        const more = start + max < keys.length;
        return { Contents: page.map((k) => ({ Key: k, Size: this.objects.get(k)!.body.length, ETag: this.objects.get(k)!.etag })), IsTruncated: more, NextContinuationToken: more ? String(start + max) : undefined };
      }
      default:
        throw new Error(`FakeS3: ${name} not implemented`);
    }
  }
}

function etagOf(body: Uint8Array): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}
