import { FreightError } from '../../domain/errors.js';
import type { TableRef } from '../../engine/plan.js';
import type {
  SourceColumn,
  SourceForeignKey,
  SourceIndex,
  SourceTable,
} from '../../engine/ports.js';
import { parsePgDefault } from './postgres-defaults.js';
import { pgSourceType } from './postgres-types.js';

/**
 * PostgreSQL schema introspection from pg_catalog (information_schema hides what the user
 * cannot write to, and has no index or sequence details). Every value arrives as text.
 */

/** Runs one query with `$n` parameters; every column arrives as its text form (or null). */
export type PgQuery = (
  sql: string,
  params?: unknown[],
) => Promise<Array<Record<string, string | null>>>;

/** Ordinary and partitioned tables of a schema (not partitions, views or foreign tables). */
export const LIST_TABLES_SQL = `
SELECT c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
 ORDER BY c.relname`;

/** The table's oid, kind and row estimate (a partitioned table: the sum of its leaves). */
export const TABLE_SQL = `
SELECT c.oid::text AS oid, c.relkind AS kind,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT COALESCE(sum(GREATEST(x.reltuples, 0)), 0)
                    FROM pg_partition_tree(c.oid) t JOIN pg_class x ON x.oid = t.relid WHERE t.isleaf)
            ELSE GREATEST(c.reltuples, 0) END::bigint::text AS estimate
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`;

/** Columns in order; a domain is described by its base type, an enum with its labels. */
export const COLUMNS_SQL = `
SELECT a.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS native,
       format_type(COALESCE(b.oid, t.oid), CASE WHEN b.oid IS NULL THEN a.atttypmod ELSE t.typtypmod END) AS formatted,
       COALESCE(b.typname, t.typname) AS udt,
       COALESCE(b.typcategory, t.typcategory) AS category,
       (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = COALESCE(b.oid, t.oid)) AS labels,
       a.attnotnull OR t.typnotnull AS notnull,
       a.attidentity AS identity,
       a.attgenerated AS generated,
       pg_get_expr(d.adbin, d.adrelid) AS def,
       pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) AS seq
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

/** Primary key columns in key order. */
export const PRIMARY_KEY_SQL = `
SELECT a.attname AS name
  FROM pg_constraint con
 CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
 WHERE con.conrelid = $1::oid AND con.contype = 'p'
 ORDER BY k.ord`;

/** Key parts of every valid secondary index (INCLUDE columns left out), in order. */
export const INDEXES_SQL = `
SELECT ic.relname AS name, i.indisunique AS unique, am.amname AS method,
       pg_get_expr(i.indpred, i.indrelid) AS predicate,
       a.attname AS col,
       pg_get_indexdef(i.indexrelid, k.ord::int, true) AS part,
       (i.indoption[k.ord - 1] & 1) = 1 AS descending
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
 WHERE i.indrelid = $1::oid AND NOT i.indisprimary AND i.indisvalid AND k.ord <= i.indnkeyatts
 ORDER BY ic.relname, k.ord`;

/** Foreign keys declared on the table (not the per-partition copies PostgreSQL adds). */
export const FOREIGN_KEYS_SQL = `
SELECT con.conname AS name, rn.nspname AS ref_schema, rc.relname AS ref_table,
       con.confdeltype AS on_delete, con.confupdtype AS on_update,
       a.attname AS col, ra.attname AS ref_col
  FROM pg_constraint con
  JOIN pg_class rc ON rc.oid = con.confrelid
  JOIN pg_namespace rn ON rn.oid = rc.relnamespace
 CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
  JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
 WHERE con.conrelid = $1::oid AND con.contype = 'f' AND con.conparentid = 0
 ORDER BY con.conname, k.ord`;

/** The value a sequence hands out next: last value + 1 once used, else its start value. */
export const SEQUENCE_NEXT_SQL = `
SELECT COALESCE((s.last_value::numeric + 1)::text, s.start_value::text) AS next
  FROM pg_sequences s
  JOIN pg_namespace n ON n.nspname = s.schemaname
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
 WHERE c.oid = to_regclass($1)`;

const FK_RULES: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** Tables of `schema`, in name order. */
export async function listPgTables(query: PgQuery, schema: string): Promise<TableRef[]> {
  const rows = await query(LIST_TABLES_SQL, [schema]);
  return rows.map((r) => ({ schema, name: r.name! }));
}

/** Columns, keys, indexes, foreign keys and counters of one table; TABLE_NOT_FOUND if it is missing. */
export async function describePgTable(
  query: PgQuery,
  ref: TableRef & { schema: string },
): Promise<SourceTable> {
  const [table] = await query(TABLE_SQL, [ref.schema, ref.name]);
  if (!table) {
    throw new FreightError(
      'TABLE_NOT_FOUND',
      `table ${ref.schema}.${ref.name} does not exist in the source`,
      {
        details: { table: `${ref.schema}.${ref.name}` },
      },
    );
  }
  const oid = [table.oid];
  const [columnRows, pkRows, indexRows, fkRows] = await Promise.all([
    query(COLUMNS_SQL, oid),
    query(PRIMARY_KEY_SQL, oid),
    query(INDEXES_SQL, oid),
    query(FOREIGN_KEYS_SQL, oid),
  ]);
  const columns = columnRows.map(toColumn);
  const primaryKey = pkRows.map((r) => r.name!);
  const autoIncrementNext = await sequenceNext(query, columnRows, primaryKey);
  return {
    ref: { schema: ref.schema, name: ref.name },
    columns,
    primaryKey,
    indexes: toIndexes(indexRows),
    foreignKeys: toForeignKeys(fkRows),
    ...(autoIncrementNext !== null ? { autoIncrementNext } : {}),
    estimatedRows: Number(table.estimate ?? 0),
  };
}

/** Identity columns and serials (nextval of the sequence the column owns) are auto-increment. */
function isAutoIncrement(r: Record<string, string | null>): boolean {
  if (r.identity === 'a' || r.identity === 'd') return true;
  return r.seq !== null && r.def !== null && /^nextval\(/i.test(r.def ?? '');
}

function toColumn(r: Record<string, string | null>): SourceColumn {
  const labels =
    r.labels === null || r.labels === undefined ? undefined : (JSON.parse(r.labels) as string[]);
  const type = pgSourceType(
    r.formatted!,
    r.udt!,
    r.category === 'A' ? 'ARRAY' : 'USER-DEFINED',
    labels,
  );
  const generated = r.generated === 's';
  const autoIncrement = !generated && isAutoIncrement(r);
  const def =
    generated || autoIncrement || r.def === null ? undefined : parsePgDefault(r.def!, type);
  return {
    name: r.name!,
    nativeType: r.native!,
    type,
    nullable: r.notnull !== 't',
    ...(def ? { default: def } : {}),
    ...(autoIncrement ? { autoIncrement: true } : {}),
    ...(generated ? { generated: { expression: r.def ?? '', stored: true } } : {}),
  };
}

/**
 * The next value of the table's auto-increment sequence (the primary key's when it has one).
 * A table has one such value in Freight's model; a second identity column is still reset on the
 * target to at least its own max + 1.
 */
async function sequenceNext(
  query: PgQuery,
  columns: ReadonlyArray<Record<string, string | null>>,
  primaryKey: readonly string[],
): Promise<string | null> {
  const counters = columns.filter(
    (c) => c.generated !== 's' && isAutoIncrement(c) && c.seq !== null,
  );
  const chosen = counters.find((c) => primaryKey.includes(c.name!)) ?? counters[0];
  if (!chosen) return null;
  const [row] = await query(SEQUENCE_NEXT_SQL, [chosen.seq]);
  return row?.next ?? null;
}

function toIndexes(rows: ReadonlyArray<Record<string, string | null>>): SourceIndex[] {
  const byName = new Map<
    string,
    { unique: boolean; columns: SourceIndex['columns'][number][]; problems: string[] }
  >();
  for (const r of rows) {
    const name = r.name!;
    let index = byName.get(name);
    if (!index) {
      const problems: string[] = [];
      if (r.method !== 'btree' && r.method !== 'hash') problems.push(`${r.method} index method`);
      if (r.predicate !== null) problems.push(`partial index WHERE ${r.predicate}`);
      index = { unique: r.unique === 't', columns: [], problems };
      byName.set(name, index);
    }
    if (r.col === null) {
      index.problems.push(`expression ${r.part}`);
      continue;
    }
    index.columns.push({ name: r.col!, ...(r.descending === 't' ? { descending: true } : {}) });
  }
  return [...byName].map(([name, i]) => ({
    name,
    unique: i.unique,
    kind: 'btree',
    columns: i.columns,
    ...(i.problems.length > 0 ? { unsupported: i.problems.join('; ') } : {}),
  }));
}

function toForeignKeys(rows: ReadonlyArray<Record<string, string | null>>): SourceForeignKey[] {
  const byName = new Map<
    string,
    {
      columns: string[];
      refTable: TableRef;
      refColumns: string[];
      onDelete: string;
      onUpdate: string;
    }
  >();
  for (const r of rows) {
    let fk = byName.get(r.name!);
    if (!fk) {
      fk = {
        columns: [],
        refTable: { schema: r.ref_schema!, name: r.ref_table! },
        refColumns: [],
        onDelete: FK_RULES[r.on_delete!] ?? 'NO ACTION',
        onUpdate: FK_RULES[r.on_update!] ?? 'NO ACTION',
      };
      byName.set(r.name!, fk);
    }
    fk.columns.push(r.col!);
    fk.refColumns.push(r.ref_col!);
  }
  return [...byName].map(([name, f]) => ({ name, ...f }));
}
