import { createHash, randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import {
  CopyObjectCommand,
  type CopyObjectCommandOutput,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DriverUnavailableError } from '../errors';
import { BaseObjectStore, DigestStream, validateKey } from './base';
import { InvalidRangeError, ObjectBackendError, ObjectNotFoundError } from './errors';
import type { ByteRange, ObjectStat, ObjectStoreInfo, WriteOptions, WriteResult } from './types';

export interface S3Config {
  /** URL of an S3-compatible endpoint (MinIO, Ceph RGW, ...); omit for AWS. */
  endpoint?: string;
  region: string;
  /** A bucket for Stratus alone: `list` reports (and reconciliation may delete) all its keys. */
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key`; most non-AWS stores need it. */
  forcePathStyle?: boolean;
}

/** The smallest part S3 accepts (except the last); also the part size when the size is unknown. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;
/**
 * Parts in flight per write. Two keep one part uploading while the next fills, which is all a
 * body arriving at client speed needs, and bound what a write buffers to about 3 parts.
 */
const QUEUE_SIZE = 2;
/** The largest object one CopyObject may copy; larger ones are copied through Stratus. */
export const MAX_COPY_OBJECT_BYTES = 5 * 1024 ** 3;
/** Where `probe` writes its test object; keys may not start with `.`, so no key lands here. */
const RESERVED_PREFIX = '.tmp/';

/**
 * The MD5 an S3 ETag stands for, or null when it is not one: multipart ETags (`<hex>-<parts>`)
 * and the ETags of SSE-KMS encrypted objects are not MD5s of the content.
 */
export function md5FromEtag(
  etag: string | undefined,
  serverSideEncryption?: string,
): string | null {
  const match = /^"?([0-9a-fA-F]{32})"?$/.exec(etag ?? '');
  if (!match) return null;
  if (serverSideEncryption?.startsWith('aws:kms')) return null;
  return match[1].toLowerCase();
}

/** The part size for a body of `sizeBytes` (when known): at least 5 MiB, at most 10 000 parts. */
export function partSizeFor(sizeBytes: number | undefined): number {
  return Math.max(MIN_PART_BYTES, Math.ceil((sizeBytes ?? 0) / MAX_PARTS));
}

interface S3Failure {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as S3Failure)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as S3Failure)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(err) === 404;
}

/** `NoSuchBucket (404): The specified bucket does not exist`, or a network error's code. */
function describe(err: unknown): string {
  const e = err as S3Failure;
  const status = statusOf(err);
  if (status === undefined) return `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
  return `${e.name ?? 'Error'} (HTTP ${status})${e.message && e.message !== 'UnknownError' ? `: ${e.message}` : ''}`;
}

/**
 * Objects in one S3 bucket (AWS or any S3-compatible store), one S3 object per key, metadata as
 * S3 user metadata.
 *
 * Writes stream through `DigestStream` into `@aws-sdk/lib-storage`'s Upload, straight to the
 * final key: a body up to one part is sent as one PutObject, a larger one as a multipart
 * upload. WARNING, the invariant that keeps a bad body invisible: Upload sends the PutObject
 * (or the last part, then CompleteMultipartUpload) only after the body stream has ENDED, and
 * `DigestStream` only ends after the size and MD5 checks passed; a failed check errors the
 * stream instead, Upload aborts the multipart upload, and S3 never shows a multipart object
 * before it is completed. So nothing becomes visible on a mismatch and the previous object
 * stays, with no temporary key and no second copy of the bytes (a temp key + CopyObject would
 * double the I/O and stop at CopyObject's 5 GiB limit). The conformance suite checks this
 * with bodies of one part and of several.
 *
 * Request checksums are only sent when an operation requires them (`WHEN_REQUIRED`): the SDK's
 * newer default (CRC32 trailers in aws-chunked bodies) is not understood by many S3-compatible
 * stores, s3rver included.
 */
export class S3ObjectStore extends BaseObjectStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  /** Sources larger than this are copied through Stratus (a seam for tests). */
  protected readonly maxCopyObjectBytes: number = MAX_COPY_OBJECT_BYTES;

  constructor(private readonly config: S3Config) {
    super();
    this.bucket = config.bucket;
    this.client = new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle ?? false,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // An unreachable endpoint fails the probe in seconds instead of hanging on connect.
      requestHandler: { connectionTimeout: 5_000 },
    });
  }

  /** S3 store: ranges through GetObject's Range header, copies through CopyObject. */
  info(): ObjectStoreInfo {
    return { name: 's3', capabilities: { rangeReads: true, serverSideCopy: true } };
  }

  /**
   * Checks the bucket exists and the credentials may read it (HeadBucket), then that they may
   * write and delete (a test object under the reserved `.tmp/`). Throws `DriverUnavailableError`
   * naming the bucket and endpoint.
   */
  async probe(): Promise<void> {
    const where = `bucket "${this.bucket}" at ${this.config.endpoint ?? `AWS S3 (${this.config.region})`}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = statusOf(err);
      const reason =
        status === 404
          ? `${where} does not exist`
          : status === 403
            ? `access to ${where} is denied (check accessKeyId and secretAccessKey)`
            : status === 301
              ? `${where} is not in region "${this.config.region}"`
              : `${where} is not reachable: ${describe(err)}`;
      throw new DriverUnavailableError('s3', reason, { cause: err });
    }
    const probeKey = `${RESERVED_PREFIX}probe-${randomUUID()}`;
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: probeKey, Body: '', ContentLength: 0 }),
      );
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probeKey }));
    } catch (err) {
      throw new DriverUnavailableError('s3', `cannot write to ${where}: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  protected async writeObject(
    key: string,
    body: Readable,
    options: WriteOptions,
  ): Promise<WriteResult> {
    const digest = new DigestStream(options);
    // Errors of the body (and its premature close) reach Upload as errors of `digest`, which
    // records the first one; the callback has nothing to add.
    pipeline(body, digest, () => {});
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: digest, Metadata: options.metadata },
      partSize: partSizeFor(options.expectedSizeBytes),
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      // Stop reading the body whoever failed first (the body, a check, or S3).
      digest.destroy();
      body.destroy();
      throw digest.failure ?? new ObjectBackendError('write', key, describe(err), { cause: err });
    }
    return digest.result;
  }

  protected async readObject(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      if (range && (statusOf(err) === 416 || (err as S3Failure).name === 'InvalidRange')) {
        throw new InvalidRangeError(key, range, 'it starts at or past the end of the object');
      }
      throw new ObjectBackendError('read', key, describe(err), { cause: err });
    }
    const stream = response.Body as Readable;
    if (range) {
      // Some S3-compatible stores ignore or mangle a Range; never pass wrong bytes on as a range.
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.ContentRange ?? '');
      const expectedEnd = match ? Math.min(range.end, Number(match[3]) - 1) : -1;
      if (!match || Number(match[1]) !== range.start || Number(match[2]) !== expectedEnd) {
        stream.destroy();
        throw new ObjectBackendError(
          'read',
          key,
          `asked for bytes=${range.start}-${range.end}, the store answered with Content-Range ${JSON.stringify(response.ContentRange ?? null)}`,
        );
      }
    }
    return stream;
  }

  protected async statObject(key: string): Promise<ObjectStat | null> {
    const head = await this.head(key);
    if (!head) return null;
    return { sizeBytes: head.ContentLength ?? 0, metadata: { ...head.Metadata } };
  }

  protected async deleteObject(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw new ObjectBackendError('delete', key, describe(err), { cause: err });
    }
  }

  /**
   * CopyObject inside the bucket, pinned to the version the source had when looked up
   * (CopySourceIfMatch), so size and bytes belong together. The MD5 comes from the new ETag
   * when that is one, else from reading the copy back; sources over 5 GiB are streamed through
   * Stratus instead.
   */
  protected async copyObject(fromKey: string, toKey: string, attempt = 1): Promise<WriteResult> {
    const source = await this.head(fromKey);
    if (!source) throw new ObjectNotFoundError(fromKey);
    const sizeBytes = source.ContentLength ?? 0;
    if (sizeBytes > this.maxCopyObjectBytes) return this.copyThroughStratus(fromKey, toKey);
    let copied: CopyObjectCommandOutput;
    try {
      copied = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: `${this.bucket}/${fromKey}`,
          CopySourceIfMatch: source.ETag,
          // S3 refuses a copy onto itself unless something "changes": restate the metadata.
          ...(fromKey === toKey
            ? { MetadataDirective: 'REPLACE', Metadata: source.Metadata }
            : { MetadataDirective: 'COPY' }),
        }),
      );
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(fromKey);
      if (statusOf(err) === 412 && attempt < 3) {
        return this.copyObject(fromKey, toKey, attempt + 1); // the source changed meanwhile
      }
      throw new ObjectBackendError('copy', fromKey, describe(err), { cause: err });
    }
    const etag = copied.CopyObjectResult?.ETag;
    const md5Hex =
      this.md5FromCopyEtag(etag, copied.ServerSideEncryption) ??
      (await this.hashObject(toKey, etag));
    return { sizeBytes, md5Hex };
  }

  /** The copy's MD5 when its ETag is one (a seam for tests of the read-back path). */
  protected md5FromCopyEtag(etag: string | undefined, sse: string | undefined): string | null {
    return md5FromEtag(etag, sse);
  }

  protected async *listKeys(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix || undefined,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw new ObjectBackendError('list', prefix || null, describe(err), { cause: err });
      }
      for (const { Key } of page.Contents ?? []) {
        // `.tmp/` and anything not shaped like a key are not objects of this store.
        if (Key && isKey(Key)) yield Key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async head(key: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new ObjectBackendError('stat', key, describe(err), { cause: err });
    }
  }

  /** Reads the object back (that version only, via IfMatch) and returns its MD5. */
  private async hashObject(key: string, etag: string | undefined): Promise<string> {
    const hash = createHash('md5');
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: etag }),
      );
      for await (const chunk of response.Body as Readable) hash.update(chunk as Buffer);
    } catch (err) {
      throw new ObjectBackendError('copy (reading back)', key, describe(err), { cause: err });
    }
    return hash.digest('hex');
  }
}

function isKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}
