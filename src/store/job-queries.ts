import { sql, type Kysely } from 'kysely';
import type { BatchStatus, JobStatus, RecordStatus } from '../domain/job.js';
import type { Batch, Job, RecordLog } from '../domain/model.js';
import type { StoreDialect } from './migrations/index.js';
import { toBatch, toJob, toRecordLog } from './rows.js';
import type { Database } from './schema.js';

/** Read-side queries of the control plane: listings, pages, exports, statistics. */

export interface JobListQuery {
  readonly tenantId: string;
  readonly status?: readonly JobStatus[];
  readonly createdAfter?: string;
  readonly createdBefore?: string;
  readonly limit: number;
  readonly offset: number;
}

/** Newest first; `total` counts every match, for pagination. */
export async function listJobs(
  db: Kysely<Database>,
  q: JobListQuery,
): Promise<{ jobs: Job[]; total: number }> {
  let base = db.selectFrom('jobs').where('tenant_id', '=', q.tenantId);
  if (q.status && q.status.length > 0) base = base.where('status', 'in', [...q.status]);
  if (q.createdAfter) base = base.where('created_at', '>=', q.createdAfter);
  if (q.createdBefore) base = base.where('created_at', '<', q.createdBefore);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit)
      .offset(q.offset)
      .execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
  ]);
  return { jobs: rows.map(toJob), total: Number(count?.n ?? 0) };
}

export async function unfinishedJobs(
  db: Kysely<Database>,
): Promise<Array<{ id: string; status: JobStatus }>> {
  const rows = await db
    .selectFrom('jobs')
    .select(['id', 'status'])
    .where('status', 'in', ['pending', 'planning', 'running', 'cancelling'])
    .orderBy('created_at')
    .execute();
  return rows.map((r) => ({ id: r.id, status: r.status as JobStatus }));
}

export async function listBatches(
  db: Kysely<Database>,
  jobId: string,
  q: { status?: readonly BatchStatus[]; limit: number; offset: number },
): Promise<{ batches: Batch[]; total: number }> {
  let base = db.selectFrom('batches').where('job_id', '=', jobId);
  if (q.status && q.status.length > 0) base = base.where('status', 'in', [...q.status]);
  const [rows, count] = await Promise.all([
    base.selectAll().orderBy('id').limit(q.limit).offset(q.offset).execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
  ]);
  return { batches: rows.map(toBatch), total: Number(count?.n ?? 0) };
}

/** Which of `ids` are batches of the job, with their status. */
export async function batchesById(
  db: Kysely<Database>,
  jobId: string,
  ids: readonly number[],
): Promise<Array<{ id: number; status: BatchStatus }>> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('batches')
    .select(['id', 'status'])
    .where('job_id', '=', jobId)
    .where('id', 'in', [...ids])
    .execute();
  return rows.map((r) => ({ id: Number(r.id), status: r.status as BatchStatus }));
}

/**
 * Newest first, paged by id (keyset): a page never shifts when new lines are appended meanwhile,
 * unlike OFFSET paging.
 */
export async function listRecordLogs(
  db: Kysely<Database>,
  jobId: string,
  q: { status?: readonly RecordStatus[]; limit: number; before?: number },
): Promise<{ logs: RecordLog[]; total: number }> {
  let base = db.selectFrom('record_logs').where('job_id', '=', jobId);
  if (q.status && q.status.length > 0) base = base.where('status', 'in', [...q.status]);
  let page = base.selectAll().orderBy('id', 'desc').limit(q.limit);
  if (q.before !== undefined) page = page.where('id', '<', q.before);
  const [rows, count] = await Promise.all([
    page.execute(),
    base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
  ]);
  return { logs: rows.map(toRecordLog), total: Number(count?.n ?? 0) };
}

/** Every log line of a job in id order, a page at a time (exports stream these; memory stays flat). */
export async function* recordLogPages(
  db: Kysely<Database>,
  jobId: string,
  q: { status?: readonly RecordStatus[]; pageSize?: number } = {},
): AsyncGenerator<RecordLog[]> {
  let after = 0;
  for (;;) {
    let page = db
      .selectFrom('record_logs')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(q.pageSize ?? 1000);
    if (q.status && q.status.length > 0) page = page.where('status', 'in', [...q.status]);
    const rows = await page.execute();
    if (rows.length === 0) return;
    after = Number(rows.at(-1)!.id);
    yield rows.map(toRecordLog);
  }
}

export interface JobStats {
  readonly tenantId: string | null;
  readonly totalJobs: number;
  readonly jobsByStatus: Record<string, number>;
  /** completed ÷ (completed + completed_with_errors + failed); null before any job finished. */
  readonly successRate: number | null;
  readonly recordsProcessed: number;
  readonly recordsFailed: number;
  readonly averageDurationSeconds: number | null;
  /** Rows written per second of job run time, over finished jobs. */
  readonly rowsPerSecond: number | null;
}

/** Statistics for one tenant, or for each tenant when `tenantId` is null. */
export async function jobStats(
  db: Kysely<Database>,
  dialect: StoreDialect,
  tenantId: string | null,
): Promise<JobStats[]> {
  let byStatus = db
    .selectFrom('jobs')
    .select((eb) => ['tenant_id', 'status', eb.fn.countAll<number>().as('n')])
    .groupBy(['tenant_id', 'status']);
  let rows = db
    .selectFrom('batches')
    .innerJoin('jobs', 'jobs.id', 'batches.job_id')
    .select((eb) => [
      'jobs.tenant_id',
      eb.fn.sum<number>('batches.rows_written').as('written'),
      eb.fn.sum<number>('batches.rows_failed').as('failed'),
    ])
    .groupBy('jobs.tenant_id');
  const seconds =
    dialect === 'postgresql'
      ? sql<number>`extract(epoch from (finished_at - started_at))`
      : sql<number>`(julianday(finished_at) - julianday(started_at)) * 86400.0`;
  let durations = db
    .selectFrom('jobs')
    .select((eb) => [
      'tenant_id',
      eb.fn.avg<number>(seconds).as('avg'),
      eb.fn.sum<number>(seconds).as('total'),
    ])
    .where('finished_at', 'is not', null)
    .where('started_at', 'is not', null)
    .where('status', 'in', ['completed', 'completed_with_errors'])
    .groupBy('tenant_id');
  let finishedRows = db
    .selectFrom('batches')
    .innerJoin('jobs', 'jobs.id', 'batches.job_id')
    .select((eb) => ['jobs.tenant_id', eb.fn.sum<number>('batches.rows_written').as('written')])
    .where('jobs.status', 'in', ['completed', 'completed_with_errors'])
    .groupBy('jobs.tenant_id');
  if (tenantId !== null) {
    byStatus = byStatus.where('tenant_id', '=', tenantId);
    rows = rows.where('jobs.tenant_id', '=', tenantId);
    durations = durations.where('tenant_id', '=', tenantId);
    finishedRows = finishedRows.where('jobs.tenant_id', '=', tenantId);
  }
  const [s, r, d, f] = await Promise.all([
    byStatus.execute(),
    rows.execute(),
    durations.execute(),
    finishedRows.execute(),
  ]);
  const tenants = new Set<string>([
    ...(tenantId !== null ? [tenantId] : []),
    ...s.map((x) => x.tenant_id),
  ]);
  return [...tenants].sort().map((t) => {
    const statuses: Record<string, number> = {};
    for (const x of s.filter((x) => x.tenant_id === t)) statuses[x.status] = Number(x.n);
    const done =
      (statuses.completed ?? 0) + (statuses.completed_with_errors ?? 0) + (statuses.failed ?? 0);
    const rr = r.find((x) => x.tenant_id === t);
    const dd = d.find((x) => x.tenant_id === t);
    const ff = f.find((x) => x.tenant_id === t);
    const totalSeconds = Number(dd?.total ?? 0);
    return {
      tenantId: t,
      totalJobs: Object.values(statuses).reduce((a, b) => a + b, 0),
      jobsByStatus: statuses,
      successRate: done > 0 ? (statuses.completed ?? 0) / done : null,
      recordsProcessed: Number(rr?.written ?? 0),
      recordsFailed: Number(rr?.failed ?? 0),
      averageDurationSeconds: dd?.avg === null || dd?.avg === undefined ? null : Number(dd.avg),
      rowsPerSecond: totalSeconds > 0 ? Number(ff?.written ?? 0) / totalSeconds : null,
    };
  });
}

/** Rows done (written + failed) per table by batches finished since `since`: the recent rate. */
export async function recentThroughput(
  db: Kysely<Database>,
  jobId: string,
  since: string,
): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('batches')
    .select((eb) => ['table_name', eb.fn.sum<number>(sql`rows_written + rows_failed`).as('rows')])
    .where('job_id', '=', jobId)
    .where('finished_at', '>=', since)
    .groupBy('table_name')
    .execute();
  return new Map(rows.map((r) => [r.table_name, Number(r.rows ?? 0)]));
}
