/**
 * The `baremetal` driver kind (Ironic's power and management interfaces, in small): talks to
 * a machine's BMC to read and change its power state and its boot device. The service layer
 * owns the node records, their provision state machine and the credentials' storage; a driver
 * only acts on the BMC it is handed and reports what the BMC says. No GraphQL, no database.
 *
 * Credentials: the password never appears in an error message, a log line or a command line
 * visible in `ps` (ipmitool reads it from its environment).
 */

/** How to reach one BMC. */
export interface BmcSpec {
  /** IPv4/IPv6 address or host name. */
  address: string;
  /** UDP port, an integer 1-65535; default 623. */
  port?: number;
  /** 0-16 bytes (IPMI); empty is the anonymous user. */
  username: string;
  /** 0-20 bytes (IPMI 2.0; 16 on `lan`). */
  password: string;
  /** `lanplus` (IPMI 2.0 RMCP+, the default) or `lan` (IPMI 1.5). */
  interface?: 'lanplus' | 'lan';
}

/** Ironic's power states. */
export type PowerState = 'power on' | 'power off';

/** Ironic's power actions: `reboot` is power off then power on; `soft off` asks the OS (ACPI). */
export type PowerAction = 'on' | 'off' | 'reboot' | 'soft off';

/** Ironic's boot devices, the two bare-metal provisioning needs. */
export type BootDevice = 'pxe' | 'disk';

export interface SetPowerOptions {
  /** How long to wait for the BMC to report the target state; default the driver's config. */
  timeoutMs?: number;
}

export interface SetBootDeviceOptions {
  /** For every later boot (true) or only the next one (false, the default; Ironic's). */
  persistent?: boolean;
}

/** The boot device override the BMC reports; `device` null when none is set. */
export interface BootDeviceInfo {
  device: BootDevice | null;
  persistent: boolean;
}

/** Which implementation this is and what it offers. */
export interface BaremetalDriverInfo {
  name: 'ipmi';
  capabilities: {
    /** `setPower(bmc, 'soft off')`. */
    softPowerOff: boolean;
    /** `setBootDevice`. */
    setBootDevice: boolean;
    /** `getBootDevice`. */
    getBootDevice: boolean;
  };
}

/** What `probe()` found. */
export interface BaremetalProbe {
  /** The tool's version, e.g. "1.8.19". */
  version: string;
}

export interface BaremetalDriver {
  info(): BaremetalDriverInfo;
  /** Checks the tool is usable; throws `DriverUnavailableError` with the reason otherwise. */
  probe(): Promise<BaremetalProbe>;
  /**
   * Opens a session with the credentials and reads the power state (it changes nothing).
   * `InvalidBmcSpecError` naming the field, `BmcUnreachableError`, `BmcAuthError`.
   */
  validate(bmc: BmcSpec): Promise<PowerState>;
  /** The power state the BMC reports. Errors as `validate`. */
  powerState(bmc: BmcSpec): Promise<PowerState>;
  /**
   * Applies `action` and resolves once the BMC reports its target state (`power on` for `on`
   * and `reboot`, `power off` otherwise); `PowerStateTimeoutError` when it does not within the
   * timeout, `BmcCommandError` when the BMC refuses. Returns the final state.
   */
  setPower(bmc: BmcSpec, action: PowerAction, options?: SetPowerOptions): Promise<PowerState>;
  /** Sets the boot device for the next boot (or every boot with `persistent`). */
  setBootDevice(bmc: BmcSpec, device: BootDevice, options?: SetBootDeviceOptions): Promise<void>;
  /** The boot device override the BMC reports. */
  getBootDevice(bmc: BmcSpec): Promise<BootDeviceInfo>;
}
