import type { Config } from '../../config/config.js';
import { KeyService } from '../../auth/key-service.js';
import { ROLES, type Role } from '../../domain/access.js';
import { FreightError } from '../../domain/errors.js';
import { openStore } from '../../store/open-store.js';
import type { MetadataStore } from '../../store/store.js';

async function withStore<T>(
  config: Config,
  fn: (store: MetadataStore, keys: KeyService) => Promise<T>,
): Promise<T> {
  const store = await openStore(config);
  try {
    return await fn(store, new KeyService(store));
  } finally {
    await store.close();
  }
}

/** `freight tenants create <id>`: prints the tenant; the id is the last line. */
export async function tenantsCreate(
  config: Config,
  id: string,
  flags: { name?: string },
): Promise<void> {
  await withStore(config, async (_store, keys) => {
    const tenant = await keys.createTenant(id, flags.name);
    process.stderr.write(`created tenant ${tenant.id} (${tenant.name})\n`);
    process.stdout.write(`${tenant.id}\n`);
  });
}

export async function tenantsList(config: Config): Promise<void> {
  await withStore(config, async (store) => {
    for (const t of await store.listTenants())
      process.stdout.write(
        `${t.id}\t${t.name}\t${t.createdAt}${t.disabledAt ? '\tdisabled' : ''}\n`,
      );
  });
}

/** `freight keys create --tenant <id> --role <role>`: the new key is the last line of stdout (shown once). */
export async function keysCreate(
  config: Config,
  flags: { tenant: string; role: string; name?: string; createTenant?: boolean },
): Promise<void> {
  if (!(ROLES as readonly string[]).includes(flags.role)) {
    throw new FreightError('BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}`);
  }
  await withStore(config, async (store, keys) => {
    if (flags.createTenant && !(await store.getTenant(flags.tenant)))
      await keys.createTenant(flags.tenant);
    const { key, apiKey } = await keys.createKey({
      tenantId: flags.tenant,
      role: flags.role as Role,
      ...(flags.name ? { name: flags.name } : {}),
      createdBy: 'cli',
    });
    process.stderr.write(
      `created ${apiKey.role} key ${apiKey.id} for tenant ${apiKey.tenantId}; it is shown once:\n`,
    );
    process.stdout.write(`${key}\n`);
  });
}

export async function keysList(config: Config, flags: { tenant?: string }): Promise<void> {
  await withStore(config, async (store) => {
    for (const k of await store.listApiKeys(flags.tenant)) {
      process.stdout.write(
        `${k.id}\t${k.tenantId}\t${k.role}\t${k.name}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}\n`,
      );
    }
  });
}

export async function keysRevoke(config: Config, keyId: string): Promise<void> {
  await withStore(config, async (_store, keys) => {
    if (!(await keys.revoke(keyId)))
      throw new FreightError('NOT_FOUND', `key ${keyId} not found or already revoked`);
    process.stdout.write(`revoked ${keyId}\n`);
  });
}
