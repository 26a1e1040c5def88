import { randomUUID } from 'node:crypto';
import { UnauthenticatedError } from '../resolvers/errors';
import type { AuthContext } from '../resolvers/identity/auth-context';
import type { Runtime, ServiceContext } from '../resolvers/runtime';

/**
 * Reads `Bearer <token>` and validates it. No header means an anonymous caller; a header
 * that is malformed, forged, expired or revoked is an error, never silently anonymous.
 */
export async function authenticate(rt: Runtime, header: unknown): Promise<AuthContext | null> {
  if (header === undefined || header === null || header === '') return null;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new UnauthenticatedError('The Authorization header must be "Bearer <token>"');
  return rt.tokens.validate(match[1]);
}

/** A service context for one request or one WebSocket connection. */
export function serviceContext(
  rt: Runtime,
  auth: AuthContext | null,
  clientAddress: string,
  baseUrl: string,
  requestId: string = randomUUID(),
): ServiceContext {
  return {
    rt,
    auth,
    requestId,
    clientAddress,
    baseUrl,
    log: rt.logger.child({ requestId, userId: auth?.userId }),
  };
}
