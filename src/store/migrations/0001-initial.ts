import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from './index.js';

/** Jobs, their tables, batches and record logs (DESIGN.md §4). */
export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const ts = dialect === 'postgresql' ? sql`timestamptz` : sql`text`;
  const big = dialect === 'postgresql' ? 'bigint' : 'integer';

  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('source_type', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('source_config', 'text', (c) => c.notNull())
    .addColumn('target_config', 'text', (c) => c.notNull())
    .addColumn('source_description', 'text', (c) => c.notNull())
    .addColumn('target_description', 'text', (c) => c.notNull())
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('started_by', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('started_at', ts)
    .addColumn('finished_at', ts)
    .execute();
  await db.schema
    .createIndex('jobs_tenant_created')
    .on('jobs')
    .columns(['tenant_id', 'created_at'])
    .execute();
  await db.schema.createIndex('jobs_status').on('jobs').columns(['status']).execute();

  await db.schema
    .createTable('job_tables')
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('target_name', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('plan', 'text')
    .addColumn('plan_cursor', 'text')
    .addColumn('created_by_job', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('estimated_rows', big, (c) => c.notNull().defaultTo(0))
    .addColumn('planned_rows', big, (c) => c.notNull().defaultTo(0))
    .addColumn('source_rows', big)
    .addColumn('target_rows', big)
    .addColumn('source_checksum', 'text')
    .addColumn('target_checksum', 'text')
    .addColumn('validation', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('error', 'text')
    .addColumn('notes', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addPrimaryKeyConstraint('job_tables_pk', ['job_id', 'name'])
    .execute();

  await db.schema
    .createTable('batches')
    .addColumn('id', big, (c) =>
      dialect === 'postgresql'
        ? c.primaryKey().generatedByDefaultAsIdentity()
        : c.primaryKey().autoIncrement(),
    )
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('table_name', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('lo', 'text')
    .addColumn('hi', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    .addColumn('rows_read', big, (c) => c.notNull().defaultTo(0))
    .addColumn('rows_written', big, (c) => c.notNull().defaultTo(0))
    .addColumn('rows_failed', big, (c) => c.notNull().defaultTo(0))
    .addColumn('duration_ms', 'integer')
    .addColumn('worker_id', 'text')
    .addColumn('lease_expires_at', ts)
    .addColumn('next_attempt_at', ts)
    .addColumn('last_error', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('started_at', ts)
    .addColumn('finished_at', ts)
    .execute();
  await db.schema
    .createIndex('batches_job_status')
    .on('batches')
    .columns(['job_id', 'status', 'id'])
    .execute();
  await db.schema
    .createIndex('batches_job_table_seq')
    .on('batches')
    .columns(['job_id', 'table_name', 'seq'])
    .unique()
    .execute();

  await db.schema
    .createTable('record_logs')
    .addColumn('id', big, (c) =>
      dialect === 'postgresql'
        ? c.primaryKey().generatedByDefaultAsIdentity()
        : c.primaryKey().autoIncrement(),
    )
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('batch_id', big)
    .addColumn('table_name', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull().defaultTo('record'))
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('retry_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rows', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('record_logs_job_id')
    .on('record_logs')
    .columns(['job_id', 'id'])
    .execute();
  await db.schema
    .createIndex('record_logs_job_status_id')
    .on('record_logs')
    .columns(['job_id', 'status', 'id'])
    .execute();
}
