import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { SERVICES } from './services.js';

/** A unique lower-case name for a test's own database or schema. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A fresh MariaDB database for one test file; `drop()` removes it. */
export async function createMysqlDatabase(prefix = 'ft'): Promise<{
  name: string;
  url: string;
  query: (sql: string, params?: unknown[]) => Promise<unknown>;
  conn: mysql.Connection;
  drop: () => Promise<void>;
}> {
  const name = uniqueName(prefix);
  const { host, port, user } = SERVICES.mysql;
  const conn = await mysql.createConnection({
    host,
    port,
    user,
    multipleStatements: true,
    charset: 'utf8mb4',
    timezone: 'Z',
  });
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.query(`USE \`${name}\``);
  await conn.query("SET time_zone = '+00:00'");
  return {
    name,
    url: `mysql://${user}@${host}:${port}/${name}`,
    conn,
    query: async (sql, params) => (await conn.query(sql, params))[0],
    drop: async () => {
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/** A fresh PostgreSQL schema in the `test` database; `drop()` removes it. */
export async function createPgSchema(prefix = 'ft'): Promise<{
  name: string;
  url: string;
  client: pg.Client;
  query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;
  drop: () => Promise<void>;
}> {
  const name = uniqueName(prefix);
  const { host, port, user, database } = SERVICES.postgres;
  const client = new pg.Client({ host, port, user, database });
  await client.connect();
  await client.query(`CREATE SCHEMA "${name}"`);
  await client.query(`SET search_path TO "${name}"`);
  await client.query(`SET TimeZone TO 'UTC'`);
  return {
    name,
    url: `postgresql://${user}@${host}:${port}/${database}?schema=${name}`,
    client,
    query: (sql, params) => client.query(sql, params),
    drop: async () => {
      await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await client.end();
    },
  };
}

/** A temporary directory, removed by `remove()`. */
/** Server processes in tests may use files under the temporary directory, where tempDir() makes them (FREIGHT_DATA_DIRS). */
export const TEST_DATA_DIRS = tmpdir();

export function tempDir(prefix = 'freight-test-'): {
  dir: string;
  file: (name: string) => string;
  remove: () => void;
} {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return {
    dir,
    file: (name) => path.join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const PG_STORE_URL = `postgresql://${SERVICES.postgres.user}@${SERVICES.postgres.host}:${SERVICES.postgres.port}/${SERVICES.postgres.database}`;

export const REDIS_URL = `redis://${SERVICES.redis.host}:${SERVICES.redis.port}`;

/** Drops a PostgreSQL schema of the test database (a store's or a target's) with everything in it. */
export async function dropPgSchema(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_STORE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Removes the Redis keys matching `pattern` (e.g. a BullMQ queue's: `bull:<name>:*`). */
export async function dropRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
