import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * BMC passwords at rest: AES-256-GCM under a key that is never in the database, taken from
 * STRATUS_CREDENTIAL_KEY (base64 of 32 bytes) or else from a key file made once, mode 0600,
 * in the data folder. Sealed text: `v1.<iv>.<tag>.<ciphertext>`, base64url parts.
 */

const KEY_FILE = 'credential.key';
/** Binds the ciphertext to its use: a sealed BMC password cannot be replayed as another secret. */
const AAD = Buffer.from('stratus:bmc-password:v1');

export class CredentialBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the credential key must be 32 bytes');
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url'));
    return `v1.${parts.join('.')}`;
  }

  /** The plaintext; throws when the text was not sealed with this key or was altered. */
  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || data === undefined) throw new Error('not a sealed credential');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(AAD);
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(data, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  }
}

/** The key from `configured` (base64), or from `<dataDir>/credential.key`, made on first use. */
export function loadCredentialKey(configured: string | null, dataDir: string): Buffer {
  if (configured) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) {
      throw new Error(`STRATUS_CREDENTIAL_KEY must be base64 of 32 bytes, got ${key.length} bytes`);
    }
    return key;
  }
  const file = path.join(dataDir, KEY_FILE);
  try {
    return decodeKeyFile(file, readFileSync(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  try {
    // `wx`: two processes starting at once must not each write a different key.
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return decodeKeyFile(file, readFileSync(file, 'utf8'));
}

function decodeKeyFile(file: string, text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} must hold base64 of 32 bytes`);
  return key;
}
