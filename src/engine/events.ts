import type { JobStatus } from '../domain/job.js';

/** What a running job reports as it goes (progress bars, SSE, logs). */
export type JobEvent =
  | { readonly type: 'status'; readonly status: JobStatus }
  | {
      readonly type: 'table-prepared';
      readonly table: string;
      readonly target: string;
      readonly created: boolean;
      readonly estimatedRows: number;
    }
  | {
      readonly type: 'table-planned';
      readonly table: string;
      readonly plannedRows: number;
      readonly batches: number;
      readonly done: boolean;
    }
  | {
      readonly type: 'batch-started';
      readonly table: string;
      readonly batchId: number;
      readonly attempt: number;
    }
  | {
      readonly type: 'batch-finished';
      readonly table: string;
      readonly batchId: number;
      readonly status: 'succeeded' | 'failed' | 'retrying' | 'released';
      readonly rowsWritten: number;
      readonly rowsFailed: number;
      readonly durationMs?: number;
      readonly error?: string;
    }
  | { readonly type: 'table-finalized'; readonly table: string; readonly failed: number }
  | {
      readonly type: 'table-validated';
      readonly table: string;
      readonly passed: boolean;
      readonly sourceRows: number;
      readonly targetRows: number;
    }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly message: string };
