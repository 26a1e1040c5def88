import { boolean, type ConfigRule, checkConfig, nonEmptyString } from '../config-rules';
import { UnknownDriverError } from '../errors';
import { type FilesystemConfig, FilesystemObjectStore } from './filesystem';
import { type S3Config, S3ObjectStore } from './s3';
import type { ObjectStore } from './types';

export * from './errors';
export type { FilesystemConfig } from './filesystem';
export type { S3Config } from './s3';
export type * from './types';

/** Implementations of the `objects` kind by configuration name. */
export const OBJECT_STORES = {
  filesystem: (config: FilesystemConfig) => new FilesystemObjectStore(config),
  s3: (config: S3Config) => new S3ObjectStore(config),
} as const;

export type ObjectStoreName = keyof typeof OBJECT_STORES;

function matching(pattern: RegExp, what: string): ConfigRule['check'] {
  return (value) => {
    if (typeof value !== 'string') return 'must be a string';
    return pattern.test(value) ? null : `must be ${what}, got ${JSON.stringify(value)}`;
  };
}

const httpUrl: ConfigRule['check'] = (value) => {
  if (typeof value !== 'string') return 'must be a string';
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return null;
  } catch {}
  return `must be an http(s) URL, got ${JSON.stringify(value)}`;
};

/**
 * Config rules per implementation (Incus style: unknown keys fail, except free-form `user.*`
 * notes, which are ignored).
 */
const CONFIG_RULES = {
  filesystem: {
    // A relative root is resolved against the working directory.
    root: { required: true, check: nonEmptyString },
  },
  s3: {
    endpoint: { required: false, check: httpUrl },
    region: { required: true, check: matching(/^[a-z0-9-]+$/, 'a region name like "us-east-1"') },
    bucket: {
      required: true,
      check: matching(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'an S3 bucket name (3-63 characters of a-z, 0-9, "." and "-")',
      ),
    },
    accessKeyId: { required: true, check: nonEmptyString },
    // WARNING: its rule must never quote the value back in a message.
    secretAccessKey: { required: true, check: nonEmptyString },
    forcePathStyle: { required: false, check: boolean },
  },
} satisfies Record<ObjectStoreName, Record<string, ConfigRule>>;

/**
 * Checks `config` against the rules of implementation `name` and returns it without `user.*`
 * keys. Throws `UnknownDriverError` for an unknown name and `DriverConfigError` naming the key
 * for an unknown, missing or malformed one.
 */
export function validateObjectStoreConfig<N extends ObjectStoreName>(
  name: N,
  config: unknown,
): Parameters<(typeof OBJECT_STORES)[N]>[0];
export function validateObjectStoreConfig(name: string, config: unknown): unknown;
export function validateObjectStoreConfig(name: string, config: unknown): unknown {
  if (!isStoreName(name)) throw new UnknownDriverError('objects', name, Object.keys(OBJECT_STORES));
  return checkConfig(name, config, CONFIG_RULES[name]);
}

/**
 * Loads the object store implementation `name`: validates `config` strictly, constructs the
 * store and probes it. Throws `UnknownDriverError` (listing the known names),
 * `DriverConfigError`, or `DriverUnavailableError` when the probe fails.
 */
export async function loadObjectStore(name: string, config: unknown): Promise<ObjectStore> {
  if (!isStoreName(name)) throw new UnknownDriverError('objects', name, Object.keys(OBJECT_STORES));
  const store = construct(name, config);
  await store.probe();
  return store;
}

function construct(name: ObjectStoreName, config: unknown): ObjectStore {
  switch (name) {
    case 'filesystem':
      return OBJECT_STORES.filesystem(validateObjectStoreConfig('filesystem', config));
    case 's3':
      return OBJECT_STORES.s3(validateObjectStoreConfig('s3', config));
  }
}

function isStoreName(name: string): name is ObjectStoreName {
  return Object.hasOwn(OBJECT_STORES, name);
}
