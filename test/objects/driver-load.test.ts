import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DriverConfigError,
  DriverError,
  DriverUnavailableError,
  UnknownDriverError,
} from '../../drivers/errors';
import { loadObjectStore, validateObjectStoreConfig } from '../../drivers/objects/index';
import { startS3rver } from '../support/s3rver';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-objects-load-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const s3Config = {
  region: 'us-east-1',
  bucket: 'stratus',
  accessKeyId: 'AKIAEXAMPLE',
  secretAccessKey: 'very-secret-value',
};

describe('loadObjectStore', () => {
  it('refuses an unknown driver name, listing the known ones', async () => {
    const failure = loadObjectStore('nope', {});
    await expect(failure).rejects.toBeInstanceOf(UnknownDriverError);
    await expect(failure).rejects.toThrow(
      'unknown objects driver "nope" (known: "filesystem", "s3")',
    );
    await expect(failure).rejects.toMatchObject({ code: 'DRIVER_UNKNOWN' });
  });

  it('does not take inherited property names for driver names', async () => {
    await expect(loadObjectStore('toString', {})).rejects.toBeInstanceOf(UnknownDriverError);
    await expect(loadObjectStore('__proto__', {})).rejects.toBeInstanceOf(UnknownDriverError);
  });

  it('refuses an unknown config key, naming it and the known keys', async () => {
    const failure = loadObjectStore('filesystem', { root: dir, rooot: '/x' });
    await expect(failure).rejects.toBeInstanceOf(DriverConfigError);
    await expect(failure).rejects.toThrow(
      'invalid config for driver "filesystem": key "rooot" is not a known key (known: root)',
    );
    await expect(failure).rejects.toMatchObject({ code: 'DRIVER_CONFIG_INVALID', key: 'rooot' });
    await expect(loadObjectStore('s3', { ...s3Config, bukket: 'b' })).rejects.toThrow(
      /key "bukket" is not a known key \(known: endpoint, region, bucket, accessKeyId, secretAccessKey, forcePathStyle\)/,
    );
  });

  it.each([
    ['filesystem', {}, 'root', 'is required'],
    ['filesystem', { root: '' }, 'root', 'must be a non-empty string'],
    ['filesystem', { root: 42 }, 'root', 'must be a non-empty string'],
    ['s3', { ...s3Config, bucket: undefined }, 'bucket', 'is required'],
    ['s3', { ...s3Config, bucket: 'Bad_Bucket' }, 'bucket', 'must be an S3 bucket name'],
    ['s3', { ...s3Config, region: 'US East' }, 'region', 'must be a region name'],
    ['s3', { ...s3Config, endpoint: 'ftp://host' }, 'endpoint', 'must be an http(s) URL'],
    ['s3', { ...s3Config, endpoint: 'not a url' }, 'endpoint', 'must be an http(s) URL'],
    ['s3', { ...s3Config, forcePathStyle: 'yes' }, 'forcePathStyle', 'must be true or false'],
    ['s3', { ...s3Config, accessKeyId: '' }, 'accessKeyId', 'must be a non-empty string'],
  ])('refuses %s config %j: key %s %s', async (name, config, key, reason) => {
    const failure = loadObjectStore(name, config);
    await expect(failure).rejects.toBeInstanceOf(DriverConfigError);
    await expect(failure).rejects.toMatchObject({ key });
    await expect(failure).rejects.toThrow(`key "${key}" ${reason}`);
  });

  it('refuses a config that is not an object', async () => {
    for (const config of [null, 'root=/x', ['root'], 7]) {
      await expect(loadObjectStore('filesystem', config)).rejects.toThrow(
        'invalid config for driver "filesystem": must be an object',
      );
    }
  });

  it('never quotes the secret access key back', () => {
    let message = '';
    try {
      validateObjectStoreConfig('s3', { ...s3Config, secretAccessKey: 12345 });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('key "secretAccessKey" must be a non-empty string');
    expect(message).not.toContain('12345');
  });

  it('accepts free-form user.* keys and leaves them out of the config', () => {
    expect(
      validateObjectStoreConfig('filesystem', { root: dir, 'user.note': 'fast disks' }),
    ).toEqual({ root: dir });
  });

  it('loads and probes a filesystem store, creating data/ and .tmp/', async () => {
    const root = path.join(dir, 'fresh', 'objects');
    const store = await loadObjectStore('filesystem', { root });
    expect(store.info()).toEqual({
      name: 'filesystem',
      capabilities: { rangeReads: true, serverSideCopy: true },
    });
    expect((await fs.readdir(root)).sort()).toEqual(['.tmp', 'data']);
  });

  it('fails to load a filesystem store whose root is a file, naming the root', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'not a directory');
    const failure = loadObjectStore('filesystem', { root: file });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(`root "${file}" is not a writable directory`);
  });

  describe('with s3rver', () => {
    let s3rver: Awaited<ReturnType<typeof startS3rver>>;
    beforeAll(async () => {
      s3rver = await startS3rver();
    });
    afterAll(async () => {
      await s3rver?.stop();
    });

    it('loads and probes an s3 store, leaving no probe object behind', async () => {
      const store = await loadObjectStore('s3', s3rver.config);
      expect(store.info().name).toBe('s3');
      const keys: string[] = [];
      for await (const key of store.list()) keys.push(key);
      expect(keys).toEqual([]);
    });

    it('fails to load an s3 store whose bucket does not exist', async () => {
      const failure = loadObjectStore('s3', { ...s3rver.config, bucket: 'no-such-bucket' });
      await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
      await expect(failure).rejects.toThrow(
        `bucket "no-such-bucket" at ${s3rver.endpoint} does not exist`,
      );
    });

    it('fails to load an s3 store with unknown credentials', async () => {
      const failure = loadObjectStore('s3', { ...s3rver.config, accessKeyId: 'WRONG' });
      await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
      await expect(failure).rejects.toThrow('is denied (check accessKeyId and secretAccessKey)');
    });
  });

  it('fails to load an s3 store whose endpoint does not answer', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const failure = loadObjectStore('s3', { ...s3Config, endpoint, forcePathStyle: true });
    await expect(failure).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failure).rejects.toThrow(`bucket "stratus" at ${endpoint} is not reachable`);
  });

  it('gives every driver error a code', () => {
    for (const err of [
      new UnknownDriverError('objects', 'x', []),
      new DriverConfigError('s3', 'bucket', 'is required'),
      new DriverUnavailableError('s3', 'down'),
    ]) {
      expect(err).toBeInstanceOf(DriverError);
      expect(err.code).toMatch(/^DRIVER_[A-Z_]+$/);
      expect(err.name).toBe(err.constructor.name);
    }
  });
});
