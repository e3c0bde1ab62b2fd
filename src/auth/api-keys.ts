import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys: `fk_<id>_<secret>` — a public id to find the key and 256 random bits of secret.
 * Only the SHA-256 of the secret is stored (the key is high-entropy, so a slow hash adds
 * nothing); comparisons are constant-time. A key in another format (an operator's
 * FREIGHT_BOOTSTRAP_ADMIN_KEY) gets an id derived from its hash.
 */
export interface GeneratedKey {
  readonly id: string;
  readonly key: string;
  readonly secretHash: string;
}

export function generateApiKey(): GeneratedKey {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `fk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a presented key. */
export function splitApiKey(key: string): { id: string; secret: string } {
  const m = /^fk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(key);
  if (m) return { id: m[1]!, secret: m[2]! };
  return { id: `ext${createHash('sha256').update(key).digest('hex').slice(0, 9)}`, secret: key };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
