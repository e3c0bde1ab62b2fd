import { z } from 'zod';
import path from 'node:path';
import { FreightError } from '../domain/errors.js';

/**
 * Every environment variable Freight reads, validated once, defaults applied, then frozen
 * (DESIGN.md §7; STYLE.md: fastify `initial-config-validation.js`). Nothing else reads process.env.
 * A malformed value, or an unknown `FREIGHT_*` variable (a typo, usually), fails at start-up with a
 * message naming the variable.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = z.string().min(1);

const EnvSchema = z.object({
  DATABASE_URL: url.optional(),
  REDIS_URL: url.optional(),
  CELERY_BROKER_URL: url.optional(),
  CELERY_RESULT_BACKEND: url.optional(),
  JWT_SECRET_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  TOKEN_EXPIRY_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 365)
    .default(24),
  ENABLE_METRICS: bool.default(false),
  METRICS_PORT: int(1, 65535).default(9090),
  PORT: int(0, 65535).default(8000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  FREIGHT_API_URL: url.optional(),
  FREIGHT_API_KEY: z.string().min(1).optional(),
  FREIGHT_TENANT_ID: z.string().min(1).optional(),
  /** Key for encrypting connection credentials at rest; generated into FREIGHT_HOME when unset. */
  FREIGHT_SECRET_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Earlier secret keys (comma-separated), still accepted for reading while `freight secrets rotate` runs. */
  FREIGHT_SECRET_KEY_PREVIOUS: z.string().min(16).optional(),
  /** Server mode: directories sqlite:/csv: connections may use ({tenant} for a per-tenant directory); default FREIGHT_HOME/data/{tenant}. */
  FREIGHT_DATA_DIRS: z.string().optional(),
  /** Server mode: networks jobs and webhooks may not reach (CIDRs or loopback, link-local, private, metadata, unspecified); default link-local,metadata; `none` for no rule. */
  FREIGHT_DENY_NETWORKS: z.string().optional(),
  /** Server mode: when set, the only networks or host names jobs and webhooks may reach. */
  FREIGHT_ALLOW_NETWORKS: z.string().optional(),
  /** Where the embedded store, generated keys and samples live. */
  FREIGHT_HOME: z.string().min(1).default('.freight'),
  /** PostgreSQL schema of the metadata store. */
  FREIGHT_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case identifier')
    .default('freight'),
  /** Default number of batches one process runs at once. */
  FREIGHT_CONCURRENCY: int(1, 256).optional(),
  FREIGHT_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional(),
  FREIGHT_BOOTSTRAP_ADMIN_KEY: z.string().min(20).optional(),
  /** BullMQ queue name (and Redis key prefix). */
  FREIGHT_QUEUE_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 letters, digits, "_", "." or "-"')
    .default('freight'),
  /** How long a worker holds a batch (or a delivered task) without renewing before others may take it. */
  FREIGHT_LEASE_MS: int(1000, 3_600_000).default(60_000),
  FREIGHT_QUEUE_LOCK_MS: int(1000, 3_600_000).default(30_000),
  /** Most batches of one tenant running at once across all workers (0: no cap). */
  FREIGHT_TENANT_CONCURRENCY: int(0, 10_000).default(0),
  /** API requests per tenant per minute. */
  FREIGHT_RATE_LIMIT: int(1, 1_000_000).default(600),
  /** Failed authentications per client address per minute before it is refused (429). */
  FREIGHT_AUTH_FAILURE_LIMIT: int(1, 1_000_000).default(30),
  /** MCP: toolsets to offer (jobs,logs,ops,admin), read-only mode, output schemas on/off. */
  FREIGHT_MCP_TOOLSETS: z
    .string()
    .regex(/^[a-z, ]+$/, 'must be a comma-separated list of toolsets')
    .optional(),
  FREIGHT_MCP_READ_ONLY: bool.default(false),
  FREIGHT_MCP_OUTPUT_SCHEMAS: bool.default(true),
  /** MCP over HTTP: host names and browser origins allowed (comma-separated; default localhost). */
  FREIGHT_MCP_ALLOWED_HOSTS: z.string().optional(),
  FREIGHT_MCP_ALLOWED_ORIGINS: z.string().optional(),
  /**
   * Behind a TLS-terminating proxy: the proxies whose X-Forwarded-For is believed (comma-separated
   * addresses or CIDRs, or a hop count), so client addresses (auth-failure throttle, logs) are real.
   */
  FREIGHT_TRUST_PROXY: z
    .string()
    .regex(
      /^(\d{1,2}|[0-9a-fA-F:.,/ ]+)$/,
      'must be a hop count or comma-separated proxy addresses/CIDRs',
    )
    .optional(),
  /** Base URL clients reach this server at, when behind a proxy (export links). */
  FREIGHT_PUBLIC_URL: url.optional(),
});

const KNOWN_FREIGHT_VARS = new Set(
  Object.keys(EnvSchema.shape).filter((k) => k.startsWith('FREIGHT_')),
);

export interface Config {
  /** Metadata store: `sqlite` file (embedded default) or `postgresql` URL. */
  readonly store:
    | { readonly kind: 'sqlite'; readonly path: string }
    | { readonly kind: 'postgresql'; readonly url: string; readonly schema: string };
  readonly redisUrl: string | undefined;
  readonly home: string;
  readonly secretKey: string | undefined;
  readonly previousSecretKeys: readonly string[];
  readonly dataDirs: readonly string[];
  readonly network: { readonly deny: readonly string[]; readonly allow: readonly string[] };
  readonly jwtSecretKey: string | undefined;
  readonly tokenExpiryHours: number;
  readonly enableMetrics: boolean;
  readonly metricsPort: number;
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  readonly apiUrl: string | undefined;
  readonly apiKey: string | undefined;
  readonly tenantId: string | undefined;
  readonly concurrency: number | undefined;
  readonly bootstrapAdminKey: string | undefined;
  readonly mcp: {
    readonly toolsets: string | undefined;
    readonly readOnly: boolean;
    readonly outputSchemas: boolean;
    readonly allowedHosts: readonly string[] | undefined;
    readonly allowedOrigins: readonly string[] | undefined;
  };
  readonly publicUrl: string | undefined;
  /** Fastify's trustProxy: false, a hop count, or proxy addresses/CIDRs. */
  readonly trustProxy: false | number | string;
  readonly queueName: string;
  readonly leaseMs: number;
  readonly queueLockMs: number;
  readonly tenantConcurrency: number;
  readonly rateLimitPerMinute: number;
  readonly authFailureLimit: number;
}

/** Reads and validates the environment. Throws CONFIG_INVALID naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const unknown = Object.keys(env).filter(
    (k) => k.startsWith('FREIGHT_') && !KNOWN_FREIGHT_VARS.has(k),
  );
  if (unknown.length > 0) {
    throw new FreightError(
      'CONFIG_INVALID',
      `unknown environment variable ${unknown.join(', ')} (known: ${[...KNOWN_FREIGHT_VARS].sort().join(', ')})`,
    );
  }
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = EnvSchema.safeParse(relevant);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FreightError(
      'CONFIG_INVALID',
      `environment variable ${issue.path.join('.')}: ${issue.message}`,
    );
  }
  const e = parsed.data;
  const home = path.resolve(e.FREIGHT_HOME);
  return Object.freeze({
    store: storeFromUrl(e.DATABASE_URL, home, e.FREIGHT_DB_SCHEMA),
    redisUrl: checkRedisUrl(e.REDIS_URL ?? e.CELERY_BROKER_URL ?? e.CELERY_RESULT_BACKEND),
    home,
    secretKey: e.FREIGHT_SECRET_KEY,
    previousSecretKeys: list(e.FREIGHT_SECRET_KEY_PREVIOUS) ?? [],
    // Server mode confines sqlite:/csv: paths to these; by default one directory per tenant under FREIGHT_HOME.
    dataDirs: (list(e.FREIGHT_DATA_DIRS) ?? [path.join(home, 'data', '{tenant}')]).map((d) =>
      path.resolve(d),
    ),
    // Cloud metadata and link-local addresses are never a tenant's database; `none` lifts the default.
    network: Object.freeze({
      deny:
        e.FREIGHT_DENY_NETWORKS === undefined
          ? ['link-local', 'metadata']
          : (list(e.FREIGHT_DENY_NETWORKS) ?? []).filter((r) => r !== 'none'),
      allow: list(e.FREIGHT_ALLOW_NETWORKS) ?? [],
    }),
    jwtSecretKey: e.JWT_SECRET_KEY,
    tokenExpiryHours: e.TOKEN_EXPIRY_HOURS,
    enableMetrics: e.ENABLE_METRICS,
    metricsPort: e.METRICS_PORT,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.FREIGHT_LOG_LEVEL ?? e.LOG_LEVEL ?? 'info',
    apiUrl: e.FREIGHT_API_URL,
    apiKey: e.FREIGHT_API_KEY,
    tenantId: e.FREIGHT_TENANT_ID,
    concurrency: e.FREIGHT_CONCURRENCY,
    bootstrapAdminKey: e.FREIGHT_BOOTSTRAP_ADMIN_KEY,
    mcp: Object.freeze({
      toolsets: e.FREIGHT_MCP_TOOLSETS,
      readOnly: e.FREIGHT_MCP_READ_ONLY,
      outputSchemas: e.FREIGHT_MCP_OUTPUT_SCHEMAS,
      allowedHosts: list(e.FREIGHT_MCP_ALLOWED_HOSTS),
      allowedOrigins: list(e.FREIGHT_MCP_ALLOWED_ORIGINS),
    }),
    publicUrl: e.FREIGHT_PUBLIC_URL,
    trustProxy:
      e.FREIGHT_TRUST_PROXY === undefined
        ? false
        : /^\d+$/.test(e.FREIGHT_TRUST_PROXY)
          ? Number(e.FREIGHT_TRUST_PROXY)
          : e.FREIGHT_TRUST_PROXY.replaceAll(' ', ''),
    queueName: e.FREIGHT_QUEUE_NAME,
    leaseMs: e.FREIGHT_LEASE_MS,
    queueLockMs: e.FREIGHT_QUEUE_LOCK_MS,
    tenantConcurrency: e.FREIGHT_TENANT_CONCURRENCY,
    rateLimitPerMinute: e.FREIGHT_RATE_LIMIT,
    authFailureLimit: e.FREIGHT_AUTH_FAILURE_LIMIT,
  });
}

function list(value: string | undefined): string[] | undefined {
  return value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

function storeFromUrl(value: string | undefined, home: string, schema: string): Config['store'] {
  if (value === undefined) return { kind: 'sqlite', path: path.join(home, 'freight.db') };
  if (/^postgres(ql)?:\/\//i.test(value)) return { kind: 'postgresql', url: value, schema };
  const sqlite = /^sqlite:(?:\/\/)?(.+)$/i.exec(value);
  if (sqlite) return { kind: 'sqlite', path: path.resolve(sqlite[1]!) };
  throw new FreightError(
    'CONFIG_INVALID',
    'environment variable DATABASE_URL: expected postgresql://… or sqlite:<path>',
  );
}

function checkRedisUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^rediss?:\/\//i.test(value)) {
    throw new FreightError(
      'CONFIG_INVALID',
      'environment variable REDIS_URL: expected redis://… or rediss://…',
    );
  }
  return value;
}
