import { createHmac, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { containers } from '../../db/tables';
import { authorize } from '../authorize';
import { NotFoundError } from '../errors';
import type { ServiceContext } from '../runtime';
import { isUuid, parseInput } from '../validation';
import { canWriteContainer } from './access';
import { checkObjectName } from './names';

export type TempUrlMethod = 'GET' | 'HEAD' | 'PUT';

/** The HTTP path of an object, as Swift spells it: /v1/AUTH_<project>/<container>/<object>. */
export function objectPath(projectId: string, container: string, object: string): string {
  const encoded = object.split('/').map(encodeURIComponent).join('/');
  return `/v1/AUTH_${projectId}/${encodeURIComponent(container)}/${encoded}`;
}

/** Each project signs with its own key, derived from the process secret, so keys never need storing. */
function projectKey(secret: string, projectId: string): Buffer {
  return createHmac('sha256', secret).update(`temp-url:${projectId}`).digest();
}

/** Swift's TempURL signature: HMAC-SHA256 over "METHOD\\nexpires\\npath". */
export function signTempUrl(
  secret: string,
  projectId: string,
  method: TempUrlMethod,
  expires: number,
  path: string,
): string {
  return createHmac('sha256', projectKey(secret, projectId))
    .update(`${method}\n${expires}\n${path}`)
    .digest('hex');
}

/**
 * Whether a request may use the temp URL: the signature matches this method (a GET signature
 * also admits HEAD, as in Swift) and path, and it has not expired.
 */
export function verifyTempUrl(
  secret: string,
  projectId: string,
  method: string,
  path: string,
  signature: string,
  expires: number,
): 'valid' | 'expired' | 'invalid' {
  const methods: TempUrlMethod[] =
    method === 'HEAD' ? ['HEAD', 'GET'] : method === 'GET' || method === 'PUT' ? [method] : [];
  const given = Buffer.from(signature, 'hex');
  const ok = methods.some((m) => {
    const expected = Buffer.from(signTempUrl(secret, projectId, m, expires, path), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) return 'invalid';
  return expires * 1000 > Date.now() ? 'valid' : 'expired';
}

const createInput = z.object({
  containerId: z.string(),
  objectName: z.string(),
  method: z.enum(['GET', 'HEAD', 'PUT']),
  expiresInSeconds: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(30 * 24 * 3600, 'must be at most 30 days'),
});

/** Signs a URL that lets anyone holding it GET (or PUT) one object until it expires, without a token. */
export async function createTempUrl(
  ctx: ServiceContext,
  input: unknown,
): Promise<{ path: string; expiresAt: Date }> {
  authorize(ctx, 'objects:create_temp_url');
  const data = parseInput(createInput, input);
  const name = checkObjectName(data.objectName, 'input.objectName');
  const [container] = isUuid(data.containerId)
    ? await ctx.rt.db.select().from(containers).where(eq(containers.id, data.containerId))
    : [];
  if (!container || !canWriteContainer(ctx.auth, container))
    throw new NotFoundError('container', data.containerId);
  const expires = Math.floor(Date.now() / 1000) + data.expiresInSeconds;
  const path = objectPath(container.projectId, container.name, name);
  const signature = signTempUrl(
    ctx.rt.tempUrlSecret,
    container.projectId,
    data.method,
    expires,
    path,
  );
  return {
    path: `${path}?temp_url_sig=${signature}&temp_url_expires=${expires}`,
    expiresAt: new Date(expires * 1000),
  };
}
