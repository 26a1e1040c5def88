import { InvalidVolumeSpecError } from './errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_SIZE_GIB = 65536;

/** Throws `InvalidVolumeSpecError` unless `id` is a UUID; returns it lowercase. */
export function checkId(field: string, id: unknown): string {
  if (typeof id !== 'string' || !UUID.test(id)) {
    throw new InvalidVolumeSpecError(field, `must be a UUID, got ${JSON.stringify(id)}`);
  }
  return id.toLowerCase();
}

/** Throws `InvalidVolumeSpecError` unless `size` is an integer number of GiB from 1 to 65536. */
export function checkSize(field: string, size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_SIZE_GIB) {
    throw new InvalidVolumeSpecError(
      field,
      `must be an integer from 1 to ${MAX_SIZE_GIB}, got ${JSON.stringify(size)}`,
    );
  }
  return size;
}

export function checkImage(path: unknown, format: unknown): void {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidVolumeSpecError(
      'imagePath',
      `must be an absolute path, got ${JSON.stringify(path)}`,
    );
  }
  if (format !== 'raw' && format !== 'qcow2') {
    throw new InvalidVolumeSpecError(
      'imageFormat',
      `must be "qcow2" or "raw", got ${JSON.stringify(format)}`,
    );
  }
}

export function checkOptions(options: unknown): { cascade: boolean } {
  if (options === undefined) return { cascade: false };
  if (typeof options !== 'object' || options === null) {
    throw new InvalidVolumeSpecError('options', 'must be an object');
  }
  const cascade = (options as { cascade?: unknown }).cascade;
  if (cascade !== undefined && typeof cascade !== 'boolean') {
    throw new InvalidVolumeSpecError('options.cascade', 'must be true or false');
  }
  return { cascade: cascade === true };
}

export const GIB = 1024 ** 3;
