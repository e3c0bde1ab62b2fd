import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../../config/config.js';
import { FreightError } from '../../domain/errors.js';
import { openStore } from '../../store/open-store.js';

/**
 * `freight secrets rotate`: re-encrypts every stored credential with the current key.
 *
 * - Configured keys: set FREIGHT_SECRET_KEY to the new key and FREIGHT_SECRET_KEY_PREVIOUS to the
 *   old one (on every process), run this, then drop the previous key.
 * - The embedded store's generated key: a new key is generated, the old one moves to
 *   secret.key.previous, everything is re-sealed, then the previous file is removed.
 *
 * Tokens and export links are keyed from the secret too: existing ones stop working.
 */
export async function rotateSecrets(config: Config): Promise<void> {
  if (!config.secretKey) {
    if (config.store.kind === 'postgresql')
      throw new FreightError(
        'CONFIG_INVALID',
        'set FREIGHT_SECRET_KEY (new) and FREIGHT_SECRET_KEY_PREVIOUS (old) to rotate a shared store',
      );
    const file = path.join(config.home, 'secret.key');
    const previous = path.join(config.home, 'secret.key.previous');
    if (!existsSync(file))
      throw new FreightError('CONFIG_INVALID', `no key to rotate in ${config.home}`);
    writeFileSync(previous, `${readFileSync(file, 'utf8').trim()}\n`, { mode: 0o600 });
    writeFileSync(`${file}.new`, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    renameSync(`${file}.new`, file);
  }
  const store = await openStore(config);
  try {
    const { jobs, webhooks } = await store.rotateSecrets();
    process.stderr.write(
      `re-encrypted the credentials of ${jobs} job(s) and ${webhooks} webhook secret(s) with the current key\n`,
    );
  } finally {
    await store.close();
  }
  if (!config.secretKey) {
    const previous = path.join(config.home, 'secret.key.previous');
    // Everything is sealed with the new key now: the old one must not linger on disk.
    if (existsSync(previous)) rmSync(previous);
  }
  process.stdout.write('rotated\n');
}
