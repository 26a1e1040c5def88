/**
 * Error families every domain shares. Expected failures are exposed as schema types (the
 * mutation's result union); anything else is mapped once at the edge to `extensions.code`.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'NAME_TAKEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'QUOTA_EXCEEDED'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'AUTHENTICATION_FAILED'
  | 'RATE_LIMITED'
  | 'FEATURE_DISABLED';

export class StratusError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A field of the input is malformed; `field` is its path in the input, e.g. `input.name`. */
export class InvalidInputError extends StratusError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('BAD_USER_INPUT', message);
  }
}

export class NameTakenError extends StratusError {
  readonly field = 'input.name';
  constructor(
    readonly resource: string,
    readonly takenName: string,
    where = '',
  ) {
    super('NAME_TAKEN', `A ${resource} named "${takenName}" already exists${where}`);
  }
}

/** The resource does not exist, or the caller may not see it (the two are not told apart). */
export class NotFoundError extends StratusError {
  constructor(
    readonly resource: string,
    readonly resourceId: string,
  ) {
    super('NOT_FOUND', `No ${resource} with id "${resourceId}"`);
  }
}

/** The request is well-formed but the current state forbids it (a domain that still holds projects). */
export class ConflictError extends StratusError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class QuotaExceededError extends StratusError {
  constructor(
    readonly resource: string,
    readonly limit: number,
    readonly inUse: number,
    readonly requested: number,
  ) {
    super(
      'QUOTA_EXCEEDED',
      `Quota exceeded for ${resource}: limit ${limit}, in use ${inUse}, requested ${requested}`,
    );
  }
}

export class ForbiddenError extends StratusError {
  constructor(message = 'You are not allowed to do this') {
    super('FORBIDDEN', message);
  }
}

export class UnauthenticatedError extends StratusError {
  constructor(message = 'A valid token is required') {
    super('UNAUTHENTICATED', message);
  }
}

/** Wrong credentials, unknown user, disabled or locked account: one message for all, on purpose. */
export class AuthenticationFailedError extends StratusError {
  constructor() {
    super('AUTHENTICATION_FAILED', 'The credentials are not valid');
  }
}

export class RateLimitedError extends StratusError {
  constructor(readonly retryAfterSeconds: number) {
    super('RATE_LIMITED', `Too many attempts; retry in ${retryAfterSeconds} s`);
  }
}

export class FeatureDisabledError extends StratusError {
  constructor(feature: string, how: string) {
    super('FEATURE_DISABLED', `${feature} is disabled on this Stratus; ${how}`);
  }
}

/** Makes a switch exhaustive at compile time. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${String(value)}`);
}
