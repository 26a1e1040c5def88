/**
 * Error families every driver kind shares. Drivers know nothing of GraphQL: the service layer
 * maps `code` once at its edge. Each driver kind adds its own subclasses beside its code
 * (`drivers/objects/errors.ts`, ...).
 */
export class DriverError extends Error {
  constructor(
    /** A stable machine-readable code, e.g. `DRIVER_NOT_SUPPORTED`, `OBJECT_NOT_FOUND`. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An optional operation the chosen implementation does not offer (see its `info()`). */
export class NotSupportedError extends DriverError {
  constructor(
    readonly driver: string,
    readonly operation: string,
  ) {
    super('DRIVER_NOT_SUPPORTED', `driver "${driver}" does not support ${operation}`);
  }
}

/** A driver name that no registry of that kind knows. */
export class UnknownDriverError extends DriverError {
  constructor(
    readonly kind: string,
    readonly driver: string,
    readonly known: readonly string[],
  ) {
    super(
      'DRIVER_UNKNOWN',
      `unknown ${kind} driver "${driver}" (known: ${known.map((k) => `"${k}"`).join(', ')})`,
    );
  }
}

/** Driver configuration that is malformed; `key` names the offending key when there is one. */
export class DriverConfigError extends DriverError {
  constructor(
    readonly driver: string,
    readonly key: string | null,
    reason: string,
  ) {
    super(
      'DRIVER_CONFIG_INVALID',
      key === null
        ? `invalid config for driver "${driver}": ${reason}`
        : `invalid config for driver "${driver}": key "${key}" ${reason}`,
    );
  }
}

/** The driver's backing system is not usable (probe failed): unreachable, unwritable, absent. */
export class DriverUnavailableError extends DriverError {
  constructor(
    readonly driver: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('DRIVER_UNAVAILABLE', `driver "${driver}" is not usable: ${reason}`, options);
  }
}
