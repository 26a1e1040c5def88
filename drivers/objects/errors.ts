import { DriverError } from '../errors';

/** No object is stored under the key. */
export class ObjectNotFoundError extends DriverError {
  constructor(readonly key: string) {
    super('OBJECT_NOT_FOUND', `no object is stored under key "${key}"`);
  }
}

/** A key (or list prefix) outside the allowed shape; thrown before the store is touched. */
export class InvalidKeyError extends DriverError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super('OBJECT_INVALID_KEY', `invalid object key ${JSON.stringify(key)}: ${reason}`);
  }
}

/** Object metadata outside the allowed shape; `field` names the offending metadata key. */
export class InvalidMetadataError extends DriverError {
  constructor(
    readonly field: string | null,
    reason: string,
  ) {
    super(
      'OBJECT_INVALID_METADATA',
      field === null
        ? `invalid object metadata: ${reason}`
        : `invalid object metadata: key ${JSON.stringify(field)} ${reason}`,
    );
  }
}

/** Malformed write options (negative sizes, a non-hex MD5, ...); `option` names the option. */
export class InvalidWriteOptionError extends DriverError {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super('OBJECT_INVALID_OPTION', `invalid write option "${option}": ${reason}`);
  }
}

/** A byte range that is malformed or starts past the end of the object. */
export class InvalidRangeError extends DriverError {
  constructor(
    readonly key: string,
    readonly range: { start: number; end: number },
    reason: string,
  ) {
    super(
      'OBJECT_RANGE_NOT_SATISFIABLE',
      `byte range ${range.start}-${range.end} of "${key}" is not satisfiable: ${reason}`,
    );
  }
}

/** The body's MD5 differs from the one the caller expected; nothing was stored. */
export class ChecksumMismatchError extends DriverError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super('OBJECT_CHECKSUM_MISMATCH', `body MD5 is ${actual}, expected ${expected}`);
  }
}

/**
 * The body's size differs from the one the caller expected; nothing was stored. When the body
 * ran past the expected size, `actual` is how far it got before the write stopped reading.
 */
export class SizeMismatchError extends DriverError {
  constructor(
    readonly expected: number,
    readonly actual: number,
    readonly atLeast = false,
  ) {
    super(
      'OBJECT_SIZE_MISMATCH',
      `body is ${atLeast ? 'at least ' : ''}${actual} bytes, expected exactly ${expected}`,
    );
  }
}

/** The body exceeded the write's `maxBytes`; the write stopped reading and stored nothing. */
export class TooLargeError extends DriverError {
  constructor(readonly limit: number) {
    super('OBJECT_TOO_LARGE', `body exceeds the limit of ${limit} bytes`);
  }
}

/**
 * The backing store failed in a way none of the errors above describes (an S3 error response,
 * an I/O error); `cause` holds the original.
 */
export class ObjectBackendError extends DriverError {
  constructor(
    readonly operation: string,
    readonly key: string | null,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      'OBJECT_BACKEND_FAILED',
      `${operation}${key === null ? '' : ` of "${key}"`} failed: ${reason}`,
      options,
    );
  }
}
