import pg from 'pg';
import { PostgresDialect } from 'kysely';

/** int8 → number (counts stay far below 2^53); timestamptz → ISO-8601 string. */
const storeTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v);
    if (oid === 1184 || oid === 1114)
      return (v: string) =>
        new Date(v.includes('+') || v.endsWith('Z') ? v : `${v}Z`).toISOString();
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

/**
 * The Kysely dialect of the distributed metadata store: a pool whose connections use `schema`
 * (created on first use) as their search path, so several Freight installations — or test files —
 * can share one database.
 */
export function createPostgresStoreDialect(
  url: string,
  schema: string,
  maxConnections = 10,
): {
  dialect: PostgresDialect;
  ensureSchema: () => Promise<void>;
} {
  const pool = new pg.Pool({
    connectionString: url,
    max: maxConnections,
    types: storeTypes,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => {
    // An idle client's connection dropped; the pool replaces it. Queries in flight report their own errors.
  });
  return {
    dialect: new PostgresDialect({ pool }),
    ensureSchema: async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      await client.connect();
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replaceAll('"', '""')}"`);
      } catch (error) {
        // Another process created it at the same moment.
        if (
          (error as { code?: string }).code !== '23505' &&
          (error as { code?: string }).code !== '42P06'
        )
          throw error;
      } finally {
        await client.end();
      }
    },
  };
}
