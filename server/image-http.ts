import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import { openImageData, uploadImageData } from '../resolvers/images/upload';
import type { Runtime, ServiceContext } from '../resolvers/runtime';
import { authenticate, serviceContext } from './context';
import { HttpError, sendError } from './http-errors';

/*
 * Image bytes over plain HTTP at Glance's path: PUT and GET /v2/images/<id>/file, with the
 * token in X-Auth-Token or Authorization: Bearer. Everything else about images is in GraphQL.
 */

async function context(rt: Runtime, req: express.Request): Promise<ServiceContext> {
  const header = req.get('x-auth-token')
    ? `Bearer ${req.get('x-auth-token')}`
    : req.get('authorization');
  let auth: Awaited<ReturnType<typeof authenticate>>;
  try {
    auth = await authenticate(rt, header);
  } catch (error) {
    throw new HttpError(401, 'UNAUTHENTICATED', (error as Error).message);
  }
  if (!auth) throw new HttpError(401, 'UNAUTHENTICATED', 'A token is required');
  return serviceContext(
    rt,
    auth,
    req.socket.remoteAddress ?? '',
    `${req.protocol}://${req.get('host')}`,
  );
}

function contentLength(req: express.Request): number | null {
  const raw = req.get('content-length');
  if (raw === undefined) return null;
  if (!/^\d+$/.test(raw))
    throw new HttpError(400, 'BAD_USER_INPUT', 'Content-Length must be a whole number');
  return Number(raw);
}

/** Routes for image data, mounted at the top of the app. */
export function imageRouter(rt: Runtime): express.Router {
  const router = express.Router();
  router.put('/v2/images/:id/file', async (req, res) => {
    let log: ServiceContext['log'] | null = null;
    try {
      const ctx = await context(rt, req);
      log = ctx.log;
      const image = await uploadImageData(
        ctx,
        String(req.params.id),
        req as Readable,
        contentLength(req),
      );
      res
        .status(204)
        .set('Content-MD5', Buffer.from(image.checksum ?? '', 'hex').toString('base64'))
        .end();
    } catch (error) {
      if (!req.complete) req.resume();
      sendError(res, error, log);
    }
  });
  router.get('/v2/images/:id/file', async (req, res) => {
    let log: ServiceContext['log'] | null = null;
    try {
      const ctx = await context(rt, req);
      log = ctx.log;
      const { image, stream } = await openImageData(ctx, String(req.params.id));
      res.status(200);
      res.set('Content-Type', 'application/octet-stream');
      res.set('Content-Length', String(image.sizeBytes));
      res.set('Content-MD5', Buffer.from(image.checksum ?? '', 'hex').toString('base64'));
      res.set('X-Image-Meta-Checksum', image.checksum ?? '');
      await pipeline(stream as Readable, res);
    } catch (error) {
      sendError(res, error, log);
    }
  });
  return router;
}
