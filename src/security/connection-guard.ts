import { isIP, type LookupFunction } from 'node:net';
import type { ConnectionConfig } from '../domain/connection.js';
import { toFreightError } from '../domain/errors.js';
import { confineEntries, confinePath, type FilePolicy } from './file-policy.js';
import { NetworkPolicy, type NetworkPolicyConfig } from './network-policy.js';

/**
 * What a server-side job may connect to. `admit` is called when a job is created (so a refused
 * path or host is a 400 at once) and again by the worker right before it connects (so what changed
 * in between — a new symbolic link, a new DNS answer — is checked too). It returns the config to
 * connect with: a file path resolved inside the tenant's data directories, or a host replaced by
 * the address that was checked (TLS still verifies the name). The command line does not use a
 * guard: `freight migrate` runs as the user, with the user's access.
 */
export interface ConnectionGuard {
  admit(
    config: ConnectionConfig,
    context: { tenantId: string; field: string },
  ): Promise<ConnectionConfig>;
  /** Checks a URL's host (webhooks) against the network policy; POLICY_VIOLATION when refused. */
  admitUrl(url: string, field: string): Promise<void>;
  /**
   * A DNS lookup for outgoing HTTP requests (webhook deliveries) that answers only with addresses
   * the network policy allows — the request connects to what was checked.
   */
  readonly lookup: LookupFunction | undefined;
}

/** No restriction (the command line, and tests of the engine). */
export const unrestricted: ConnectionGuard = {
  admit: async (config) => config,
  admitUrl: async () => {},
  lookup: undefined,
};

export function createConnectionGuard(
  policy: FilePolicy & { network: NetworkPolicyConfig },
): ConnectionGuard {
  const network = new NetworkPolicy(policy.network);
  return {
    async admit(config, { tenantId, field }) {
      switch (config.type) {
        case 'sqlite':
          return { ...config, path: confinePath(config.path, policy, tenantId, `${field}.path`) };
        case 'csv': {
          const real = confinePath(config.path, policy, tenantId, `${field}.path`);
          // A directory is read file by file: each *.csv in it must stay inside too.
          confineEntries(real, /\.csv$/i, policy, tenantId, `${field}.path`);
          return { ...config, path: real };
        }
        case 'mysql':
        case 'mariadb':
        case 'postgresql': {
          const address = await network.resolve(config.host, config.port, `${field}.host`);
          if (address === config.host) return config;
          return { ...config, host: address, servername: config.servername ?? config.host };
        }
        default:
          return config;
      }
    },
    async admitUrl(url, field) {
      await network.check(new URL(url).hostname.replace(/^\[|\]$/g, ''), field);
    },
    lookup: network.active
      ? (hostname, options, callback) => {
          network.check(hostname, 'webhook url').then(
            (addresses) => {
              const all = addresses.map((address) => ({ address, family: isIP(address) || 4 }));
              if (options.all) callback(null, all);
              else callback(null, all[0]!.address, all[0]!.family);
            },
            (error: unknown) =>
              callback(
                Object.assign(new Error(toFreightError(error).message), { code: 'EPOLICY' }),
                '',
                0,
              ),
          );
        }
      : undefined,
  };
}
