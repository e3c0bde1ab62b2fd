import type { JobStatus } from '../domain/job.js';
import type { JobError } from '../domain/model.js';
import type { TableOutcome } from '../engine/job-summary.js';
import { formatDuration, formatInt, pad } from './format.js';

export interface MigrationSummary {
  readonly job_id: string;
  readonly status: JobStatus;
  readonly error: JobError | null;
  readonly source: string;
  readonly target: string;
  readonly duration_ms: number;
  readonly tables: ReadonlyArray<{
    readonly name: string;
    readonly target: string;
    readonly rows_read: number;
    readonly rows_written: number;
    readonly rows_failed: number;
    readonly rows_warned: number;
    readonly batches: number;
    readonly batches_failed: number;
    readonly duration_ms: number;
    readonly rows_per_second: number;
    readonly source_rows: number | null;
    readonly target_rows: number | null;
    readonly validation: string;
    readonly notes: readonly string[];
    readonly errors: readonly string[];
  }>;
  readonly totals: {
    readonly rows_read: number;
    readonly rows_written: number;
    readonly rows_failed: number;
    readonly batches: number;
    readonly batches_failed: number;
    readonly rows_per_second: number;
  };
}

export function buildSummary(
  job: { id: string; sourceDescription: string; targetDescription: string },
  outcome: {
    status: JobStatus;
    error: JobError | null;
    tables: readonly TableOutcome[];
    durationMs: number;
  },
): MigrationSummary {
  const tables = outcome.tables.map((t) => ({
    name: t.name,
    target: t.target,
    rows_read: t.rowsRead,
    rows_written: t.rowsWritten,
    rows_failed: t.rowsFailed,
    rows_warned: t.rowsWarned,
    batches: t.batches,
    batches_failed: t.batchesFailed,
    duration_ms: t.durationMs,
    rows_per_second: t.rowsPerSecond,
    source_rows: t.sourceRows,
    target_rows: t.targetRows,
    validation: t.validation,
    notes: t.notes,
    errors: t.errors,
  }));
  const sum = (f: (t: (typeof tables)[number]) => number) => tables.reduce((n, t) => n + f(t), 0);
  const written = sum((t) => t.rows_written);
  return {
    job_id: job.id,
    status: outcome.status,
    error: outcome.error,
    source: job.sourceDescription,
    target: job.targetDescription,
    duration_ms: outcome.durationMs,
    tables,
    totals: {
      rows_read: sum((t) => t.rows_read),
      rows_written: written,
      rows_failed: sum((t) => t.rows_failed),
      batches: sum((t) => t.batches),
      batches_failed: sum((t) => t.batches_failed),
      rows_per_second:
        outcome.durationMs > 0 ? Math.round((written * 1000) / outcome.durationMs) : 0,
    },
  };
}

/** pgloader-style table: one line per table, totals, then validation, notes and errors. */
export function renderSummary(s: MigrationSummary): string {
  const headers = [
    'table name',
    'read',
    'written',
    'failed',
    'batches',
    'duration',
    'rows/s',
    'check',
  ];
  const rows = s.tables.map((t) => [
    t.name,
    formatInt(t.rows_read),
    formatInt(t.rows_written),
    formatInt(t.rows_failed),
    t.batches_failed > 0 ? `${formatInt(t.batches)} (${t.batches_failed} ✗)` : formatInt(t.batches),
    formatDuration(t.duration_ms),
    formatInt(t.rows_per_second),
    t.validation === 'passed'
      ? '✓'
      : t.validation === 'failed'
        ? '✗'
        : t.validation === 'pending'
          ? '-'
          : t.validation,
  ]);
  const total = [
    'Total',
    formatInt(s.totals.rows_read),
    formatInt(s.totals.rows_written),
    formatInt(s.totals.rows_failed),
    formatInt(s.totals.batches),
    formatDuration(s.duration_ms),
    formatInt(s.totals.rows_per_second),
    '',
  ];
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...[...rows, total].map((r) => [...r[i]!].length)),
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => pad(c, widths[i]!, i === 0 ? 'left' : 'right')).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [line(headers), rule, ...rows.map(line), rule, line(total), ''];
  out.push(
    `job ${s.job_id}: ${s.status}${s.error ? ` — ${s.error.code}: ${s.error.message}` : ''}`,
  );
  for (const t of s.tables) {
    if (t.source_rows !== null) {
      out.push(
        `  ${t.name}: source ${formatInt(t.source_rows)} rows, target ${formatInt(t.target_rows ?? 0)} rows, ${formatInt(t.rows_failed)} failed records → ${t.validation}`,
      );
    }
    for (const n of t.notes) out.push(`  note ${t.name}: ${n}`);
    for (const e of t.errors) out.push(`  error ${t.name}: ${e}`);
    if (t.rows_warned > 0)
      out.push(
        `  warning ${t.name}: ${formatInt(t.rows_warned)} record(s) had values changed by policy (see the record logs)`,
      );
  }
  return out.join('\n');
}
