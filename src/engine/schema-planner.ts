import type { TargetType } from '../domain/column-types.js';
import { isOrderSafe } from '../domain/column-types.js';
import { FreightError } from '../domain/errors.js';
import { planIdentifiers, uniqueName } from './identifiers.js';
import type {
  ColumnPlan,
  GeneratedColumnPlan,
  IndexPlan,
  TablePlan,
  TableRef,
  TargetDefault,
} from './plan.js';
import { qualifiedName } from './plan.js';
import type {
  Probe,
  ProbeResult,
  SourceColumn,
  SourceConnector,
  SourceTable,
  TargetCaps,
} from './ports.js';
import { mapColumn, probesFor, type MappedColumn } from './type-mapping.js';
import { compileConverter, ValueIssue } from './value-codec.js';

/**
 * Builds every table's plan for a job: target names, column types (after probing the data), the
 * batching key, indexes, foreign keys (both ends typed alike) and the notes that explain it all.
 */
export async function planTables(
  source: SourceConnector,
  caps: TargetCaps,
  tables: readonly SourceTable[],
  targetSchema: string | undefined,
  signal?: AbortSignal,
): Promise<TablePlan[]> {
  const tableNames = planIdentifiers(
    tables.map((t) => t.ref.name),
    caps,
    'tables',
  );
  const mapped = new Map<SourceTable, Map<string, MappedColumn>>();
  for (const table of tables) {
    signal?.throwIfAborted();
    mapped.set(table, await mapTableColumns(source, caps, table, signal));
  }
  alignForeignKeys(tables, mapped);

  const takenIndexNames = new Set<string>();
  const sameDialect = source.caps.dialect === caps.dialect;
  return tables.map((table) =>
    buildPlan(
      table,
      mapped.get(table)!,
      tableNames,
      tables,
      caps,
      targetSchema,
      takenIndexNames,
      sameDialect,
    ),
  );
}

async function mapTableColumns(
  source: SourceConnector,
  caps: TargetCaps,
  table: SourceTable,
  signal?: AbortSignal,
): Promise<Map<string, MappedColumn>> {
  const probes: Probe[] = [];
  const owners: string[] = [];
  for (const column of table.columns) {
    for (const p of probesFor(column)) {
      probes.push(p);
      owners.push(column.name);
    }
  }
  const results = probes.length > 0 ? await source.probe(table, probes, signal) : [];
  const answers = new Map<string, Map<Probe['kind'], ProbeResult>>();
  probes.forEach((p, i) => {
    const byKind = answers.get(owners[i]!) ?? new Map<Probe['kind'], ProbeResult>();
    byKind.set(p.kind, results[i] ?? null);
    answers.set(owners[i]!, byKind);
  });
  const out = new Map<string, MappedColumn>();
  for (const column of table.columns) {
    out.set(
      column.name,
      mapColumn(
        column,
        answers.get(column.name) ?? new Map(),
        caps,
        source.caps.dialect,
        table.autoIncrementNext,
      ),
    );
  }
  return out;
}

/** "Both ends of a foreign key map alike": a referencing column takes the referenced column's type. */
function alignForeignKeys(
  tables: readonly SourceTable[],
  mapped: Map<SourceTable, Map<string, MappedColumn>>,
): void {
  const byName = new Map(tables.map((t) => [qualifiedName(t.ref), t]));
  for (const table of tables) {
    for (const fk of table.foreignKeys) {
      const parent =
        byName.get(qualifiedName(fk.refTable)) ??
        tables.find((t) => t.ref.name === fk.refTable.name);
      if (!parent) continue;
      fk.columns.forEach((col, i) => {
        const parentColumn = mapped.get(parent)!.get(fk.refColumns[i]!);
        const childColumns = mapped.get(table)!;
        const child = childColumns.get(col);
        if (!parentColumn || !child || sameType(parentColumn.type, child.type)) return;
        childColumns.set(col, {
          ...child,
          type: parentColumn.type,
          notes: [
            ...child.notes,
            `${col}: typed ${describe(parentColumn.type)} like ${parent.ref.name}.${fk.refColumns[i]} (foreign key ${fk.name})`,
          ],
        });
      });
    }
  }
}

function sameType(a: TargetType, b: TargetType): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function describe(t: TargetType): string {
  return t.kind === 'decimal' && t.precision !== undefined
    ? `decimal(${t.precision},${t.scale ?? 0})`
    : t.kind;
}

function buildPlan(
  table: SourceTable,
  mapped: Map<string, MappedColumn>,
  tableNames: Map<string, string>,
  allTables: readonly SourceTable[],
  caps: TargetCaps,
  targetSchema: string | undefined,
  takenIndexNames: Set<string>,
  sameDialect: boolean,
): TablePlan {
  const notes: string[] = [];
  const copied = table.columns.filter((c) => !c.generated);
  const columnNames = planIdentifiers(
    table.columns.map((c) => c.name),
    caps,
    `columns of ${table.ref.name}:`,
  );
  const targetName = tableNames.get(table.ref.name)!;

  const columns: ColumnPlan[] = copied.map((c) => {
    const m = mapped.get(c.name)!;
    notes.push(...m.notes);
    return columnPlan(c, m, columnNames.get(c.name)!, caps, notes);
  });

  const generated: GeneratedColumnPlan[] = [];
  /** Source names of the columns the target table will have: copied, or recreated as generated. */
  const onTarget = new Set(copied.map((c) => c.name));
  for (const c of table.columns.filter((col) => col.generated)) {
    // The same database on both sides: its own expression, as it is (column names are kept then, too).
    const expression =
      sameDialect && [...columnNames].every(([a, b]) => a === b)
        ? c.generated!.expression
        : translateGeneratedExpression(c.generated!.expression, columnNames);
    if (expression === null) {
      notes.push(
        `${c.name}: generated column not recreated (expression ${c.generated!.expression} does not translate)`,
      );
      continue;
    }
    generated.push({
      name: columnNames.get(c.name)!,
      type: mapped.get(c.name)!.type,
      expression,
      stored: true,
    });
    onTarget.add(c.name);
    if (!c.generated!.stored) notes.push(`${c.name}: virtual generated column recreated as STORED`);
  }

  // Batching key: the primary key, else a unique index over NOT NULL columns (no prefixes).
  let keySource = [...table.primaryKey];
  if (keySource.length === 0) {
    const candidate = table.indexes.find(
      (i) =>
        i.unique &&
        !i.unsupported &&
        i.columns.every(
          (ic) =>
            ic.prefixLength === undefined &&
            table.columns.find((c) => c.name === ic.name && !c.nullable && !c.generated),
        ),
    );
    if (candidate) {
      keySource = candidate.columns.map((c) => c.name);
      notes.push(`no primary key: batches use the unique key ${candidate.name}`);
    } else {
      notes.push('no primary or unique key: the table is copied as one batch, reloaded atomically');
    }
  }
  const keyPositions = keySource.map((name) => {
    const at = columns.findIndex((c) => c.source === name);
    if (at < 0)
      throw new FreightError(
        'SCHEMA_CONFLICT',
        `key column ${name} of ${table.ref.name} is not copied`,
      );
    return at;
  });

  const indexes: IndexPlan[] = [];
  for (const index of table.indexes) {
    if (index.unsupported) {
      notes.push(`index ${index.name} not carried (${index.unsupported})`);
      continue;
    }
    if (index.kind === 'fulltext') {
      notes.push(
        `index ${index.name}: FULLTEXT indexes are not carried (use a tsvector index on the target)`,
      );
      continue;
    }
    if (index.kind === 'spatial' && !caps.types.has('geometry')) {
      notes.push(
        `index ${index.name}: SPATIAL index not carried (the target has no geometry type)`,
      );
      continue;
    }
    const absent = index.columns.find((ic) => !onTarget.has(ic.name));
    if (absent) {
      notes.push(`index ${index.name} not carried: column ${absent.name} is not on the target`);
      continue;
    }
    indexes.push({
      name: uniqueName(
        `${targetName}_${index.name.toLowerCase()}`,
        takenIndexNames,
        caps.maxIdentifierBytes,
      ),
      unique: index.unique,
      method: index.kind === 'spatial' ? 'spatial' : 'btree',
      columns: index.columns.map((ic) => ({
        name: columnNames.get(ic.name)!,
        ...(ic.prefixLength !== undefined ? { prefixLength: ic.prefixLength } : {}),
        ...(ic.descending ? { descending: true } : {}),
      })),
    });
  }

  const inJob = new Map(allTables.map((t) => [t.ref.name, t]));
  const foreignKeys = table.foreignKeys.flatMap((fk) => {
    const parent = inJob.get(fk.refTable.name);
    if (!parent) {
      notes.push(`foreign key ${fk.name} not created: ${fk.refTable.name} is not part of this job`);
      return [];
    }
    const parentNames = planIdentifiers(
      parent.columns.map((c) => c.name),
      caps,
      `columns of ${parent.ref.name}:`,
    );
    return [
      {
        name: uniqueName(
          `${targetName}_${fk.name.toLowerCase()}`,
          takenIndexNames,
          caps.maxIdentifierBytes,
        ),
        columns: fk.columns.map((c) => columnNames.get(c)!),
        refTable: targetRef(tableNames.get(parent.ref.name)!, targetSchema),
        refColumns: fk.refColumns.map((c) => parentNames.get(c)!),
        ...(fk.onDelete ? { onDelete: fk.onDelete } : {}),
        ...(fk.onUpdate ? { onUpdate: fk.onUpdate } : {}),
      },
    ];
  });

  return {
    source: table.ref,
    target: targetRef(targetName, targetSchema),
    columns,
    keySourceColumns: keySource,
    keyPositions,
    keyOrderSafe: keyPositions.every((p) => isOrderSafe(columns[p]!.type)),
    primaryKey: table.primaryKey.map((c) => columnNames.get(c)!),
    indexes,
    foreignKeys,
    generated,
    ...(table.autoIncrementNext !== undefined
      ? { autoIncrementNext: table.autoIncrementNext }
      : {}),
    estimatedRows: table.estimatedRows,
    notes,
  };
}

function targetRef(name: string, schema: string | undefined): TableRef {
  return schema ? { schema, name } : { name };
}

function columnPlan(
  c: SourceColumn,
  m: MappedColumn,
  name: string,
  caps: TargetCaps,
  notes: string[],
): ColumnPlan {
  let nullable = c.nullable;
  let def: TargetDefault | undefined;
  const temporal =
    m.type.kind === 'date' || m.type.kind === 'timestamp' || m.type.kind === 'timestamptz';
  if (c.default?.kind === 'literal') {
    const convert = compileConverter(c.type, m.type, {
      column: c.name,
      textAllowsNul: caps.textAllowsNul,
      nullable: false,
    });
    const value = convert ? convert(c.default.value) : c.default.value;
    if (value instanceof ValueIssue) {
      if (temporal && /^0000-00-00/.test(c.default.value)) {
        if (!nullable) {
          nullable = true;
          notes.push(
            `${c.name}: zero-date default dropped and NOT NULL relaxed (zero dates become NULL)`,
          );
        } else {
          notes.push(`${c.name}: zero-date default dropped`);
        }
      } else {
        notes.push(`${c.name}: default '${c.default.value}' dropped (${value.message})`);
      }
    } else {
      def = { kind: 'literal', value: defaultText(value) };
    }
  } else if (c.default?.kind === 'current_timestamp') {
    if (temporal) def = { kind: 'now' };
    else notes.push(`${c.name}: default CURRENT_TIMESTAMP dropped (column is ${m.type.kind})`);
  } else if (c.default?.kind === 'expression') {
    notes.push(`${c.name}: default expression ${c.default.sql} not carried`);
  }
  return {
    source: c.name,
    name,
    sourceType: c.type,
    nativeType: c.nativeType,
    type: m.type,
    nullable,
    ...(def ? { default: def } : {}),
    ...(m.identity ? { identity: true } : {}),
    ...(c.onUpdateCurrentTimestamp && temporal ? { onUpdateNow: true } : {}),
    ...(m.check ? { check: m.check } : {}),
  };
}

/** A canonical value as default literal text: booleans true/false, arrays {a,b}, bytes hex. */
function defaultText(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value))
    return `{${value.map((v) => `"${String(v).replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return String(value);
}

/**
 * Translates a generated column's expression when it only uses what both dialects evaluate the
 * same way: column references, numeric literals, `+ - *`, parentheses and a few functions.
 * Anything else returns null (the column is reported, not guessed).
 */
export function translateGeneratedExpression(
  expression: string,
  columns: Map<string, string>,
): string | null {
  const functions: Record<string, string> = {
    abs: 'abs',
    coalesce: 'coalesce',
    ifnull: 'coalesce',
    lower: 'lower',
    upper: 'upper',
  };
  const tokens =
    expression.match(/`(?:[^`]|``)+`|"(?:[^"]|"")+"|\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_$]*|\S/g) ??
    [];
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (/^[`"]/.test(t)) {
      const name = t.slice(1, -1).replace(/``|""/g, (m) => m[0]!);
      const target = columns.get(name);
      if (target === undefined) return null;
      out.push(`"${target.replaceAll('"', '""')}"`);
    } else if (/^\d/.test(t)) {
      out.push(t);
    } else if (/^[A-Za-z_]/.test(t)) {
      const fn = functions[t.toLowerCase()];
      if (fn && tokens[i + 1] === '(') out.push(fn);
      else if (columns.has(t)) out.push(`"${columns.get(t)!.replaceAll('"', '""')}"`);
      else return null;
    } else if (['+', '-', '*', '(', ')', ','].includes(t)) {
      out.push(t);
    } else {
      return null;
    }
  }
  return out.length > 0 ? out.join(' ') : null;
}
