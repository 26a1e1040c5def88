import os from 'node:os';
import { type AuditConfig, auditConfig } from '../resolvers/audit/config';
import { type BaremetalConfig, baremetalConfig } from '../resolvers/baremetal/config';
import { type AlarmsConfig, alarmsConfig } from '../resolvers/metering/alarm-config';
import { type MeteringConfig, meteringConfig } from '../workers/metering/config';
/** Stratus configuration, read once from the environment. Every knob has a default that works on a laptop. */
export interface SecurityConfig {
  /** Keystone's security_compliance options. */
  passwordMinLength: number;
  passwordRegex: string | null;
  passwordRegexDescription: string;
  lockoutFailureAttempts: number;
  lockoutDurationSeconds: number;
}

export interface LimitsConfig {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxBodyBytes: number;
  /** Login attempts per source address per minute. */
  loginPerMinute: number;
}

export interface ObjectsConfig {
  /** `filesystem` or `s3`. */
  driver: string;
  /** Driver configuration, checked strictly by the driver. */
  driverConfig: Record<string, unknown>;
  /** Largest single upload (Swift's default: 5 GiB); larger objects go in multipart uploads. */
  maxObjectBytes: number;
}

export interface ComputeConfig {
  /** `qemu`, `fake` (a test double: never for real use), or `none` for an API-only process. */
  driver: string;
  /** Driver configuration, checked strictly by the driver. */
  driverConfig: Record<string, unknown>;
  /** This host's name in the scheduler and the hypervisors API. */
  hostname: string;
  availabilityZone: string;
  /** Where base images are cached on this host (Nova's `_base`). */
  imageCacheDir: string;
  /** Nova's cpu/ram/disk_allocation_ratio: how far the scheduler may overcommit. */
  allocationRatios: { cpu: number; ram: number; disk: number };
  /** How long a guest gets to power off on stop or soft reboot (Nova's shutdown_timeout). */
  shutdownTimeoutMs: number;
}

export interface VolumeConfig {
  /** `file` (qcow2 via qemu-img, the default), `lvm`, or `none` for a process without volumes. */
  driver: string;
  /** Driver configuration, checked strictly by the driver. */
  driverConfig: Record<string, unknown>;
  /** The backend name volume types map to (`volume_backend_name`); the driver's name by default. */
  backendName: string;
  /** How long a guest gets to release a volume on detach before the detach fails. */
  detachTimeoutMs: number;
}

export interface NetworkConfig {
  /** `ovs` (Open vSwitch, the default), `fake` (a test double: never for real use), or `none`. */
  driver: string;
  /** Driver configuration, checked strictly by the driver. */
  driverConfig: Record<string, unknown>;
  /** VLAN tags networks get, inclusive (Neutron's network_vlan_ranges). */
  vlanRange: { min: number; max: number };
}

export interface StratusConfig {
  host: string;
  port: number;
  /** When null, an embedded PostgreSQL is started in `dataDir`. */
  databaseUrl: string | null;
  dataDir: string;
  /** Bootstrap admin password; when null one is generated and printed once. */
  adminPassword: string | null;
  tokenTtlSeconds: number;
  /** Shared HMAC secret for tokens; when null one is generated and kept in the database. */
  tokenSecret: string | null;
  security: SecurityConfig;
  limits: LimitsConfig;
  introspection: boolean;
  eventRetentionSeconds: number;
  /** Registers the `test.sleep` job kind behind `startTestOperation`; off in production. */
  enableTestJobs: boolean;
  workerConcurrency: number;
  logLevel: string;
  quotaDefaults: Record<string, number>;
  objects: ObjectsConfig;
  /** Largest image upload (Glance's image_size_cap). */
  imageMaxBytes: number;
  qemuImgBinary: string;
  compute: ComputeConfig;
  volume: VolumeConfig;
  network: NetworkConfig;
  metering: MeteringConfig;
  baremetal: BaremetalConfig;
  alarms: AlarmsConfig;
  audit: AuditConfig;
}

/** Default per-project limits; -1 means unlimited, as in Nova and Cinder. */
export const DEFAULT_QUOTAS: Record<string, number> = {
  instances: 10,
  cores: 20,
  ram_mib: 51200,
  volumes: 10,
  gigabytes: 1000,
  snapshots: 10,
  networks: 100,
  subnets: 100,
  ports: 500,
  routers: 10,
  floating_ips: 50,
  security_groups: 10,
  security_group_rules: 100,
  containers: 1000,
  bytes: -1,
  application_credentials: 100,
};

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(raw.toLowerCase());
}

/** Reads STRATUS_* variables (and DATABASE_URL, PORT); throws on a malformed value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): StratusConfig {
  return {
    host: env.STRATUS_HOST ?? '0.0.0.0',
    port: int(env, 'PORT', 4000),
    databaseUrl: env.DATABASE_URL || null,
    dataDir: env.STRATUS_DATA_DIR ?? './data',
    adminPassword: env.STRATUS_ADMIN_PASSWORD || null,
    tokenTtlSeconds: int(env, 'STRATUS_TOKEN_TTL_SECONDS', 3600),
    tokenSecret: env.STRATUS_TOKEN_SECRET || null,
    security: {
      passwordMinLength: int(env, 'STRATUS_PASSWORD_MIN_LENGTH', 8),
      passwordRegex: env.STRATUS_PASSWORD_REGEX || null,
      passwordRegexDescription:
        env.STRATUS_PASSWORD_REGEX_DESCRIPTION ?? 'the configured password pattern',
      lockoutFailureAttempts: int(env, 'STRATUS_LOCKOUT_FAILURE_ATTEMPTS', 5),
      lockoutDurationSeconds: int(env, 'STRATUS_LOCKOUT_DURATION_SECONDS', 900),
    },
    limits: {
      maxDepth: int(env, 'STRATUS_MAX_DEPTH', 12),
      maxCost: int(env, 'STRATUS_MAX_COST', 20_000),
      maxAliases: int(env, 'STRATUS_MAX_ALIASES', 30),
      maxBodyBytes: int(env, 'STRATUS_MAX_BODY_BYTES', 1024 * 1024),
      loginPerMinute: int(env, 'STRATUS_LOGIN_PER_MINUTE', 60),
    },
    introspection: bool(env, 'STRATUS_INTROSPECTION', true),
    eventRetentionSeconds: int(env, 'STRATUS_EVENT_RETENTION_SECONDS', 7 * 24 * 3600),
    enableTestJobs: bool(env, 'STRATUS_ENABLE_TEST_JOBS', false),
    workerConcurrency: int(env, 'STRATUS_WORKER_CONCURRENCY', 4),
    logLevel: env.STRATUS_LOG_LEVEL ?? 'info',
    quotaDefaults: { ...DEFAULT_QUOTAS },
    objects: objectsConfig(env),
    imageMaxBytes: int(env, 'STRATUS_IMAGE_MAX_BYTES', 20 * 1024 ** 3),
    qemuImgBinary: env.STRATUS_QEMU_IMG ?? 'qemu-img',
    compute: computeConfig(env),
    volume: volumeConfig(env),
    network: networkConfig(env),
    metering: meteringConfig(env),
    baremetal: baremetalConfig(env),
    alarms: alarmsConfig(env),
    audit: auditConfig(env),
  };
}

/** STRATUS_NETWORK_DRIVER picks the network driver: ovs (default), fake or none. */
function networkConfig(env: NodeJS.ProcessEnv): NetworkConfig {
  const driver = env.STRATUS_NETWORK_DRIVER ?? 'ovs';
  const stateDir = env.STRATUS_NETWORK_STATE_DIR ?? `${env.STRATUS_DATA_DIR ?? './data'}/network`;
  const driverConfig: Record<string, unknown> =
    driver === 'ovs'
      ? { stateDir, ...(env.STRATUS_OVS_BRIDGE ? { bridge: env.STRATUS_OVS_BRIDGE } : {}) }
      : {};
  const vlanRange = {
    min: int(env, 'STRATUS_VLAN_MIN', 100),
    max: int(env, 'STRATUS_VLAN_MAX', 3999),
  };
  if (vlanRange.min < 1 || vlanRange.max > 4094 || vlanRange.min > vlanRange.max) {
    throw new Error(
      `STRATUS_VLAN_MIN..STRATUS_VLAN_MAX must be a range within 1-4094, got ${vlanRange.min}-${vlanRange.max}`,
    );
  }
  return { driver, driverConfig, vlanRange };
}

/** STRATUS_VOLUME_DRIVER picks the volume driver: file (default, under STRATUS_VOLUME_DIR), lvm or none. */
function volumeConfig(env: NodeJS.ProcessEnv): VolumeConfig {
  const driver = env.STRATUS_VOLUME_DRIVER ?? 'file';
  const driverConfig: Record<string, unknown> =
    driver === 'file'
      ? { root: env.STRATUS_VOLUME_DIR ?? `${env.STRATUS_DATA_DIR ?? './data'}/volumes` }
      : driver === 'lvm'
        ? { volumeGroup: env.STRATUS_VOLUME_GROUP ?? '' }
        : {};
  return {
    driver,
    driverConfig,
    backendName: env.STRATUS_VOLUME_BACKEND_NAME ?? driver,
    detachTimeoutMs: int(env, 'STRATUS_VOLUME_DETACH_TIMEOUT_MS', 30_000),
  };
}

/** STRATUS_OBJECTS_DRIVER picks the driver; the filesystem one keeps bytes under the data folder. */
function objectsConfig(env: NodeJS.ProcessEnv): ObjectsConfig {
  const driver = env.STRATUS_OBJECTS_DRIVER ?? 'filesystem';
  const maxObjectBytes = int(env, 'STRATUS_MAX_OBJECT_BYTES', 5 * 1024 ** 3);
  if (driver === 's3') {
    const driverConfig: Record<string, unknown> = {
      region: env.STRATUS_S3_REGION ?? 'us-east-1',
      bucket: env.STRATUS_S3_BUCKET ?? 'stratus',
      accessKeyId: env.STRATUS_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.STRATUS_S3_SECRET_ACCESS_KEY ?? '',
    };
    if (env.STRATUS_S3_ENDPOINT) driverConfig.endpoint = env.STRATUS_S3_ENDPOINT;
    if (env.STRATUS_S3_FORCE_PATH_STYLE)
      driverConfig.forcePathStyle = bool(env, 'STRATUS_S3_FORCE_PATH_STYLE', true);
    return { driver, driverConfig, maxObjectBytes };
  }
  const root = env.STRATUS_OBJECTS_ROOT ?? `${env.STRATUS_DATA_DIR ?? './data'}/objects`;
  return { driver, driverConfig: { root }, maxObjectBytes };
}

function ratio(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

/**
 * STRATUS_COMPUTE_DRIVER picks the driver (default qemu). The accelerator defaults to tcg:
 * on the machines DESIGN.md describes KVM guests stall at boot; set kvm or auto elsewhere.
 */
function computeConfig(env: NodeJS.ProcessEnv): ComputeConfig {
  const dataDir = env.STRATUS_DATA_DIR ?? './data';
  const stateDir = env.STRATUS_COMPUTE_STATE_DIR ?? `${dataDir}/compute`;
  const driver = env.STRATUS_COMPUTE_DRIVER ?? 'qemu';
  const driverConfig: Record<string, unknown> =
    driver === 'qemu'
      ? { stateDir, accelerator: env.STRATUS_COMPUTE_ACCELERATOR ?? 'tcg' }
      : driver === 'fake'
        ? { spawnDelayMs: int(env, 'STRATUS_FAKE_SPAWN_DELAY_MS', 0) }
        : {};
  return {
    driver,
    driverConfig,
    hostname: env.STRATUS_COMPUTE_HOST ?? os.hostname(),
    availabilityZone: env.STRATUS_COMPUTE_AVAILABILITY_ZONE ?? 'nova',
    imageCacheDir: `${stateDir}/_base`,
    allocationRatios: {
      cpu: ratio(env, 'STRATUS_CPU_ALLOCATION_RATIO', 4),
      ram: ratio(env, 'STRATUS_RAM_ALLOCATION_RATIO', 1),
      disk: ratio(env, 'STRATUS_DISK_ALLOCATION_RATIO', 1),
    },
    shutdownTimeoutMs: int(env, 'STRATUS_SHUTDOWN_TIMEOUT_MS', 60_000),
  };
}
