import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { FreightError } from '../domain/errors.js';
import type { Config } from './config.js';

/** Where the generated key lives (embedded mode). */
export function secretKeyFile(home: string): string {
  return path.join(home, 'secret.key');
}

/**
 * The process's root secret: FREIGHT_SECRET_KEY when set. Otherwise, for the embedded store only,
 * a key generated once into FREIGHT_HOME/secret.key (mode 0600). A shared PostgreSQL store needs
 * the same key on every machine, so there it must be configured. Credentials at rest, export links
 * and (without JWT_SECRET_KEY) tokens are keyed from it, each with its own derived key.
 */
export function resolveSecretKey(config: Pick<Config, 'store' | 'home' | 'secretKey'>): string {
  if (config.secretKey) return config.secretKey;
  if (config.store.kind === 'postgresql') {
    throw new FreightError(
      'CONFIG_INVALID',
      'environment variable FREIGHT_SECRET_KEY is required with a PostgreSQL DATABASE_URL (every process must share it)',
    );
  }
  const file = secretKeyFile(config.home);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(config.home, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return readFileSync(file, 'utf8').trim();
    throw error;
  }
  chmodSync(file, 0o600);
  return secret;
}
