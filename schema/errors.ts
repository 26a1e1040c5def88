import {
  AuthenticationFailedError,
  ConflictError,
  FeatureDisabledError,
  ForbiddenError,
  InvalidInputError,
  NameTakenError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  type StratusError,
} from '../resolvers/errors';
import { builder } from './builder';

/** Every expected failure a mutation can return implements this. */
export const ErrorInterface = builder.interfaceRef<StratusError>('Error').implement({
  description: 'An expected failure, returned in a mutation payload instead of data',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

builder.objectType(InvalidInputError, {
  interfaces: [ErrorInterface],
  name: 'InvalidInputError',
  description: 'A field of the input is malformed or refers to nothing',
  fields: (t) => ({
    field: t.exposeString('field', { description: 'Path of the field, e.g. input.name' }),
  }),
});
builder.objectType(NameTakenError, {
  interfaces: [ErrorInterface],
  name: 'NameTakenError',
  description: 'The name is already used where names must be unique',
  fields: (t) => ({
    field: t.exposeString('field'),
    resource: t.exposeString('resource'),
    name: t.exposeString('takenName'),
  }),
});
builder.objectType(NotFoundError, {
  interfaces: [ErrorInterface],
  name: 'NotFoundError',
  description: 'No such resource, or not one the caller may see',
  fields: (t) => ({ resource: t.exposeString('resource'), id: t.exposeString('resourceId') }),
});
builder.objectType(ConflictError, {
  interfaces: [ErrorInterface],
  name: 'ConflictError',
  description: 'The current state of the resource forbids this change',
});
builder.objectType(QuotaExceededError, {
  interfaces: [ErrorInterface],
  name: 'QuotaExceededError',
  description: 'The project would go over one of its quotas',
  fields: (t) => ({
    resource: t.exposeString('resource'),
    limit: t.exposeInt('limit'),
    inUse: t.exposeInt('inUse'),
    requested: t.exposeInt('requested'),
  }),
});
builder.objectType(ForbiddenError, {
  interfaces: [ErrorInterface],
  name: 'ForbiddenError',
  description: 'The caller may not do this',
});
builder.objectType(AuthenticationFailedError, {
  interfaces: [ErrorInterface],
  name: 'AuthenticationFailedError',
  description: 'The credentials are not valid (one answer for every reason, on purpose)',
});
builder.objectType(RateLimitedError, {
  interfaces: [ErrorInterface],
  name: 'RateLimitedError',
  description: 'Too many attempts from this address',
  fields: (t) => ({ retryAfterSeconds: t.exposeInt('retryAfterSeconds') }),
});
builder.objectType(FeatureDisabledError, {
  interfaces: [ErrorInterface],
  name: 'FeatureDisabledError',
  description: 'The feature is not enabled on this Stratus',
});

/** Errors any mutation that writes may return. */
export const WRITE_ERRORS = [InvalidInputError, NotFoundError, ConflictError];
