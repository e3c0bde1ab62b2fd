import type { Operation } from './operation.js';
import {
  createApiKey,
  createTenant,
  listApiKeys,
  listAuditEvents,
  listTenants,
  revokeApiKey,
} from './admin.js';
import { createAccessToken, whoami } from './auth-token.js';
import { healthCheck } from './health.js';
import {
  cancelMigrationJob,
  createMigrationJob,
  getJobProgress,
  getMigrationJob,
  listJobBatches,
  listMigrationJobs,
  retryMigrationJob,
} from './jobs.js';
import { exportMigrationLogs, getMigrationLogs } from './logs.js';
import { getJobStatistics, getTenantStatistics } from './stats.js';
import { getWorkerStatus } from './workers.js';
import { createWebhook, deleteWebhook, listWebhookDeliveries, listWebhooks } from './webhooks.js';

/** Every operation of the API, in the order the OpenAPI document and MCP tool list show them. */
export const OPERATIONS: readonly Operation[] = [
  createMigrationJob,
  listMigrationJobs,
  getMigrationJob,
  getJobProgress,
  listJobBatches,
  retryMigrationJob,
  cancelMigrationJob,
  getMigrationLogs,
  exportMigrationLogs,
  getJobStatistics,
  getWorkerStatus,
  healthCheck,
  getTenantStatistics,
  createWebhook,
  listWebhooks,
  deleteWebhook,
  listWebhookDeliveries,
  createAccessToken,
  whoami,
  createTenant,
  listTenants,
  createApiKey,
  listApiKeys,
  revokeApiKey,
  listAuditEvents,
];
