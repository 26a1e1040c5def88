import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import { assertNever, type ErrorCode, InvalidInputError, StratusError } from '../resolvers/errors';

/** The `extensions.code` a client sees for each error family (Apollo's names where one exists). */
function extensionCode(code: ErrorCode): string {
  switch (code) {
    case 'BAD_USER_INPUT':
    case 'NAME_TAKEN':
    case 'NOT_FOUND':
    case 'CONFLICT':
    case 'QUOTA_EXCEEDED':
    case 'FORBIDDEN':
    case 'UNAUTHENTICATED':
    case 'AUTHENTICATION_FAILED':
    case 'RATE_LIMITED':
    case 'FEATURE_DISABLED':
      return code;
    default:
      return assertNever(code);
  }
}

/**
 * Maps errors once, at the edge: Stratus errors keep their message and get their code;
 * anything unexpected keeps Apollo's code (INTERNAL_SERVER_ERROR) and loses its internals.
 */
export function formatError(
  formatted: GraphQLFormattedError,
  error: unknown,
): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof StratusError) {
    return {
      ...formatted,
      message: original.message,
      extensions: {
        ...formatted.extensions,
        code: extensionCode(original.code),
        ...(original instanceof InvalidInputError ? { field: original.field } : {}),
      },
    };
  }
  const code = formatted.extensions?.code;
  if (code === 'INTERNAL_SERVER_ERROR' || code === undefined) {
    if (isMalformedId(formatted.message)) {
      return { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_USER_INPUT' } };
    }
    return {
      ...formatted,
      message: 'Internal server error',
      extensions: { ...formatted.extensions, code: 'INTERNAL_SERVER_ERROR' },
    };
  }
  return formatted;
}

/** Pothos rejects malformed global ids with a plain error; that is the client's input. */
function isMalformedId(message: string): boolean {
  return /global ?id|Invalid .*ID/i.test(message);
}

/**
 * Whether `error` is a bug or an outage rather than an expected failure: what `formatError`
 * hides as "Internal server error". These are logged with the request id, so a user's report
 * of that id finds the cause.
 */
export function isUnexpected(error: GraphQLError): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof StratusError) return false;
  const code = error.extensions?.code;
  return (code === 'INTERNAL_SERVER_ERROR' || code === undefined) && !isMalformedId(error.message);
}
