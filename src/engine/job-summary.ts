import type { JobTableStatus, ValidationStatus } from '../domain/model.js';
import type { JobLedger } from './ledger.js';
import type { TablePlan } from './plan.js';

/** A table's progress and outcome, from the store (what the CLI summary and the API show). */
export interface TableOutcome {
  readonly name: string;
  readonly target: string;
  readonly status: JobTableStatus;
  readonly estimatedRows: number;
  readonly plannedRows: number;
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsFailed: number;
  readonly rowsWarned: number;
  readonly batches: number;
  readonly batchesSucceeded: number;
  readonly batchesFailed: number;
  readonly batchesOpen: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number;
  readonly rowsPerSecond: number;
  readonly sourceRows: number | null;
  readonly targetRows: number | null;
  readonly validation: ValidationStatus;
  readonly notes: readonly string[];
  readonly errors: readonly string[];
}

export async function summarizeTables(ledger: JobLedger, jobId: string): Promise<TableOutcome[]> {
  const [rows, counts, activity] = await Promise.all([
    ledger.listJobTables(jobId),
    ledger.batchCounts(jobId),
    ledger.tableActivity(jobId),
  ]);
  const byCounts = new Map(counts.map((c) => [c.tableName, c]));
  const byActivity = new Map(activity.map((a) => [a.tableName, a]));
  return rows.map((row) => {
    const c = byCounts.get(row.name);
    const a = byActivity.get(row.name);
    const startedAt = a?.firstStartedAt ?? null;
    const finishedAt = a?.lastFinishedAt ?? null;
    const durationMs =
      startedAt && finishedAt ? Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt)) : 0;
    const written = c?.rowsWritten ?? 0;
    return {
      name: row.name,
      target: row.targetName,
      status: row.status,
      estimatedRows: row.estimatedRows,
      plannedRows: row.plannedRows,
      rowsRead: c?.rowsRead ?? 0,
      rowsWritten: written,
      rowsFailed: c?.rowsFailed ?? 0,
      rowsWarned: a?.warnings ?? 0,
      batches: c?.total ?? 0,
      batchesSucceeded: c?.succeeded ?? 0,
      batchesFailed: c?.failed ?? 0,
      batchesOpen: (c?.pending ?? 0) + (c?.running ?? 0) + (c?.retrying ?? 0),
      startedAt,
      finishedAt,
      durationMs,
      rowsPerSecond: durationMs > 0 ? Math.round((written * 1000) / durationMs) : 0,
      sourceRows: row.sourceRows,
      targetRows: row.targetRows,
      validation: row.validation,
      notes: row.notes.length > 0 ? row.notes : ((row.plan as TablePlan | null)?.notes ?? []),
      errors: row.error ? row.error.split('; ') : [],
    };
  });
}
