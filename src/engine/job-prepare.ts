import { FreightError } from '../domain/errors.js';
import type { JobTable, JobWithSecrets } from '../domain/model.js';
import type { JobEvent } from './events.js';
import type { JobLedger } from './ledger.js';
import { qualifiedName, type TablePlan, type TableRef } from './plan.js';
import type { SourceConnector, SourceTable, TargetConnector } from './ports.js';
import { planTables } from './schema-planner.js';

/**
 * Prepares a job's tables once: resolves the table list, introspects, plans (types, names, keys),
 * and makes sure each target table exists — created from the plan, or an existing table holding
 * every planned column. Persisted per table, so a resumed job skips all of it.
 */
export async function prepareTables(
  job: JobWithSecrets,
  ledger: JobLedger,
  source: SourceConnector,
  target: TargetConnector,
  emit: (event: JobEvent) => void,
  signal?: AbortSignal,
): Promise<JobTable[]> {
  const existing = await ledger.listJobTables(job.id);
  if (existing.length > 0 && existing.every((t) => t.plan !== null)) return existing;

  const refs = await resolveTables(job, source, signal);
  const described: SourceTable[] = [];
  for (const ref of refs) {
    signal?.throwIfAborted();
    described.push(await source.describeTable(ref, signal));
  }
  const plans = await planTables(source, target.caps, described, target.defaultSchema, signal);

  const rows: JobTable[] = [];
  for (const [ordinal, plan] of plans.entries()) {
    signal?.throwIfAborted();
    const created = await ensureTargetTable(job, target, plan, signal);
    const row: JobTable = {
      jobId: job.id,
      name: qualifiedName(plan.source),
      targetName: qualifiedName(plan.target),
      ordinal,
      status: 'prepared',
      plan,
      planCursor: null,
      createdByJob: created,
      estimatedRows: plan.estimatedRows,
      plannedRows: 0,
      sourceRows: null,
      targetRows: null,
      sourceChecksum: null,
      targetChecksum: null,
      validation: 'pending',
      error: null,
      notes: created
        ? plan.notes
        : [...plan.notes, `loading into the existing table ${qualifiedName(plan.target)}`],
    };
    await ledger.saveJobTable(row);
    rows.push(row);
    emit({
      type: 'table-prepared',
      table: row.name,
      target: row.targetName,
      created,
      estimatedRows: plan.estimatedRows,
    });
  }
  return rows;
}

async function resolveTables(
  job: JobWithSecrets,
  source: SourceConnector,
  signal?: AbortSignal,
): Promise<TableRef[]> {
  const all = await source.listTables(signal);
  if (!job.options.tables || job.options.tables.length === 0) {
    if (all.length === 0)
      throw new FreightError('TABLE_NOT_FOUND', `the source ${source.description} has no tables`);
    return all;
  }
  return job.options.tables.map((wanted) => {
    const found =
      all.find((t) => qualifiedName(t) === wanted || t.name === wanted) ??
      all.find((t) => t.name.toLowerCase() === wanted.toLowerCase());
    if (!found) {
      throw new FreightError(
        'TABLE_NOT_FOUND',
        `table ${wanted} does not exist in the source ${source.description}`,
        {
          details: { table: wanted },
        },
      );
    }
    return found;
  });
}

/** True when this job created the table (its first attempts need not delete anything). */
async function ensureTargetTable(
  job: JobWithSecrets,
  target: TargetConnector,
  plan: TablePlan,
  signal?: AbortSignal,
): Promise<boolean> {
  const columns = await target.tableColumns(plan.target, signal);
  if (columns === null) {
    if (!job.options.createTables) {
      throw new FreightError(
        'TABLE_NOT_FOUND',
        `target table ${qualifiedName(plan.target)} does not exist (and creating tables is turned off)`,
        { details: { table: qualifiedName(plan.target) } },
      );
    }
    await target.createTable(plan, signal);
    return true;
  }
  const have = new Set(columns);
  const missing = plan.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
  if (missing.length > 0) {
    throw new FreightError(
      'SCHEMA_CONFLICT',
      `target table ${qualifiedName(plan.target)} exists but lacks column(s) ${missing.join(', ')}`,
      { details: { table: qualifiedName(plan.target), missing } },
    );
  }
  return false;
}
