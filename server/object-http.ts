import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import type { AuthContext } from '../resolvers/identity/auth-context';
import {
  type ContainerRow,
  canReadContainer,
  canWriteContainer,
} from '../resolvers/objects/access';
import { findContainer } from '../resolvers/objects/containers';
import { findUpload, putPart } from '../resolvers/objects/multipart';
import {
  deleteObject,
  findObject,
  type ObjectRow,
  openObject,
  putObject,
} from '../resolvers/objects/objects';
import { verifyTempUrl } from '../resolvers/objects/temp-urls';
import type { Runtime, ServiceContext } from '../resolvers/runtime';
import { authenticate, serviceContext } from './context';
import { HttpError, sendError } from './http-errors';

/*
 * Object bytes over plain HTTP, Swift's way: /v1/AUTH_<project>/<container>/<object>, with the
 * token in X-Auth-Token (or Authorization: Bearer), or a temp URL's signature instead.
 * Metadata and everything else is in GraphQL.
 */

interface Target {
  projectId: string;
  container: string;
  object: string | null;
  rawPath: string;
}

/** Splits /AUTH_<project>/<container>[/<object>] and decodes each part (invalid UTF-8 is a 400). */
function parsePath(rawPath: string): Target {
  const match = /^\/v1\/AUTH_([^/]+)\/([^/]+)(?:\/(.+))?$/.exec(rawPath);
  if (!match)
    throw new HttpError(404, 'NOT_FOUND', 'Expected /v1/AUTH_<project>/<container>/<object>');
  const decode = (part: string, what: string) => {
    try {
      const text = decodeURIComponent(part);
      if (text.includes('\uFFFD') || !Buffer.from(text).equals(Buffer.from(text, 'utf8')))
        throw new Error();
      return text;
    } catch {
      throw new HttpError(
        400,
        'BAD_USER_INPUT',
        `The ${what} name is not valid percent-encoded UTF-8`,
      );
    }
  };
  return {
    projectId: decode(match[1], 'project'),
    container: decode(match[2], 'container'),
    object: match[3] === undefined ? null : decode(match[3], 'object'),
    rawPath,
  };
}

/** How the request proved its right: a token (possibly none) or a temp URL for this object and method. */
async function credentials(
  rt: Runtime,
  req: express.Request,
  target: Target,
): Promise<{ auth: AuthContext | null; tempUrl: boolean }> {
  const sig = req.query.temp_url_sig;
  const expires = req.query.temp_url_expires;
  if (sig !== undefined || expires !== undefined) {
    if (
      typeof sig !== 'string' ||
      typeof expires !== 'string' ||
      !/^[0-9a-f]+$/i.test(sig) ||
      !/^\d+$/.test(expires)
    ) {
      throw new HttpError(
        401,
        'UNAUTHENTICATED',
        'Malformed temp URL: temp_url_sig and temp_url_expires are required',
      );
    }
    const verdict = verifyTempUrl(
      rt.tempUrlSecret,
      target.projectId,
      req.method,
      target.rawPath,
      sig,
      Number(expires),
    );
    if (verdict === 'expired')
      throw new HttpError(401, 'UNAUTHENTICATED', 'The temp URL has expired');
    if (verdict === 'invalid')
      throw new HttpError(
        401,
        'UNAUTHENTICATED',
        'The temp URL signature is not valid for this method and path',
      );
    return { auth: null, tempUrl: true };
  }
  const header = req.get('x-auth-token')
    ? `Bearer ${req.get('x-auth-token')}`
    : req.get('authorization');
  try {
    return { auth: await authenticate(rt, header), tempUrl: false };
  } catch (error) {
    throw new HttpError(401, 'UNAUTHENTICATED', (error as Error).message);
  }
}

function metadataFromHeaders(req: express.Request): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-object-meta-') && typeof value === 'string')
      metadata[name.slice('x-object-meta-'.length)] = value;
  }
  return metadata;
}

/** The client's expected MD5, from ETag (hex) or Content-MD5 (base64); a malformed one is a 400. */
function expectedMd5(req: express.Request): string | null {
  const etag = req.get('etag')?.replace(/^"|"$/g, '');
  if (etag) {
    if (!/^[0-9a-f]{32}$/i.test(etag))
      throw new HttpError(400, 'BAD_USER_INPUT', 'ETag must be the hex MD5 of the body');
    return etag.toLowerCase();
  }
  const contentMd5 = req.get('content-md5');
  if (contentMd5) {
    const hex = Buffer.from(contentMd5, 'base64').toString('hex');
    if (hex.length !== 32)
      throw new HttpError(400, 'BAD_USER_INPUT', 'Content-MD5 must be the base64 MD5 of the body');
    return hex;
  }
  return null;
}

function contentLength(req: express.Request): number | null {
  const raw = req.get('content-length');
  if (raw === undefined) return null;
  if (!/^\d+$/.test(raw))
    throw new HttpError(400, 'BAD_USER_INPUT', 'Content-Length must be a whole number');
  return Number(raw);
}

function deleteAt(req: express.Request): Date | null {
  const at = req.get('x-delete-at');
  const after = req.get('x-delete-after');
  if (at !== undefined) {
    if (!/^\d+$/.test(at))
      throw new HttpError(400, 'BAD_USER_INPUT', 'X-Delete-At must be a Unix time in seconds');
    return new Date(Number(at) * 1000);
  }
  if (after !== undefined) {
    if (!/^\d+$/.test(after))
      throw new HttpError(400, 'BAD_USER_INPUT', 'X-Delete-After must be a number of seconds');
    return new Date(Date.now() + Number(after) * 1000);
  }
  return null;
}

/** Parses a single `bytes=` range against `size`; null for none; throws 416 when unsatisfiable. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(size - Number(match[2]), 0);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size)
    throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', `Range ${header} is outside 0-${size - 1}`);
  return { start, end };
}

function objectHeaders(res: express.Response, object: ObjectRow): void {
  res.set('ETag', `"${object.etag}"`);
  res.set('Last-Modified', object.lastModified.toUTCString());
  res.set('Content-Type', object.contentType);
  res.set('Accept-Ranges', 'bytes');
  if (object.deleteAt) res.set('X-Delete-At', String(Math.floor(object.deleteAt.getTime() / 1000)));
  for (const [key, value] of Object.entries(object.metadata))
    res.set(`X-Object-Meta-${key}`, value);
}

/** If-Match / If-None-Match / If-Modified-Since, as RFC 9110 orders them. Returns the status to answer with, if any. */
function preconditions(req: express.Request, object: ObjectRow): 304 | 412 | null {
  const tags = (h: string) =>
    h.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));
  const ifMatch = req.get('if-match');
  if (ifMatch && ifMatch.trim() !== '*' && !tags(ifMatch).includes(object.etag)) return 412;
  const ifNoneMatch = req.get('if-none-match');
  if (ifNoneMatch) {
    if (ifNoneMatch.trim() === '*' || tags(ifNoneMatch).includes(object.etag))
      return req.method === 'GET' || req.method === 'HEAD' ? 304 : 412;
    return null;
  }
  const since = req.get('if-modified-since');
  if (
    since &&
    !Number.isNaN(Date.parse(since)) &&
    Math.floor(object.lastModified.getTime() / 1000) <= Math.floor(Date.parse(since) / 1000)
  ) {
    return 304;
  }
  return null;
}

async function readObject(
  rt: Runtime,
  req: express.Request,
  res: express.Response,
  container: ContainerRow,
  name: string,
): Promise<void> {
  const object = await findObject(container, rt, name);
  if (!object)
    throw new HttpError(404, 'NOT_FOUND', `No object "${name}" in container "${container.name}"`);
  objectHeaders(res, object);
  const condition = preconditions(req, object);
  if (condition) {
    res.status(condition).end();
    return;
  }
  const range = parseRange(req.get('range'), object.sizeBytes);
  if (range) {
    res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${object.sizeBytes}`);
    res.set('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200).set('Content-Length', String(object.sizeBytes));
  }
  if (req.method === 'HEAD' || object.sizeBytes === 0) {
    res.end();
    return;
  }
  const stream = await openObject(rt, object, range ?? undefined);
  await pipeline(stream as Readable, res);
}

/** Routes for object bytes, mounted at the top of the app. */
export function objectRouter(rt: Runtime): express.Router {
  const router = express.Router();
  router.all(/^\/v1\/AUTH_[^/]+\/[^/]+(\/.*)?$/, async (req, res) => {
    let log: ServiceContext['log'] | null = null;
    try {
      const rawPath = (req.originalUrl.split('?')[0] ?? '').replace(/\/+$/, '');
      const target = parsePath(rawPath);
      if (!target.object)
        throw new HttpError(
          404,
          'NOT_FOUND',
          'Container listings are in GraphQL: containers { objects }',
        );
      if (!['GET', 'HEAD', 'PUT', 'DELETE'].includes(req.method))
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported on objects`);
      const { auth, tempUrl } = await credentials(rt, req, target);
      const ctx = serviceContext(
        rt,
        auth,
        req.socket.remoteAddress ?? '',
        `${req.protocol}://${req.get('host')}`,
      );
      log = ctx.log;
      res.set('X-Request-Id', ctx.requestId);
      const container = await findContainer(ctx, target.projectId, target.container);
      const denied = () =>
        auth || tempUrl
          ? new HttpError(403, 'FORBIDDEN', 'Not allowed on this container')
          : new HttpError(401, 'UNAUTHENTICATED', 'A token or a temp URL is required');
      if (!container)
        throw auth || tempUrl
          ? new HttpError(404, 'NOT_FOUND', `No container "${target.container}"`)
          : denied();
      const mayRead = tempUrl || canReadContainer(auth, container);
      const mayWrite = tempUrl ? req.method === 'PUT' : canWriteContainer(auth, container);

      if (req.method === 'GET' || req.method === 'HEAD') {
        if (!mayRead) throw denied();
        await readObject(rt, req, res, container, target.object);
        return;
      }
      if (!mayWrite) throw denied();
      if (req.method === 'DELETE') {
        await deleteObject(ctx, container.id, target.object);
        res.status(204).end();
        return;
      }
      const uploadId = req.query.uploadId;
      if (typeof uploadId === 'string') {
        if (tempUrl) throw new HttpError(403, 'FORBIDDEN', 'Temp URLs cannot upload parts');
        const upload = await findUpload(ctx, uploadId);
        if (upload.containerId !== container.id || upload.objectName !== target.object) {
          throw new HttpError(400, 'BAD_USER_INPUT', 'This upload belongs to another object');
        }
        const part = await putPart(
          ctx,
          upload,
          Number(req.query.partNumber),
          req,
          contentLength(req),
          expectedMd5(req),
        );
        res.status(201).set('ETag', `"${part.md5Hex}"`).end();
        return;
      }
      const length = contentLength(req);
      if (length !== null && length > rt.config.objects.maxObjectBytes) {
        throw new HttpError(
          413,
          'OBJECT_TOO_LARGE',
          `A single upload may be at most ${rt.config.objects.maxObjectBytes} bytes; use a multipart upload`,
        );
      }
      const object = await putObject(ctx, {
        container,
        name: target.object,
        body: req,
        contentLength: contentLength(req),
        contentType: req.get('content-type') ?? null,
        expectedMd5Hex: expectedMd5(req),
        metadata: metadataFromHeaders(req),
        deleteAt: deleteAt(req),
        viaTempUrl: tempUrl,
      });
      res
        .status(201)
        .set('ETag', `"${object.etag}"`)
        .set('Last-Modified', object.lastModified.toUTCString())
        .end();
    } catch (error) {
      // Drain what the client is still sending, so it reads our answer instead of a reset.
      if (!req.complete) req.resume();
      sendError(res, error, log);
    }
  });
  return router;
}
