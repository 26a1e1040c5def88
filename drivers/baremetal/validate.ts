import { isIP } from 'node:net';
import { InvalidBmcSpecError } from './errors';
import type { BmcSpec } from './types';

/** A BMC spec with its defaults filled in, checked. */
export interface CheckedBmc {
  address: string;
  port: number;
  username: string;
  password: string;
  interface: 'lanplus' | 'lan';
}

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// Control characters: they would corrupt logs and mean a mangled value anyway.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks `bmc` (an untrusted object) and fills the defaults (port 623, lanplus). Throws
 * `InvalidBmcSpecError` naming the first bad field; the password's value is never quoted.
 */
export function checkBmcSpec(bmc: unknown): CheckedBmc {
  if (typeof bmc !== 'object' || bmc === null || Array.isArray(bmc)) {
    throw new InvalidBmcSpecError('bmc', 'must be an object');
  }
  const spec = bmc as Partial<Record<keyof BmcSpec, unknown>>;
  const address = spec.address;
  if (typeof address !== 'string' || !isHost(address)) {
    throw new InvalidBmcSpecError(
      'address',
      `must be an IP address or a host name, got ${JSON.stringify(address)}`,
    );
  }
  const port = spec.port ?? 623;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidBmcSpecError(
      'port',
      `must be an integer 1-65535, got ${JSON.stringify(port)}`,
    );
  }
  const iface = spec.interface ?? 'lanplus';
  if (iface !== 'lanplus' && iface !== 'lan') {
    throw new InvalidBmcSpecError(
      'interface',
      `must be "lanplus" or "lan", got ${JSON.stringify(iface)}`,
    );
  }
  const username = spec.username;
  if (typeof username !== 'string' || Buffer.byteLength(username) > 16 || CONTROL.test(username)) {
    throw new InvalidBmcSpecError(
      'username',
      'must be a string of at most 16 bytes without control characters',
    );
  }
  const password = spec.password;
  const maxPassword = iface === 'lanplus' ? 20 : 16;
  if (
    typeof password !== 'string' ||
    Buffer.byteLength(password) > maxPassword ||
    password.includes('\u0000')
  ) {
    throw new InvalidBmcSpecError(
      'password',
      `must be a string of at most ${maxPassword} bytes (${iface}) without NUL`,
    );
  }
  return { address, port, username, password, interface: iface };
}

function isHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  if (value.length === 0 || value.length > 253) return false;
  return value
    .replace(/\.$/, '')
    .split('.')
    .every((label) => HOST_LABEL.test(label));
}
