import { InvalidInputError } from '../errors';

/**
 * Metering's bad-input errors. Each is an InvalidInputError naming the field, so the API
 * answers BAD_USER_INPUT with `field` set, and nothing is written.
 */

export class UnknownMeterError extends InvalidInputError {
  constructor(
    field: string,
    readonly meter: string,
  ) {
    super(field, `Unknown meter "${meter}"`);
  }
}

export class MeterNotForResourceError extends InvalidInputError {
  constructor(
    field: string,
    readonly meter: string,
    readonly resourceType: string,
  ) {
    super(field, `Meter "${meter}" does not exist for resource type ${resourceType}`);
  }
}

export class GranularityNotInPolicyError extends InvalidInputError {
  constructor(
    field: string,
    readonly granularity: number,
    readonly policy: string,
    readonly allowed: readonly number[],
  ) {
    super(
      field,
      `Granularity ${granularity} s is not in archive policy "${policy}" (allowed: ${allowed.join(', ')} s)`,
    );
  }
}

export class TimeRangeError extends InvalidInputError {
  constructor(field: string, message: string) {
    super(field, message);
  }
}

export class WindowBeyondRetentionError extends InvalidInputError {
  constructor(
    field: string,
    readonly windowSeconds: number,
    readonly timespanSeconds: number,
    readonly granularity: number,
  ) {
    super(
      field,
      `The window (${windowSeconds} s) is longer than the ${timespanSeconds} s that granularity ${granularity} s keeps`,
    );
  }
}

/** A sample with a bad timestamp or value, or no resource id. */
export class InvalidSampleError extends InvalidInputError {}
