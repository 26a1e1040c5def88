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
}

/** Default per-project limits; -1 means unlimited, as in Nova and Cinder. */
export const DEFAULT_QUOTAS: Record<string, number> = {
  instances: 10,
  cores: 20,
  ram_mib: 51200,
  volumes: 10,
  gigabytes: 1000,
  networks: 100,
  ports: 500,
  floating_ips: 50,
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
      maxCost: int(env, 'STRATUS_MAX_COST', 5000),
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
  };
}
