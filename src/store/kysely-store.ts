import {
  Kysely,
  Migrator,
  sql,
  type Dialect,
  type Insertable,
  type SelectQueryBuilder,
} from 'kysely';
import { FreightError } from '../domain/errors.js';
import type { JobStatus } from '../domain/job.js';
import { describeConnection, parseConnectionConfig } from '../domain/connection.js';
import { newJobId, newShortId } from '../domain/ids.js';
import { encodeKey } from '../domain/keys.js';
import type {
  Batch,
  Job,
  JobError,
  JobTable,
  JobWithSecrets,
  NewRecordLog,
} from '../domain/model.js';
import type { BatchCounts, BatchOutcome, ClaimLimits, TableActivity } from '../engine/ledger.js';
import type { KeyRange } from '../engine/ports.js';
import { CodeMigrationProvider, type StoreDialect } from './migrations/index.js';
import { fromJobTable, iso, nowIso, toBatch, toJob, toJobTable } from './rows.js';
import type { Database, JobTablesTable } from './schema.js';
import type { SecretBox } from './secret-box.js';
import type { MetadataStore, NewJob } from './store.js';
import * as cp from './control-plane-queries.js';
import * as jq from './job-queries.js';
import * as wq from './webhook-queries.js';
import type { Webhook, WebhookDelivery, WebhookEvent, WebhookKind } from '../domain/webhooks.js';
import type {
  ApiKey,
  AuditEvent,
  NewAuditEvent,
  Role,
  Tenant,
  WorkerHeartbeat,
} from '../domain/access.js';
import type { BatchStatus, RecordStatus } from '../domain/job.js';
import type { RecordLog } from '../domain/model.js';

const INSERT_CHUNK = 400;

/** The metadata store on Kysely: the same queries on SQLite and PostgreSQL. */
export class KyselyStore implements MetadataStore {
  readonly db: Kysely<Database>;

  constructor(
    dialect: Dialect,
    readonly dialect_: StoreDialect,
    private readonly box: SecretBox,
    private readonly beforeMigrate: () => Promise<void> = async () => {},
    /**
     * The PostgreSQL schema the store lives in. Kysely's migrator looks for its own tables in every
     * schema unless told which one, so a second installation in the same database would see the
     * first one's and never create its own.
     */
    private readonly migrationSchema?: string,
  ) {
    this.db = new Kysely<Database>({ dialect });
  }

  get dialect(): StoreDialect {
    return this.dialect_;
  }

  async migrate(): Promise<void> {
    await this.beforeMigrate();
    const migrator = new Migrator({
      db: this.db,
      provider: new CodeMigrationProvider(this.dialect_),
      ...(this.migrationSchema ? { migrationTableSchema: this.migrationSchema } : {}),
    });
    let { error, results } = await migrator.migrateToLatest();
    // Kysely's migrator lists the tables of every schema in the database; another application
    // dropping a schema or table at that moment makes the catalog query fail ("schema … does not
    // exist"). That is not our store's problem: look again (applied migrations are not re-run).
    for (let attempt = 1; error && isCatalogRace(error) && attempt <= 3; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      ({ error, results } = await migrator.migrateToLatest());
    }
    if (error) {
      const failed = results?.find((r) => r.status === 'Error');
      throw new FreightError(
        'CONFIG_INVALID',
        `metadata store migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async ping(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  // ── Jobs ──────────────────────────────────────────────────────────────────────────────────

  async createJob(job: NewJob): Promise<Job> {
    const now = nowIso();
    const row = {
      id: newJobId(),
      tenant_id: job.tenantId,
      status: 'pending',
      source_type: job.source.type,
      target_type: job.target.type,
      source_config: this.box.seal(JSON.stringify(job.source)),
      target_config: this.box.seal(JSON.stringify(job.target)),
      source_description: describeConnection(job.source),
      target_description: describeConnection(job.target),
      options: JSON.stringify(job.options),
      started_by: job.startedBy,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
      lock_owner: null,
      lock_kind: null,
      lock_expires_at: null,
    };
    await this.db.insertInto('jobs').values(row).execute();
    return toJob(row);
  }

  async getJob(jobId: string, tenantId?: string): Promise<Job | null> {
    let q = this.db.selectFrom('jobs').selectAll().where('id', '=', jobId);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const row = await q.executeTakeFirst();
    return row ? toJob(row) : null;
  }

  async getJobWithSecrets(jobId: string): Promise<JobWithSecrets | null> {
    const row = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', jobId)
      .executeTakeFirst();
    if (!row) return null;
    return {
      ...toJob(row),
      source: parseConnectionConfig(JSON.parse(this.box.open(row.source_config))),
      target: parseConnectionConfig(JSON.parse(this.box.open(row.target_config))),
    };
  }

  async getJobStatus(jobId: string): Promise<JobStatus | null> {
    const row = await this.db
      .selectFrom('jobs')
      .select('status')
      .where('id', '=', jobId)
      .executeTakeFirst();
    return row ? (row.status as JobStatus) : null;
  }

  async transitionJob(
    jobId: string,
    from: readonly JobStatus[],
    to: JobStatus,
    patch: { error?: JobError | null; startedAt?: string; finishedAt?: string | null } = {},
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({
        status: to,
        updated_at: nowIso(),
        ...(patch.error !== undefined
          ? { error_code: patch.error?.code ?? null, error_message: patch.error?.message ?? null }
          : {}),
        ...(patch.startedAt !== undefined ? { started_at: patch.startedAt } : {}),
        ...(patch.finishedAt !== undefined ? { finished_at: patch.finishedAt } : {}),
      })
      .where('id', '=', jobId)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  // ── Job tables ────────────────────────────────────────────────────────────────────────────

  async listJobTables(jobId: string): Promise<JobTable[]> {
    const rows = await this.db
      .selectFrom('job_tables')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('ordinal')
      .execute();
    return rows.map(toJobTable);
  }

  async saveJobTable(table: JobTable): Promise<void> {
    const values = {
      ...fromJobTable(table),
      job_id: table.jobId,
      name: table.name,
      updated_at: nowIso(),
    } as Insertable<JobTablesTable>;
    await this.db
      .insertInto('job_tables')
      .values(values)
      .onConflict((oc) => oc.columns(['job_id', 'name']).doUpdateSet(values))
      .execute();
  }

  async updateJobTable(
    jobId: string,
    name: string,
    patch: Partial<Omit<JobTable, 'jobId' | 'name'>>,
  ): Promise<void> {
    await this.db
      .updateTable('job_tables')
      .set({ ...fromJobTable(patch), updated_at: nowIso() })
      .where('job_id', '=', jobId)
      .where('name', '=', name)
      .execute();
  }

  // ── Batches ───────────────────────────────────────────────────────────────────────────────

  async addBatches(
    jobId: string,
    tableName: string,
    batches: ReadonlyArray<{ seq: number; range: KeyRange }>,
    maxAttempts: number,
    progress: { planCursor: readonly unknown[] | null; plannedRows: number; done?: boolean },
  ): Promise<void> {
    const now = nowIso();
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < batches.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('batches')
          .values(
            batches.slice(i, i + INSERT_CHUNK).map((b) => ({
              job_id: jobId,
              table_name: tableName,
              seq: b.seq,
              lo: b.range.lo === null ? null : encodeKey(b.range.lo),
              hi: b.range.hi === null ? null : encodeKey(b.range.hi),
              status: 'pending',
              max_attempts: maxAttempts,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      }
      await trx
        .updateTable('job_tables')
        .set({
          ...fromJobTable({
            planCursor: progress.planCursor,
            plannedRows: progress.plannedRows,
            ...(progress.done ? { status: 'planned' as const } : {}),
          }),
          updated_at: now,
        })
        .where('job_id', '=', jobId)
        .where('name', '=', tableName)
        .execute();
    });
  }

  /** A due retry first (it has waited), else the first pending batch — one statement, two index seeks. */
  async claimBatch(
    jobId: string,
    workerId: string,
    leaseMs: number,
    limits: ClaimLimits = {},
  ): Promise<Batch | null> {
    const first = (db: Kysely<Database>, status: 'retrying' | 'pending', now: string) => {
      let q = db
        .selectFrom('batches')
        .select('id')
        .where('job_id', '=', jobId)
        .where('status', '=', status)
        .$if(status === 'retrying', (qb) => qb.where('next_attempt_at', '<=', now))
        .orderBy('id')
        .limit(1);
      if (this.dialect_ === 'postgresql') q = q.forUpdate().skipLocked();
      return q;
    };
    return this.claim(
      workerId,
      leaseMs,
      (db, now) =>
        db.selectNoFrom((eb) =>
          eb.fn
            .coalesce(
              eb.selectFrom(first(db, 'retrying', now).as('r')).select('r.id'),
              eb.selectFrom(first(db, 'pending', now).as('p')).select('p.id'),
            )
            .as('id'),
        ) as unknown as SelectQueryBuilder<Database, 'batches', { id: number }>,
      jobId,
      limits,
    );
  }

  async claimBatchById(batchId: number, workerId: string, leaseMs: number): Promise<Batch | null> {
    return this.claim(workerId, leaseMs, (db) => {
      let q = db
        .selectFrom('batches')
        .select('id')
        .where('id', '=', batchId)
        .where('status', 'in', ['pending', 'retrying']);
      if (this.dialect_ === 'postgresql') q = q.forUpdate().skipLocked();
      return q;
    });
  }

  /**
   * Claims the batch `pick` selects, in one statement: running, leased to `workerId`, attempt
   * counted (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on each other). A batch
   * that ran before flips its earlier `failed` record logs to `retrying` (DESIGN.md §4), so the
   * record log always tells which failures are current.
   */
  private async claim(
    workerId: string,
    leaseMs: number,
    pick: (
      db: Kysely<Database>,
      now: string,
    ) => SelectQueryBuilder<Database, 'batches', { id: number }>,
    jobId?: string,
    limits: ClaimLimits = {},
  ): Promise<Batch | null> {
    const now = nowIso();
    const row = await this.db
      .updateTable('batches')
      .set((eb) => ({
        status: 'running',
        attempts: eb('attempts', '+', 1),
        worker_id: workerId,
        lease_expires_at: new Date(Date.now() + leaseMs).toISOString(),
        next_attempt_at: null,
        started_at: now,
        updated_at: now,
      }))
      .where('id', '=', (eb) => eb.selectFrom(pick(this.db, now).as('picked')).select('picked.id'))
      .where('status', 'in', ['pending', 'retrying'])
      .$if(Boolean(jobId && limits.maxRunning), (q) =>
        q.where(
          (eb) =>
            eb
              .selectFrom('batches as r')
              .select((e) => e.fn.countAll().as('n'))
              .where('r.job_id', '=', jobId!)
              .where('r.status', '=', 'running'),
          '<',
          limits.maxRunning!,
        ),
      )
      .$if(Boolean(jobId && limits.onlyWhileRunning), (q) =>
        q.where(
          (eb) => {
            let status = eb
              .selectFrom('jobs as cj')
              .select('cj.status')
              .where('cj.id', '=', jobId!);
            if (this.dialect_ === 'postgresql') status = status.forShare();
            return status;
          },
          '=',
          'running',
        ),
      )
      .$if(Boolean(jobId && limits.maxRunningForTenant), (q) =>
        q.where(
          (eb) =>
            eb
              .selectFrom('batches as r')
              .innerJoin('jobs as j', 'j.id', 'r.job_id')
              .select((e) => e.fn.countAll().as('n'))
              .where('r.status', '=', 'running')
              .where('j.tenant_id', '=', (e) =>
                e.selectFrom('jobs as me').select('me.tenant_id').where('me.id', '=', jobId!),
              ),
          '<',
          limits.maxRunningForTenant!,
        ),
      )
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    if (row.attempts > 1) {
      await this.db
        .updateTable('record_logs')
        .set({ status: 'retrying' })
        .where('batch_id', '=', row.id)
        .where('status', '=', 'failed')
        .execute();
    }
    return toBatch(row);
  }

  async renewLease(batchId: number, workerId: string, leaseMs: number): Promise<boolean> {
    const result = await this.db
      .updateTable('batches')
      .set({ lease_expires_at: new Date(Date.now() + leaseMs).toISOString() })
      .where('id', '=', batchId)
      .where('worker_id', '=', workerId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async finishBatch(
    batchId: number,
    workerId: string,
    outcome: BatchOutcome,
    logs: readonly NewRecordLog[] = [],
  ): Promise<boolean> {
    if (logs.length === 0) return this.updateFinishedBatch(this.db, batchId, workerId, outcome);
    return this.db.transaction().execute(async (trx) => {
      if (!(await this.updateFinishedBatch(trx, batchId, workerId, outcome))) return false;
      await this.insertLogs(trx, logs);
      return true;
    });
  }

  private async updateFinishedBatch(
    db: Kysely<Database>,
    batchId: number,
    workerId: string,
    outcome: BatchOutcome,
  ): Promise<boolean> {
    const now = nowIso();
    const set =
      outcome.status === 'retrying'
        ? {
            status: 'retrying',
            ...(outcome.extendBudget ? { max_attempts: sql<number>`max_attempts + 1` } : {}),
            next_attempt_at: outcome.nextAttemptAt,
            last_error: outcome.error,
            duration_ms: Math.round(outcome.durationMs),
            worker_id: null,
            lease_expires_at: null,
            updated_at: now,
          }
        : {
            status: outcome.status,
            rows_read: outcome.rowsRead,
            rows_written: outcome.rowsWritten,
            rows_failed: outcome.rowsFailed,
            duration_ms: Math.round(outcome.durationMs),
            last_error: outcome.error ?? null,
            lease_expires_at: null,
            finished_at: now,
            updated_at: now,
          };
    const result = await db
      .updateTable('batches')
      .set(set)
      .where('id', '=', batchId)
      .where('worker_id', '=', workerId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async releaseBatch(batchId: number, workerId: string): Promise<void> {
    await this.db
      .updateTable('batches')
      .set({ status: 'pending', worker_id: null, lease_expires_at: null, updated_at: nowIso() })
      .where('id', '=', batchId)
      .where('worker_id', '=', workerId)
      .where('status', '=', 'running')
      .execute();
  }

  async requeueStaleBatches(
    jobId: string,
    options: { force?: boolean; exceptWorker?: string } = {},
  ): Promise<number> {
    let q = this.db
      .updateTable('batches')
      .set({ status: 'pending', worker_id: null, lease_expires_at: null, updated_at: nowIso() })
      .where('job_id', '=', jobId)
      .where('status', '=', 'running');
    if (options.force) {
      if (options.exceptWorker) q = q.where('worker_id', '!=', options.exceptWorker);
    } else {
      q = q.where('lease_expires_at', '<', nowIso());
    }
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async resetFailedBatches(
    jobId: string,
    batchIds: readonly number[] | null,
    maxRetries: number,
  ): Promise<number> {
    let q = this.db
      .updateTable('batches')
      .set((eb) => ({
        status: 'pending',
        max_attempts: eb('attempts', '+', maxRetries + 1),
        worker_id: null,
        lease_expires_at: null,
        next_attempt_at: null,
        updated_at: nowIso(),
      }))
      .where('job_id', '=', jobId)
      .where('status', '=', 'failed');
    if (batchIds !== null) {
      if (batchIds.length === 0) return 0;
      q = q.where('id', 'in', [...batchIds]);
    }
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async nextRetryAt(jobId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('batches')
      .select((eb) => eb.fn.min('next_attempt_at').as('next'))
      .where('job_id', '=', jobId)
      .where('status', '=', 'retrying')
      .executeTakeFirst();
    const next = row?.next as unknown;
    if (next === null || next === undefined) return null;
    return next instanceof Date ? next.toISOString() : String(next);
  }

  async acquireJobLock(
    jobId: string,
    owner: string,
    kind: 'plan' | 'finalize',
    leaseMs: number,
  ): Promise<boolean> {
    const now = nowIso();
    const result = await this.db
      .updateTable('jobs')
      .set({
        lock_owner: owner,
        lock_kind: kind,
        lock_expires_at: new Date(Date.now() + leaseMs).toISOString(),
      })
      .where('id', '=', jobId)
      .where((eb) =>
        eb.or([
          eb('lock_owner', 'is', null),
          eb('lock_owner', '=', owner),
          eb('lock_expires_at', '<', now),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async releaseJobLock(jobId: string, owner: string | null): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ lock_owner: null, lock_kind: null, lock_expires_at: null })
      .where('id', '=', jobId)
      .$if(owner !== null, (q) => q.where('lock_owner', '=', owner!))
      .execute();
  }

  async tableActivity(jobId: string): Promise<TableActivity[]> {
    const [batches, warnings] = await Promise.all([
      this.db
        .selectFrom('batches')
        .select((eb) => [
          'table_name',
          eb.fn.min('started_at').as('first'),
          eb.fn.max('finished_at').as('last'),
        ])
        .where('job_id', '=', jobId)
        .groupBy('table_name')
        .execute(),
      this.db
        .selectFrom('record_logs')
        .select((eb) => ['table_name', eb.fn.countAll<number>().as('n')])
        .where('job_id', '=', jobId)
        .where('status', '=', 'warning')
        .groupBy('table_name')
        .execute(),
    ]);
    const warned = new Map(warnings.map((w) => [w.table_name, Number(w.n)]));
    return batches.map((b) => ({
      tableName: b.table_name,
      firstStartedAt: iso(b.first),
      lastFinishedAt: iso(b.last),
      warnings: warned.get(b.table_name) ?? 0,
    }));
  }

  async batchCounts(jobId: string): Promise<BatchCounts[]> {
    const rows = await this.db
      .selectFrom('batches')
      .select((eb) => [
        'table_name',
        'status',
        eb.fn.countAll<number>().as('n'),
        eb.fn.sum<number>('rows_read').as('rows_read'),
        eb.fn.sum<number>('rows_written').as('rows_written'),
        eb.fn.sum<number>('rows_failed').as('rows_failed'),
      ])
      .where('job_id', '=', jobId)
      .groupBy(['table_name', 'status'])
      .execute();
    type Mutable = { -readonly [K in keyof BatchCounts]: BatchCounts[K] };
    const byTable = new Map<string, Mutable>();
    for (const row of rows) {
      let c = byTable.get(row.table_name);
      if (!c) {
        c = {
          tableName: row.table_name,
          total: 0,
          pending: 0,
          running: 0,
          retrying: 0,
          succeeded: 0,
          failed: 0,
          rowsRead: 0,
          rowsWritten: 0,
          rowsFailed: 0,
        };
        byTable.set(row.table_name, c);
      }
      const n = Number(row.n);
      c.total += n;
      const status = row.status as 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed';
      if (status in c) c[status] += n;
      c.rowsRead += Number(row.rows_read ?? 0);
      c.rowsWritten += Number(row.rows_written ?? 0);
      c.rowsFailed += Number(row.rows_failed ?? 0);
    }
    return [...byTable.values()];
  }

  // ── Record logs ───────────────────────────────────────────────────────────────────────────

  async appendRecordLogs(entries: readonly NewRecordLog[]): Promise<void> {
    if (entries.length === 0) return;
    if (entries.length <= INSERT_CHUNK) await this.insertLogs(this.db, entries);
    else await this.db.transaction().execute((trx) => this.insertLogs(trx, entries));
  }

  private async insertLogs(db: Kysely<Database>, entries: readonly NewRecordLog[]): Promise<void> {
    const now = nowIso();
    for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
      await db
        .insertInto('record_logs')
        .values(
          entries.slice(i, i + INSERT_CHUNK).map((e) => ({
            job_id: e.jobId,
            batch_id: e.batchId,
            table_name: e.tableName,
            scope: e.scope,
            record_id: e.recordId,
            status: e.status,
            error_code: e.errorCode,
            error_message: e.errorMessage,
            retry_count: e.retryCount,
            rows: e.rows,
            created_at: now,
          })),
        )
        .execute();
    }
  }

  async failedRecordIds(jobId: string, tableName: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('record_logs')
      .select('record_id')
      .where('job_id', '=', jobId)
      .where('table_name', '=', tableName)
      .where('scope', '=', 'record')
      .where('status', '=', 'failed')
      .execute();
    return rows.map((r) => r.record_id);
  }

  // ── Control plane (delegated to small query modules) ───────────────────────────────────────

  listJobs(query: jq.JobListQuery): Promise<{ jobs: Job[]; total: number }> {
    return jq.listJobs(this.db, query);
  }

  unfinishedJobs(): Promise<Array<{ id: string; status: JobStatus }>> {
    return jq.unfinishedJobs(this.db);
  }

  listBatches(
    jobId: string,
    query: { status?: readonly BatchStatus[]; limit: number; offset: number },
  ): Promise<{ batches: Batch[]; total: number }> {
    return jq.listBatches(this.db, jobId, query);
  }

  batchesById(
    jobId: string,
    ids: readonly number[],
  ): Promise<Array<{ id: number; status: BatchStatus }>> {
    return jq.batchesById(this.db, jobId, ids);
  }

  listRecordLogs(
    jobId: string,
    query: { status?: readonly RecordStatus[]; limit: number; before?: number },
  ): Promise<{ logs: RecordLog[]; total: number }> {
    return jq.listRecordLogs(this.db, jobId, query);
  }

  recordLogPages(
    jobId: string,
    query?: { status?: readonly RecordStatus[]; pageSize?: number },
  ): AsyncIterable<RecordLog[]> {
    return jq.recordLogPages(this.db, jobId, query);
  }

  jobStats(tenantId: string | null): Promise<jq.JobStats[]> {
    return jq.jobStats(this.db, this.dialect_, tenantId);
  }

  recentThroughput(jobId: string, since: string): Promise<Map<string, number>> {
    return jq.recentThroughput(this.db, jobId, since);
  }

  createTenant(tenant: { id: string; name: string }): Promise<Tenant> {
    return cp.createTenant(this.db, tenant);
  }

  getTenant(id: string): Promise<Tenant | null> {
    return cp.getTenant(this.db, id);
  }

  listTenants(): Promise<Tenant[]> {
    return cp.listTenants(this.db);
  }

  insertApiKey(key: {
    id: string;
    tenantId: string;
    role: Role;
    name: string;
    secretHash: string;
    createdBy: string | null;
    expiresAt: string | null;
  }): Promise<ApiKey> {
    return cp.insertApiKey(this.db, key);
  }

  getApiKey(id: string): Promise<(ApiKey & { secretHash: string }) | null> {
    return cp.getApiKey(this.db, id);
  }

  listApiKeys(tenantId?: string): Promise<ApiKey[]> {
    return cp.listApiKeys(this.db, tenantId);
  }

  revokeApiKey(id: string): Promise<boolean> {
    return cp.revokeApiKey(this.db, id);
  }

  touchApiKey(id: string): Promise<void> {
    return cp.touchApiKey(this.db, id);
  }

  countApiKeys(): Promise<number> {
    return cp.countApiKeys(this.db);
  }

  appendAudit(event: NewAuditEvent): Promise<void> {
    return cp.appendAudit(this.db, event);
  }

  listAudit(query: {
    tenantId?: string;
    limit: number;
    before?: number;
    action?: string;
  }): Promise<AuditEvent[]> {
    return cp.listAudit(this.db, query);
  }

  async createWebhook(w: {
    tenantId: string;
    url: string;
    kind: WebhookKind;
    secret: string | null;
    events: readonly WebhookEvent[];
    description: string | null;
  }): Promise<Webhook> {
    // The URL is sealed like a password: a Slack incoming-webhook URL is itself the credential.
    const hook = await wq.insertWebhook(this.db, {
      id: newShortId('wh'),
      tenantId: w.tenantId,
      url: this.box.seal(w.url),
      kind: w.kind,
      sealedSecret: w.secret ? this.box.seal(w.secret) : null,
      events: w.events,
      description: w.description,
    });
    return this.openHook(hook);
  }

  private openHook<T extends Webhook>(hook: T): T {
    return { ...hook, url: this.box.open(hook.url) };
  }

  async listWebhooks(tenantId: string): Promise<Webhook[]> {
    return (await wq.listWebhooks(this.db, tenantId)).map((h) => this.openHook(h));
  }

  async getWebhook(id: string, tenantId: string): Promise<Webhook | null> {
    const hook = await wq.getWebhook(this.db, id, tenantId);
    if (!hook) return null;
    const { sealedSecret: _secret, ...rest } = hook;
    return this.openHook(rest);
  }

  deleteWebhook(id: string, tenantId: string): Promise<boolean> {
    return wq.deleteWebhook(this.db, id, tenantId);
  }

  enqueueWebhookDeliveries(d: {
    tenantId: string;
    jobId: string;
    event: WebhookEvent;
    occurrence: string;
    payloadFor: (hook: Webhook) => string;
  }): Promise<number> {
    return wq.enqueueDeliveries(this.db, {
      ...d,
      payloadFor: (hook) => d.payloadFor(this.openHook(hook)),
    });
  }

  async claimWebhookDeliveries(owner: string, leaseMs: number, limit: number) {
    const claimed = await wq.claimDeliveries(this.db, owner, leaseMs, limit);
    return claimed.map(({ delivery, payload, webhook }) => {
      const { sealedSecret, ...hook } = webhook;
      return {
        delivery,
        payload,
        webhook: this.openHook(hook),
        secret: sealedSecret ? this.box.open(sealedSecret) : null,
      };
    });
  }

  recordWebhookDelivery(
    id: number,
    owner: string,
    outcome: {
      status: 'delivered' | 'failed' | 'pending';
      statusCode: number | null;
      error: string | null;
      nextAttemptAt?: string;
    },
  ): Promise<void> {
    return wq.recordDelivery(this.db, id, owner, outcome);
  }

  listWebhookDeliveries(
    webhookId: string,
    query: { limit: number; before?: number },
  ): Promise<WebhookDelivery[]> {
    return wq.listDeliveries(this.db, webhookId, query);
  }

  heartbeat(worker: Omit<WorkerHeartbeat, 'heartbeatAt'>): Promise<void> {
    return cp.heartbeat(this.db, worker);
  }

  listWorkers(since: string): Promise<WorkerHeartbeat[]> {
    return cp.listWorkers(this.db, since);
  }

  removeWorker(id: string): Promise<void> {
    return cp.removeWorker(this.db, id);
  }

  /** Re-seals every stored secret still sealed with an earlier key (after a key change). */
  async rotateSecrets(): Promise<{ jobs: number; webhooks: number }> {
    let jobs = 0;
    let webhooks = 0;
    const jobRows = await this.db
      .selectFrom('jobs')
      .select(['id', 'source_config', 'target_config'])
      .execute();
    for (const row of jobRows) {
      if (!this.box.isStale(row.source_config) && !this.box.isStale(row.target_config)) continue;
      await this.db
        .updateTable('jobs')
        .set({
          source_config: this.box.seal(this.box.open(row.source_config)),
          target_config: this.box.seal(this.box.open(row.target_config)),
        })
        .where('id', '=', row.id)
        .execute();
      jobs++;
    }
    const hooks = await this.db.selectFrom('webhooks').select(['id', 'url', 'secret']).execute();
    for (const row of hooks) {
      if (!this.box.isStale(row.url) && (!row.secret || !this.box.isStale(row.secret))) continue;
      await this.db
        .updateTable('webhooks')
        .set({
          url: this.box.seal(this.box.open(row.url)),
          secret: row.secret ? this.box.seal(this.box.open(row.secret)) : null,
        })
        .where('id', '=', row.id)
        .execute();
      webhooks++;
    }
    return { jobs, webhooks };
  }
}

/** PostgreSQL's invalid_schema_name / undefined_table, raised by a concurrent DROP elsewhere. */
function isCatalogRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '3F000' || code === '42P01';
}
