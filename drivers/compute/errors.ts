import { DriverError } from '../errors';

/** No instance with this id exists on this host (no instance folder / no fake record). */
export class InstanceNotFoundError extends DriverError {
  constructor(readonly instanceId: string) {
    super('INSTANCE_NOT_FOUND', `instance "${instanceId}" does not exist on this host`);
  }
}

/** `spawn` of an id that already exists on this host; the existing instance is untouched. */
export class InstanceExistsError extends DriverError {
  constructor(readonly instanceId: string) {
    super('INSTANCE_EXISTS', `instance "${instanceId}" already exists on this host`);
  }
}

/** An `InstanceSpec` (or an operation's options) with a malformed field, named by `field`. */
export class InvalidInstanceSpecError extends DriverError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('INSTANCE_INVALID_SPEC', `invalid instance spec: "${field}" ${reason}`);
  }
}

/**
 * The operation cannot run in the instance's current state (pausing a shut-off instance,
 * snapshotting an instance without a disk); `state` is what the driver saw.
 */
export class InstanceStateError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly operation: string,
    readonly state: string,
  ) {
    super('INSTANCE_INVALID_STATE', `cannot ${operation} instance "${instanceId}": it is ${state}`);
  }
}

/**
 * A host tool failed: `qemu-img`, or `qemu-system-x86_64` refusing to start. `stderr` holds what
 * the tool printed (trimmed), for the fault message.
 */
export class HypervisorCommandError extends DriverError {
  constructor(
    readonly instanceId: string | null,
    readonly operation: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(
      'HYPERVISOR_COMMAND_FAILED',
      `${operation}${instanceId === null ? '' : ` of instance "${instanceId}"`} failed${stderr ? `: ${stderr}` : ''}`,
      options,
    );
  }
}

/** The instance's process did not exit within the allowed time after `quit` (and a kill). */
export class InstanceStuckError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly pid: number,
    readonly waitedMs: number,
  ) {
    super(
      'INSTANCE_STUCK',
      `instance "${instanceId}" (pid ${pid}) did not exit within ${waitedMs} ms`,
    );
  }
}

/** `attachVolume` of a volume the instance already has (attached, or its root volume). */
export class VolumeAlreadyAttachedError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly volumeId: string,
  ) {
    super(
      'VOLUME_ALREADY_ATTACHED',
      `volume "${volumeId}" is already attached to instance "${instanceId}"`,
    );
  }
}

/** `detachVolume`/`extendVolume` of a volume the instance does not have. */
export class VolumeNotAttachedError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly volumeId: string,
  ) {
    super(
      'VOLUME_NOT_ATTACHED',
      `volume "${volumeId}" is not attached to instance "${instanceId}"`,
    );
  }
}

/** Every PCIe slot for volumes is taken (`max` volumes are attached). */
export class VolumeSlotsExhaustedError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly max: number,
  ) {
    super(
      'VOLUME_SLOTS_EXHAUSTED',
      `instance "${instanceId}" has ${max} volumes attached, the most it can have`,
    );
  }
}

/**
 * The guest did not release the volume within `timeoutMs` after `device_del` (it ignores the
 * ACPI eject, is frozen, or has no OS). The volume is still attached (definition and guest);
 * the unplug request stays pending in QEMU, and a later `detachVolume` waits for it again.
 */
export class VolumeDetachTimeoutError extends DriverError {
  constructor(
    readonly instanceId: string,
    readonly volumeId: string,
    readonly timeoutMs: number,
  ) {
    super(
      'VOLUME_DETACH_TIMEOUT',
      `the guest of instance "${instanceId}" did not release volume "${volumeId}" within ${timeoutMs} ms; it is still attached`,
    );
  }
}
