import type {
  ApiKey,
  AuditEvent,
  NewAuditEvent,
  Role,
  Tenant,
  WorkerHeartbeat,
} from '../domain/access.js';
import type { ConnectionConfig } from '../domain/connection.js';
import type { BatchStatus, JobStatus, RecordStatus } from '../domain/job.js';
import type { Batch, Job, JobOptions, JobWithSecrets, RecordLog } from '../domain/model.js';
import type { JobLedger } from '../engine/ledger.js';
import type { Webhook, WebhookDelivery, WebhookEvent, WebhookKind } from '../domain/webhooks.js';
import type { JobListQuery, JobStats } from './job-queries.js';

export interface NewJob {
  readonly tenantId: string;
  readonly source: ConnectionConfig;
  readonly target: ConnectionConfig;
  readonly options: JobOptions;
  readonly startedBy: string | null;
}

/**
 * The metadata store port (DESIGN.md §1). One implementation (`KyselyStore`) over two databases:
 * SQLite for the embedded default, PostgreSQL for distributed deployments.
 */
export interface MetadataStore extends JobLedger {
  readonly dialect: 'sqlite' | 'postgresql';
  /** Applies pending numbered migrations. Safe to run from several processes at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** True when the store answers a trivial query. */
  ping(): Promise<boolean>;

  createJob(job: NewJob): Promise<Job>;
  /** The job if it exists and, when `tenantId` is given, belongs to that tenant. */
  getJob(jobId: string, tenantId?: string): Promise<Job | null>;
  /** The job with decrypted connection configs: for the process that runs it, never for output. */
  getJobWithSecrets(jobId: string): Promise<JobWithSecrets | null>;
  listJobs(query: JobListQuery): Promise<{ jobs: Job[]; total: number }>;
  /** Jobs not yet in a terminal state (re-queued when an embedded server starts). */
  unfinishedJobs(): Promise<Array<{ id: string; status: JobStatus }>>;

  listBatches(
    jobId: string,
    query: { status?: readonly BatchStatus[]; limit: number; offset: number },
  ): Promise<{ batches: Batch[]; total: number }>;
  batchesById(
    jobId: string,
    ids: readonly number[],
  ): Promise<Array<{ id: number; status: BatchStatus }>>;
  listRecordLogs(
    jobId: string,
    query: { status?: readonly RecordStatus[]; limit: number; before?: number },
  ): Promise<{ logs: RecordLog[]; total: number }>;
  recordLogPages(
    jobId: string,
    query?: { status?: readonly RecordStatus[]; pageSize?: number },
  ): AsyncIterable<RecordLog[]>;
  jobStats(tenantId: string | null): Promise<JobStats[]>;
  /** Rows done per table by batches finished since `since` (for smoothed rates and ETAs). */
  recentThroughput(jobId: string, since: string): Promise<Map<string, number>>;

  createTenant(tenant: { id: string; name: string }): Promise<Tenant>;
  getTenant(id: string): Promise<Tenant | null>;
  listTenants(): Promise<Tenant[]>;
  insertApiKey(key: {
    id: string;
    tenantId: string;
    role: Role;
    name: string;
    secretHash: string;
    createdBy: string | null;
    expiresAt: string | null;
  }): Promise<ApiKey>;
  getApiKey(id: string): Promise<(ApiKey & { secretHash: string }) | null>;
  listApiKeys(tenantId?: string): Promise<ApiKey[]>;
  revokeApiKey(id: string): Promise<boolean>;
  touchApiKey(id: string): Promise<void>;
  countApiKeys(): Promise<number>;
  appendAudit(event: NewAuditEvent): Promise<void>;
  listAudit(query: {
    tenantId?: string;
    limit: number;
    before?: number;
    action?: string;
  }): Promise<AuditEvent[]>;
  createWebhook(w: {
    tenantId: string;
    url: string;
    kind: WebhookKind;
    secret: string | null;
    events: readonly WebhookEvent[];
    description: string | null;
  }): Promise<Webhook>;
  listWebhooks(tenantId: string): Promise<Webhook[]>;
  getWebhook(id: string, tenantId: string): Promise<Webhook | null>;
  deleteWebhook(id: string, tenantId: string): Promise<boolean>;
  enqueueWebhookDeliveries(d: {
    tenantId: string;
    jobId: string;
    event: WebhookEvent;
    occurrence: string;
    payloadFor: (hook: Webhook) => string;
  }): Promise<number>;
  /** Due deliveries leased to `owner`, with their webhook and its decrypted signing secret. */
  claimWebhookDeliveries(
    owner: string,
    leaseMs: number,
    limit: number,
  ): Promise<
    Array<{ delivery: WebhookDelivery; payload: string; webhook: Webhook; secret: string | null }>
  >;
  recordWebhookDelivery(
    id: number,
    owner: string,
    outcome: {
      status: 'delivered' | 'failed' | 'pending';
      statusCode: number | null;
      error: string | null;
      nextAttemptAt?: string;
    },
  ): Promise<void>;
  listWebhookDeliveries(
    webhookId: string,
    query: { limit: number; before?: number },
  ): Promise<WebhookDelivery[]>;
  /** Re-seals stored secrets sealed with an earlier key; counts what it re-sealed. */
  rotateSecrets(): Promise<{ jobs: number; webhooks: number }>;
  heartbeat(worker: Omit<WorkerHeartbeat, 'heartbeatAt'>): Promise<void>;
  listWorkers(since: string): Promise<WorkerHeartbeat[]>;
  removeWorker(id: string): Promise<void>;
}
