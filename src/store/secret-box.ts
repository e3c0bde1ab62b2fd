import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { FreightError } from '../domain/errors.js';

/**
 * Encrypts connection configs at rest with AES-256-GCM. The key is derived (HKDF-SHA256) from
 * FREIGHT_SECRET_KEY, or from a random key generated into FREIGHT_HOME on first use.
 *
 * Format: `v1:<key id>:<base64(iv ‖ tag ‖ ciphertext)>`; the key id lets a rotation find the key.
 */
export class SecretBox {
  private readonly key: Buffer;
  readonly keyId: string;
  /** Earlier keys, by id: still opened (during and after a rotation), never used to seal. */
  private readonly previous = new Map<string, Buffer>();

  constructor(secret: string, previous: readonly string[] = []) {
    this.key = derive(secret);
    this.keyId = idOf(this.key);
    for (const p of previous) {
      const key = derive(p);
      if (idOf(key) !== this.keyId) this.previous.set(idOf(key), key);
    }
  }

  /** Whether `sealed` was sealed with an earlier key (a rotation re-seals it). */
  isStale(sealed: string): boolean {
    return sealed.split(':')[1] !== this.keyId;
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1:${this.keyId}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    const [version, keyId, payload] = sealed.split(':');
    if (version !== 'v1' || payload === undefined) {
      throw new FreightError('INTERNAL', 'stored credentials are in an unknown format');
    }
    const key = keyId === this.keyId ? this.key : this.previous.get(keyId ?? '');
    if (!key) {
      throw new FreightError(
        'CONFIG_INVALID',
        'stored credentials were encrypted with another key: set FREIGHT_SECRET_KEY (and FREIGHT_SECRET_KEY_PREVIOUS during a rotation)',
      );
    }
    const raw = Buffer.from(payload, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new FreightError('CONFIG_INVALID', 'stored credentials could not be decrypted');
    }
  }
}

function derive(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'freight', 'connection-configs', 32));
}

function idOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}
