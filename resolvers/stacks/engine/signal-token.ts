import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signal URLs a guest can POST to without a token (Heat's signed URLs): the token names the
 * stack and resource and is signed with a key derived from the Stratus secret.
 */
function sign(secret: string, body: string): string {
  const key = createHmac('sha256', secret).update('stack-signal').digest();
  return createHmac('sha256', key).update(body).digest('base64url');
}

export function signalToken(secret: string, stackId: string, resourceName: string): string {
  const body = Buffer.from(JSON.stringify([stackId, resourceName])).toString('base64url');
  return `${body}.${sign(secret, body)}`;
}

/** The stack and resource a token names, or null when it is not one we signed. */
export function readSignalToken(
  secret: string,
  token: string,
): { stackId: string; resourceName: string } | null {
  const [body, mac] = token.split('.');
  if (!body || !mac) return null;
  const want = Buffer.from(sign(secret, body));
  const got = Buffer.from(mac);
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  try {
    const [stackId, resourceName] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (typeof stackId !== 'string' || typeof resourceName !== 'string') return null;
    return { stackId, resourceName };
  } catch {
    return null;
  }
}
