import type { ApiKey, Caller, Role, Tenant } from '../domain/access.js';
import { FreightError } from '../domain/errors.js';
import type { MetadataStore } from '../store/store.js';
import { generateApiKey, hashSecret, secretMatches, splitApiKey } from './api-keys.js';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Tenants and API keys: creation (the key is returned once), verification, revocation. */
export class KeyService {
  constructor(private readonly store: MetadataStore) {}

  async createTenant(id: string, name?: string): Promise<Tenant> {
    if (!TENANT_ID.test(id)) {
      throw new FreightError(
        'VALIDATION_FAILED',
        'tenant id must be 1–63 characters of a–z, 0–9, "-" or "_", starting with a letter or digit',
        {
          details: { field: 'tenant_id' },
        },
      );
    }
    return this.store.createTenant({ id, name: name ?? id });
  }

  /** Creates a key; the plain key is in the result and nowhere else, ever. */
  async createKey(options: {
    tenantId: string;
    role: Role;
    name?: string;
    createdBy?: string | null;
    expiresAt?: string | null;
    key?: string;
  }): Promise<{ key: string; apiKey: ApiKey }> {
    const tenant = await this.store.getTenant(options.tenantId);
    if (!tenant) throw new FreightError('NOT_FOUND', `tenant ${options.tenantId} not found`);
    const generated = options.key
      ? { ...splitApiKey(options.key), key: options.key }
      : generateApiKey();
    const secretHash =
      'secretHash' in generated ? generated.secretHash : hashSecret(generated.secret);
    const apiKey = await this.store.insertApiKey({
      id: generated.id,
      tenantId: options.tenantId,
      role: options.role,
      name: options.name ?? `${options.role} key`,
      secretHash,
      createdBy: options.createdBy ?? null,
      expiresAt: options.expiresAt ?? null,
    });
    return { key: generated.key, apiKey };
  }

  /** The caller a key stands for, or null (unknown, wrong secret, revoked, expired, tenant disabled). */
  async authenticate(key: string): Promise<Caller | null> {
    const { id, secret } = splitApiKey(key);
    const stored = await this.store.getApiKey(id);
    // Compare even when the id is unknown, so timing does not tell which ids exist.
    const ok = secretMatches(secret, stored?.secretHash ?? '0'.repeat(64));
    if (!stored || !ok || !(await this.isUsable(stored))) return null;
    void this.store.touchApiKey(stored.id).catch(() => {});
    return { keyId: stored.id, tenantId: stored.tenantId, role: stored.role, via: 'api-key' };
  }

  /** Whether the key behind a token is still good (revocation takes effect at once). */
  async keyStillValid(keyId: string): Promise<ApiKey | null> {
    const stored = await this.store.getApiKey(keyId);
    return stored && (await this.isUsable(stored)) ? stored : null;
  }

  async revoke(keyId: string): Promise<boolean> {
    return this.store.revokeApiKey(keyId);
  }

  private async isUsable(key: ApiKey): Promise<boolean> {
    if (key.revokedAt) return false;
    if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return false;
    const tenant = await this.store.getTenant(key.tenantId);
    return Boolean(tenant && !tenant.disabledAt);
  }

  /**
   * First start on an empty store: a `platform` tenant and an admin key — FREIGHT_BOOTSTRAP_ADMIN_KEY
   * when set, else a new one, returned so it can be shown once. Null when keys already exist.
   */
  async bootstrap(presetKey?: string): Promise<{ key: string; generated: boolean } | null> {
    if ((await this.store.countApiKeys()) > 0) return null;
    if (!(await this.store.getTenant('platform')))
      await this.store.createTenant({ id: 'platform', name: 'Platform administration' });
    const { key } = await this.createKey({
      tenantId: 'platform',
      role: 'admin',
      name: 'bootstrap admin key',
      ...(presetKey ? { key: presetKey } : {}),
    });
    return { key, generated: !presetKey };
  }
}
