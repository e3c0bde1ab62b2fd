import type { Kysely } from 'kysely';
import { connectors } from '../../src/connectors/index.js';
import { parseConnectionUrl } from '../../src/domain/connection.js';
import {
  DEFAULT_JOB_OPTIONS,
  type JobError,
  type JobOptions,
  type JobTable,
} from '../../src/domain/model.js';
import type { JobStatus } from '../../src/domain/job.js';
import type { JobEvent } from '../../src/engine/events.js';
import { runJob } from '../../src/worker/run-job.js';
import type { Database } from '../../src/store/schema.js';
import type { MetadataStore } from '../../src/store/store.js';
import { createMysqlDatabase, createPgSchema } from '../helpers/databases.js';
import { openTestStore } from '../helpers/stores.js';

/**
 * One MariaDB database, one PostgreSQL schema and one SQLite metadata store per test file, and a
 * `migrate()` that runs a real job between them through the engine (no mocks).
 */

export type MysqlDb = Awaited<ReturnType<typeof createMysqlDatabase>>;
export type PgSchema = Awaited<ReturnType<typeof createPgSchema>>;

export interface RecordLogRow {
  readonly table: string;
  readonly recordId: string;
  readonly status: string;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
}

export interface Migration {
  readonly jobId: string;
  readonly status: JobStatus;
  readonly error: JobError | null;
  readonly events: readonly JobEvent[];
  readonly tables: readonly JobTable[];
  /** Record log lines other than successes (the job logs successes per batch). */
  readonly logs: readonly RecordLogRow[];
  /** The job table of a source table (by its bare name). */
  table(name: string): JobTable;
  /** Record log lines of one source table (by its bare name). */
  logsOf(name: string): RecordLogRow[];
}

export interface Fixture {
  readonly mysql: MysqlDb;
  readonly pg: PgSchema;
  readonly store: MetadataStore;
  /** Runs one job copying the MariaDB database (or `options.tables`) into the schema, verified by checksum. */
  migrate(options?: Partial<JobOptions>): Promise<Migration>;
  /** The first column of the first row of a PostgreSQL query. */
  pgValue(sql: string, params?: unknown[]): Promise<unknown>;
  /** `format_type` of each column of a PostgreSQL table in the schema, by column name. */
  pgTypes(table: string): Promise<Record<string, string>>;
  cleanup(): Promise<void>;
}

export async function openFixture(prefix: string): Promise<Fixture> {
  const mysql = await createMysqlDatabase(prefix);
  const pg = await createPgSchema(prefix);
  const { store, cleanup: closeStore } = await openTestStore('sqlite');
  const db = (store as unknown as { db: Kysely<Database> }).db;

  const migrate = async (options: Partial<JobOptions> = {}): Promise<Migration> => {
    const created = await store.createJob({
      tenantId: 't',
      source: parseConnectionUrl(mysql.url),
      target: parseConnectionUrl(pg.url),
      options: { ...DEFAULT_JOB_OPTIONS, verify: 'checksum', concurrency: 2, ...options },
      startedBy: 'test',
    });
    const job = (await store.getJobWithSecrets(created.id))!;
    const events: JobEvent[] = [];
    const outcome = await runJob({
      ledger: store,
      job,
      connectors,
      workerId: 'test',
      onEvent: (e) => events.push(e),
    });
    const tables = await store.listJobTables(job.id);
    const logs = (
      await db
        .selectFrom('record_logs')
        .select(['table_name', 'record_id', 'status', 'error_code', 'error_message'])
        .where('job_id', '=', job.id)
        .orderBy('id')
        .execute()
    )
      .filter((r) => r.status !== 'success')
      .map((r) => ({
        table: r.table_name,
        recordId: r.record_id,
        status: r.status,
        errorCode: r.error_code,
        errorMessage: r.error_message,
      }));
    const bare = (qualified: string) => qualified.slice(qualified.indexOf('.') + 1);
    return {
      jobId: job.id,
      status: outcome.status,
      error: outcome.error,
      events,
      tables,
      logs,
      table: (name) => {
        const found = tables.find((t) => bare(t.name) === name);
        if (!found)
          throw new Error(
            `table ${name} is not part of job ${job.id} (${tables.map((t) => t.name).join(', ')})`,
          );
        return found;
      },
      logsOf: (name) => logs.filter((l) => bare(l.table) === name),
    };
  };

  return {
    mysql,
    pg,
    store,
    migrate,
    pgValue: async (sql, params) => {
      const { rows } = await pg.client.query({ text: sql, values: params ?? [], rowMode: 'array' });
      return (rows[0] as unknown[] | undefined)?.[0];
    },
    pgTypes: async (table) => {
      const { rows } = await pg.query(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_attribute a
          WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND a.attnum > 0 AND NOT a.attisdropped`,
        [pg.name, table],
      );
      return Object.fromEntries(rows.map((r: { name: string; type: string }) => [r.name, r.type]));
    },
    cleanup: async () => {
      await Promise.allSettled([mysql.drop(), pg.drop(), closeStore()]);
    },
  };
}
