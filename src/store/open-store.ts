import type { Config } from '../config/config.js';
import { createPostgresStoreDialect } from '../connectors/postgres/postgres-kysely.js';
import { createSqliteStoreDialect } from '../connectors/sqlite/sqlite-kysely.js';
import { FreightError } from '../domain/errors.js';
import { KyselyStore } from './kysely-store.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SecretBox } from './secret-box.js';
import { resolveSecretKey } from '../config/secret-key.js';
import type { MetadataStore } from './store.js';

/**
 * Opens (and migrates) the metadata store the configuration names: the SQLite file by default,
 * PostgreSQL when DATABASE_URL is a postgresql URL.
 */
export async function openStore(
  config: Pick<Config, 'store' | 'home' | 'secretKey'> & { previousSecretKeys?: readonly string[] },
): Promise<MetadataStore> {
  const box = new SecretBox(resolveSecretKey(config), [
    ...(config.previousSecretKeys ?? []),
    ...previousKeyFile(config),
  ]);
  const store =
    config.store.kind === 'sqlite'
      ? new KyselyStore(createSqliteStoreDialect(config.store.path), 'sqlite', box)
      : (() => {
          const { dialect, ensureSchema } = createPostgresStoreDialect(
            config.store.url,
            config.store.schema,
          );
          return new KyselyStore(dialect, 'postgresql', box, ensureSchema, config.store.schema);
        })();
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    if (error instanceof FreightError) throw error;
    throw new FreightError(
      'CONFIG_INVALID',
      `cannot open the metadata store (${config.store.kind === 'sqlite' ? config.store.path : 'DATABASE_URL'}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return store;
}

/** A key file left by `freight secrets rotate` on the embedded store (FREIGHT_HOME/secret.key.previous). */
function previousKeyFile(config: Pick<Config, 'home' | 'secretKey'>): string[] {
  if (config.secretKey) return [];
  const file = path.join(config.home, 'secret.key.previous');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}
