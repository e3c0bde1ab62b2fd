import type { JobStatus } from '../domain/job.js';
import type { JobError } from '../domain/model.js';
import type { BatchCounts } from './ledger.js';

/**
 * The job's final status from its batches and the problems found after the load: `failed` when
 * nothing could be copied, `completed_with_errors` when anything is missing or wrong (failed
 * batches or records, indexes or constraints not built, a validation mismatch), else `completed`.
 */
export function verdict(
  counts: readonly BatchCounts[],
  problems: readonly string[],
): [JobStatus, JobError | null] {
  const sum = (k: 'total' | 'failed' | 'rowsFailed' | 'rowsWritten') =>
    counts.reduce((n, c) => n + c[k], 0);
  const batches = sum('total');
  const failedBatches = sum('failed');
  const failedRows = sum('rowsFailed');
  if (batches > 0 && failedBatches === batches && sum('rowsWritten') === 0 && failedRows === 0) {
    return [
      'failed',
      { code: 'DATA_ERROR', message: 'every batch failed; see the batches and record logs' },
    ];
  }
  const messages = [...problems];
  if (failedRows > 0) messages.unshift(`${failedRows} record(s) failed`);
  if (failedBatches > 0) messages.unshift(`${failedBatches} of ${batches} batch(es) failed`);
  if (messages.length === 0) return ['completed', null];
  const onlyValidation =
    failedBatches === 0 &&
    failedRows === 0 &&
    problems.every((p) => p.startsWith('validation failed'));
  return [
    'completed_with_errors',
    { code: onlyValidation ? 'VALIDATION_MISMATCH' : 'DATA_ERROR', message: messages.join('; ') },
  ];
}
