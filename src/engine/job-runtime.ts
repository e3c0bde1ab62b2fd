import type { JobTable, JobWithSecrets } from '../domain/model.js';
import type { TablePlan } from './plan.js';
import type { SourceConnector, SourceTable, TargetConnector } from './ports.js';
import { conversionOf, sourceTableOf, utf8BytesColumnsOf } from './table-state.js';
import type { RowConversion } from './value-codec.js';

/** What one process keeps for a job it works on: open connectors and compiled table plans. */
export interface JobRuntime {
  readonly job: JobWithSecrets;
  readonly source: SourceConnector;
  readonly target: TargetConnector;
  readonly tables: Map<string, TableRuntime>;
}

export interface TableRuntime {
  readonly name: string;
  readonly plan: TablePlan;
  readonly sourceTable: SourceTable;
  readonly conversion: RowConversion;
  /** Source columns read as UTF-8 bytes (ReadHints.utf8Bytes). */
  readonly utf8Bytes: ReadonlySet<string>;
  readonly createdByJob: boolean;
}

/** (Re)loads the compiled plans of the job's prepared tables into the runtime. */
export function loadTables(runtime: JobRuntime, rows: readonly JobTable[]): void {
  for (const row of rows) {
    if (row.plan === null || row.status === 'failed' || runtime.tables.has(row.name)) continue;
    const plan = row.plan as TablePlan;
    runtime.tables.set(row.name, {
      name: row.name,
      plan,
      sourceTable: sourceTableOf(plan),
      conversion: conversionOf(plan, runtime.target.caps),
      utf8Bytes: utf8BytesColumnsOf(plan, runtime.target.caps),
      createdByJob: row.createdByJob,
    });
  }
}
