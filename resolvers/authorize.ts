import { ForbiddenError, UnauthenticatedError } from './errors';
import { type Action, allows } from './policy';
import type { ServiceContext } from './runtime';

/**
 * Services call this first: the schema already checked the field, but a service may be
 * reached from elsewhere (workers, other services), and the table must hold there too.
 */
export function authorize(ctx: ServiceContext, action: Action): void {
  if (allows(ctx.auth, action)) return;
  if (!ctx.auth) throw new UnauthenticatedError();
  throw new ForbiddenError(`Not allowed: ${action}`);
}
