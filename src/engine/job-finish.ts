import type { JobTable } from '../domain/model.js';
import { TableChecksum, skipFailed } from './checksum.js';
import type { JobEvent } from './events.js';
import type { JobRuntime, TableRuntime } from './job-runtime.js';
import type { JobLedger } from './ledger.js';
import { qualifiedName } from './plan.js';

/**
 * After the load: each table's secondary indexes, identity values and triggers; then foreign keys
 * (every table must be loaded first); then validation — row counts on both sides and, when asked,
 * an order-independent checksum. Each table's progress is recorded, so a resumed job does not
 * build twice. Returns the problems found, for the job's verdict.
 */
export async function finishTables(
  ledger: JobLedger,
  runtime: JobRuntime,
  rows: readonly JobTable[],
  emit: (event: JobEvent) => void,
  signal?: AbortSignal,
): Promise<string[]> {
  const { job, target } = runtime;
  const problems: string[] = [];
  const tables = rows.flatMap((row) => {
    const t = runtime.tables.get(row.name);
    return t ? [{ row, t }] : [];
  });
  // Row counts do not change while indexes and constraints are built (those lock out writes, not
  // reads): both sides count meanwhile (the connection pools bound how many at once).
  const counts = new Map<string, Promise<[number, number]>>();
  if (job.options.verify !== 'none') {
    for (const { t } of tables) {
      const both = Promise.all([
        runtime.source.countRows(t.sourceTable, signal),
        target.countRows(t.plan.target, signal),
      ]);
      both.catch(() => {}); // awaited (and its error thrown) in validateTable
      counts.set(t.name, both);
    }
  }
  for (const { row, t } of tables) {
    signal?.throwIfAborted();
    let errors = row.error ? row.error.split('; ') : [];
    if (row.status !== 'finalized') {
      const report = await target.finalizeTable(t.plan, signal);
      errors = report.failed.map((f) => `${f.what}: ${f.error}`);
      await ledger.updateJobTable(job.id, t.name, {
        status: 'finalized',
        error: errors.join('; ') || null,
      });
      emit({ type: 'table-finalized', table: t.name, failed: report.failed.length });
    }
    problems.push(...errors.map((e) => `${t.name}: ${e}`));
  }
  for (const { t } of tables) {
    signal?.throwIfAborted();
    const report = await target.createForeignKeys(t.plan, signal);
    problems.push(...report.failed.map((f) => `${t.name}: ${f.what}: ${f.error}`));
  }
  if (job.options.verify === 'none') return problems;
  for (const { t } of tables) {
    signal?.throwIfAborted();
    const problem = await validateTable(ledger, runtime, t, counts.get(t.name)!, emit, signal);
    if (problem) problems.push(problem);
  }
  return problems;
}

async function validateTable(
  ledger: JobLedger,
  { job, source, target }: JobRuntime,
  t: TableRuntime,
  counts: Promise<[number, number]>,
  emit: (event: JobEvent) => void,
  signal?: AbortSignal,
): Promise<string | null> {
  const failedIds = await ledger.failedRecordIds(job.id, t.name);
  const [sourceRows, targetRows] = await counts;
  let passed = targetRows === sourceRows - failedIds.length;
  let sourceChecksum: string | null = null;
  let targetChecksum: string | null = null;
  if (job.options.verify === 'checksum') {
    [sourceChecksum, targetChecksum] = await Promise.all([
      sourceSideChecksum({ source, t }, new Set(failedIds), signal),
      targetSideChecksum({ target, t }, signal),
    ]);
    passed &&= sourceChecksum === targetChecksum;
  }
  const validation = passed ? 'passed' : 'failed';
  await ledger.updateJobTable(job.id, t.name, {
    sourceRows,
    targetRows,
    sourceChecksum,
    targetChecksum,
    validation,
  });
  emit({ type: 'table-validated', table: t.name, passed, sourceRows, targetRows });
  if (passed) return null;
  const checksum =
    sourceChecksum !== targetChecksum ? `; checksum ${sourceChecksum} ≠ ${targetChecksum}` : '';
  return `validation failed for ${qualifiedName(t.plan.target)}: source ${sourceRows} rows (${failedIds.length} failed records), target ${targetRows} rows${checksum}`;
}

async function sourceSideChecksum(
  { source, t }: Pick<JobRuntime, 'source'> & { t: TableRuntime },
  failed: ReadonlySet<string>,
  signal?: AbortSignal,
): Promise<string> {
  const sum = new TableChecksum(t.plan.columns.map((c) => c.type));
  const skip = skipFailed(t.plan, failed);
  for await (const rows of source.readRows(
    t.sourceTable,
    t.plan.columns.map((c) => c.source),
    t.plan.keySourceColumns,
    null,
    signal,
  )) {
    const issues = t.conversion.convert(rows);
    const failedHere = issues
      ? new Set(
          [...issues.byRow]
            .filter(([, list]) => list.some((i) => i.kind === 'fail'))
            .map(([i]) => i),
        )
      : null;
    sum.add(failedHere ? rows.filter((_, i) => !failedHere.has(i)) : rows, skip);
  }
  return sum.value();
}

async function targetSideChecksum(
  { target, t }: Pick<JobRuntime, 'target'> & { t: TableRuntime },
  signal?: AbortSignal,
): Promise<string> {
  const sum = new TableChecksum(t.plan.columns.map((c) => c.type));
  for await (const rows of target.readRows(t.plan, signal)) sum.add(rows);
  return sum.value();
}
