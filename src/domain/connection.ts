import { z } from 'zod';
import { FreightError } from './errors.js';

/**
 * How to reach a database: the object form the API takes (`{type, host, port, database, user,
 * password}`) and the URL form the CLI takes (`mysql://`, `mariadb://`, `postgresql://`,
 * `sqlite:path`, `csv:path`). Both end up as a `ConnectionConfig`.
 */

const host = z.string().min(1).max(255);
const port = z.coerce.number().int().min(1).max(65535);
const ident = z.string().min(1).max(128);
const secret = z.string().max(1024);
const sslMode = z.enum(['disable', 'prefer', 'require', 'verify-full']);

export const MysqlConnectionSchema = z
  .object({
    type: z.enum(['mysql', 'mariadb']),
    host,
    port: port.default(3306),
    database: ident,
    user: ident,
    password: secret.optional(),
    ssl: sslMode.optional(),
    /** TLS server name to verify when `host` is an address (the network policy connects to the address it checked). */
    servername: host.optional(),
  })
  .strict();

export const PostgresConnectionSchema = z
  .object({
    type: z.enum(['postgresql', 'postgres']).transform(() => 'postgresql' as const),
    host,
    port: port.default(5432),
    database: ident,
    user: ident,
    password: secret.optional(),
    /** The schema tables are read from or written to (default `public`). */
    schema: ident.optional(),
    ssl: sslMode.optional(),
    /** TLS server name to verify when `host` is an address (the network policy connects to the address it checked). */
    servername: host.optional(),
  })
  .strict();

export const SqliteConnectionSchema = z
  .object({ type: z.literal('sqlite'), path: z.string().min(1).max(4096) })
  .strict();

export const CsvConnectionSchema = z
  .object({
    type: z.literal('csv'),
    /** A .csv file (one table) or a directory (one table per .csv file). */
    path: z.string().min(1).max(4096),
    delimiter: z.string().length(1).optional(),
  })
  .strict();

/** In-memory fake for tests (`connectors/memory`); not accepted from users. */
export const MemoryConnectionSchema = z
  .object({ type: z.literal('memory'), name: z.string().min(1) })
  .strict();

export const UserConnectionSchema = z.discriminatedUnion('type', [
  MysqlConnectionSchema,
  PostgresConnectionSchema,
  SqliteConnectionSchema,
  CsvConnectionSchema,
]);

export const ConnectionSchema = z.discriminatedUnion('type', [
  MysqlConnectionSchema,
  PostgresConnectionSchema,
  SqliteConnectionSchema,
  CsvConnectionSchema,
  MemoryConnectionSchema,
]);

export type ConnectionConfig = z.output<typeof ConnectionSchema>;
export type ConnectionType = ConnectionConfig['type'];

/** Parses a connection URL; throws CONNECTION_CONFIG_INVALID naming what is wrong. */
export function parseConnectionUrl(input: string): ConnectionConfig {
  const text = input.trim();
  const fileMatch = /^(sqlite|csv):(?:\/\/)?(.+)$/i.exec(text);
  if (fileMatch) {
    const type = fileMatch[1]!.toLowerCase() as 'sqlite' | 'csv';
    return parseConnectionConfig({ type, path: decodeUrlPart(fileMatch[2]!, 'path') });
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FreightError(
      'CONNECTION_CONFIG_INVALID',
      `not a connection URL: expected mysql://, mariadb://, postgresql://, sqlite:<path> or csv:<path>`,
    );
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  const database = decodeUrlPart(url.pathname.replace(/^\//, ''), 'database');
  const params = url.searchParams;
  const common = {
    host: decodeUrlPart(url.hostname, 'host').replace(/^\[|\]$/g, ''),
    ...(url.port ? { port: Number(url.port) } : {}),
    database,
    user: decodeUrlPart(url.username, 'user'),
    ...(url.password ? { password: decodeUrlPart(url.password, 'password') } : {}),
    ...(params.get('ssl') || params.get('sslmode')
      ? { ssl: normalizeSsl(params.get('sslmode') ?? params.get('ssl') ?? '') }
      : {}),
  };
  switch (scheme) {
    case 'mysql':
    case 'mariadb':
      return parseConnectionConfig({ type: scheme, ...common, user: common.user || 'root' });
    case 'postgres':
    case 'postgresql':
      return parseConnectionConfig({
        type: 'postgresql',
        ...common,
        user: common.user || 'postgres',
        ...(params.get('schema') ? { schema: params.get('schema') } : {}),
      });
    default:
      throw new FreightError(
        'CONNECTION_CONFIG_INVALID',
        `unsupported scheme "${scheme}:": expected mysql, mariadb, postgresql, sqlite or csv`,
      );
  }
}

/** Percent-decodes one part of a connection URL; malformed escapes are an error naming the part (never its value). */
function decodeUrlPart(text: string, part: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new FreightError(
      'CONNECTION_CONFIG_INVALID',
      `invalid connection config: ${part}: malformed percent-encoding in the URL`,
      { details: { field: part } },
    );
  }
}

function normalizeSsl(value: string): string {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return 'require';
  if (v === 'false' || v === '0') return 'disable';
  return v;
}

/** Validates an object-form config; the error names the field. Never echoes the password. */
export function parseConnectionConfig(input: unknown): ConnectionConfig {
  const result = ConnectionSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.') || 'type';
  throw new FreightError(
    'CONNECTION_CONFIG_INVALID',
    `invalid connection config: ${field}: ${issue.message}`,
    {
      details: { field },
    },
  );
}

/** A URL-like description without the password, for logs, summaries and API responses. */
export function describeConnection(config: ConnectionConfig): string {
  switch (config.type) {
    case 'sqlite':
    case 'csv':
      return `${config.type}:${config.path}`;
    case 'memory':
      return `memory:${config.name}`;
    default: {
      const hostPart = config.host.includes(':') ? `[${config.host}]` : config.host;
      const schema =
        config.type === 'postgresql' && config.schema ? `?schema=${config.schema}` : '';
      return `${config.type}://${encodeURIComponent(config.user)}@${hostPart}:${config.port}/${config.database}${schema}`;
    }
  }
}

/** The config with its password removed: what may be shown to anyone. */
export function redactConnection(config: ConnectionConfig): Record<string, unknown> {
  const { ...rest } = config as Record<string, unknown>;
  if ('password' in rest) rest.password = rest.password ? '********' : undefined;
  return rest;
}

/** Every secret value a config holds, so outputs can be scrubbed of them. */
export function connectionSecrets(config: ConnectionConfig): string[] {
  return 'password' in config && config.password ? [config.password] : [];
}
