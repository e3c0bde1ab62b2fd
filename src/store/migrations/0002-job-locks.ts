import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from './index.js';

/**
 * A job-level lease, so that when several workers share a job exactly one plans it and exactly one
 * finalizes it (DESIGN.md §5, leases); an index for counting running batches at claim time.
 */
export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  const ts = dialect === 'postgresql' ? sql`timestamptz` : sql`text`;
  await db.schema.alterTable('jobs').addColumn('lock_owner', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('lock_kind', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('lock_expires_at', ts).execute();
  // Running batches are counted at every claim (per-tenant caps): a partial index holds just those.
  await db.schema
    .createIndex('batches_running')
    .on('batches')
    .columns(['job_id'])
    .where(sql.ref('status'), '=', 'running')
    .execute();
}
