import pg from 'pg';
import type { z } from 'zod';
import type { PostgresConnectionSchema } from '../../domain/connection.js';

export type PostgresConfig = z.output<typeof PostgresConnectionSchema>;

/** Every value arrives as PostgreSQL's text form: no lossy JS Number or Date on the way. */
const RAW_TEXT_TYPES = {
  getTypeParser: () => (value: string) => value,
} as unknown as pg.CustomTypesConfig;

/**
 * A connection pool with the session settings Freight's value handling relies on: UTC, ISO dates,
 * shortest-exact floats, standard strings. Connection errors of idle or checked-out clients are
 * absorbed here; the query that was running reports its own error.
 */
export function createPgPool(config: PostgresConfig, size: number): pg.Pool {
  const pool = new pg.Pool({
    host: config.host,
    port: config.port,
    user: config.user,
    ...(config.password !== undefined ? { password: config.password } : {}),
    database: config.database,
    max: size,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    application_name: 'freight',
    types: RAW_TEXT_TYPES,
    options:
      '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1 -c standard_conforming_strings=on -c client_encoding=UTF8',
    ...(config.ssl && config.ssl !== 'disable'
      ? {
          ssl: {
            rejectUnauthorized: config.ssl === 'verify-full',
            ...(config.servername ? { servername: config.servername } : {}),
          },
        }
      : {}),
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** Quotes an identifier ("reserved words" and all). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal (standard_conforming_strings is on: backslashes are literal). */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export function qualify(ref: { schema?: string; name: string }): string {
  return ref.schema ? `${quoteIdent(ref.schema)}.${quoteIdent(ref.name)}` : quoteIdent(ref.name);
}
