import type { ColumnType, Generated } from 'kysely';

/**
 * Kysely's view of the metadata store. Timestamps are `timestamptz` on PostgreSQL and ISO-8601
 * text on SQLite; both are read back as ISO strings (see `rows.ts`). JSON columns are text.
 */
type Timestamp = ColumnType<string, string, string>;
type NullableTimestamp = ColumnType<string | null, string | null | undefined, string | null>;
type Count = ColumnType<number, number | undefined, number>;

export interface JobsTable {
  id: string;
  tenant_id: string;
  status: string;
  source_type: string;
  target_type: string;
  /** Encrypted (secret-box.ts). */
  source_config: string;
  target_config: string;
  source_description: string;
  target_description: string;
  options: string;
  started_by: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  lock_owner: ColumnType<string | null, string | null | undefined, string | null>;
  lock_kind: ColumnType<string | null, string | null | undefined, string | null>;
  lock_expires_at: NullableTimestamp;
}

export interface JobTablesTable {
  job_id: string;
  name: string;
  target_name: string;
  ordinal: number;
  status: string;
  plan: string | null;
  plan_cursor: string | null;
  created_by_job: ColumnType<number, number, number>;
  estimated_rows: Count;
  planned_rows: Count;
  source_rows: number | null;
  target_rows: number | null;
  source_checksum: string | null;
  target_checksum: string | null;
  validation: string;
  error: string | null;
  notes: string;
  updated_at: Timestamp;
}

export interface BatchesTable {
  id: Generated<number>;
  job_id: string;
  table_name: string;
  seq: number;
  lo: string | null;
  hi: string | null;
  status: string;
  attempts: Count;
  max_attempts: number;
  rows_read: Count;
  rows_written: Count;
  rows_failed: Count;
  duration_ms: number | null;
  worker_id: string | null;
  lease_expires_at: NullableTimestamp;
  next_attempt_at: NullableTimestamp;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export interface RecordLogsTable {
  id: Generated<number>;
  job_id: string;
  batch_id: number | null;
  table_name: string;
  scope: string;
  record_id: string;
  status: string;
  error_code: string | null;
  error_message: string | null;
  retry_count: number;
  rows: number;
  created_at: Timestamp;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: Timestamp;
  disabled_at: NullableTimestamp;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  role: string;
  name: string;
  /** SHA-256 of the key's secret part: the key itself is shown once and never stored. */
  secret_hash: string;
  created_by: string | null;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: Timestamp;
  tenant_id: string | null;
  actor: string | null;
  role: string | null;
  action: string;
  method: string;
  path: string;
  target: string | null;
  status: number;
  result: string;
  request_id: string | null;
  details: string | null;
}

export interface WorkersTable {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  started_at: Timestamp;
  heartbeat_at: Timestamp;
  info: string;
}

export interface WebhooksTable {
  id: string;
  tenant_id: string;
  url: string;
  kind: string;
  /** Encrypted (secret-box.ts). */
  secret: string | null;
  events: string;
  description: string | null;
  created_at: Timestamp;
}

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  webhook_id: string;
  tenant_id: string;
  job_id: string;
  event: string;
  occurrence: string;
  status: string;
  attempts: Count;
  next_attempt_at: Timestamp;
  lease_owner: string | null;
  lease_expires_at: NullableTimestamp;
  last_status_code: number | null;
  last_error: string | null;
  payload: string;
  created_at: Timestamp;
  delivered_at: NullableTimestamp;
}

export interface Database {
  jobs: JobsTable;
  job_tables: JobTablesTable;
  batches: BatchesTable;
  record_logs: RecordLogsTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  workers: WorkersTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}
