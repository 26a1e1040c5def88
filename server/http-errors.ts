import type express from 'express';
import { StratusError } from '../resolvers/errors';
import type { ServiceContext } from '../resolvers/runtime';

/** An error of the plain-HTTP APIs (object and image bytes), with its status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** HTTP status of each error code, Stratus's and the drivers'. */
const STATUS_OF: Record<string, number> = {
  BAD_USER_INPUT: 400,
  NAME_TAKEN: 409,
  NOT_FOUND: 404,
  CONFLICT: 409,
  QUOTA_EXCEEDED: 413,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  AUTHENTICATION_FAILED: 401,
  RATE_LIMITED: 429,
  FEATURE_DISABLED: 501,
  // drivers/objects errors
  OBJECT_CHECKSUM_MISMATCH: 422,
  OBJECT_SIZE_MISMATCH: 400,
  OBJECT_TOO_LARGE: 413,
  OBJECT_INVALID_KEY: 400,
  OBJECT_INVALID_METADATA: 400,
  OBJECT_INVALID_OPTION: 400,
  OBJECT_RANGE_NOT_SATISFIABLE: 416,
  OBJECT_NOT_FOUND: 404,
  OBJECT_BACKEND_FAILED: 502,
};

/** Answers with `{ error: { code, message } }`; unexpected errors are logged and hidden. */
export function sendError(
  res: express.Response,
  error: unknown,
  log: ServiceContext['log'] | null,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let status = 500;
  let code = 'INTERNAL_SERVER_ERROR';
  let message = 'Internal server error';
  if (error instanceof HttpError) {
    ({ status, code, message } = error);
  } else if (
    error instanceof StratusError ||
    (error instanceof Error && STATUS_OF[String((error as unknown as { code?: unknown }).code)])
  ) {
    code = String((error as unknown as { code: unknown }).code);
    status = STATUS_OF[code] ?? 500;
    message = (error as Error).message;
  } else {
    log?.error({ err: error }, 'object request failed');
  }
  res.status(status).json({ error: { code, message } });
}
