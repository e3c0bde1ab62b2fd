import { FreightError } from '../../domain/errors.js';
import type { TableRef } from '../../engine/plan.js';
import type {
  ColumnDefault,
  SourceColumn,
  SourceForeignKey,
  SourceIndex,
  SourceTable,
} from '../../engine/ports.js';
import type { Db } from './sqlite-database.js';
import { quoteIdent } from './sqlite-database.js';
import { sqliteSourceType } from './sqlite-type-map.js';

type Rec = Record<string, unknown>;

/**
 * Every ordinary table of the main database, by name. SQLite's own tables (`sqlite_%`), views,
 * virtual tables and their shadow tables (FTS indexes) are left out.
 */
export function listSqliteTables(db: Db): TableRef[] {
  const rows = db
    .prepare(
      `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
        ORDER BY name`,
    )
    .all() as Rec[];
  return rows.map((r) => ({ name: String(r.name) }));
}

/**
 * Columns (PRAGMA table_xinfo), primary key, indexes, foreign keys, the AUTOINCREMENT counter and
 * the row count of one table. Throws TABLE_NOT_FOUND when there is no such table.
 */
export function describeSqliteTable(db: Db, ref: TableRef): SourceTable {
  const table = db
    .prepare(
      `SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = ? COLLATE NOCASE`,
    )
    .get(ref.name) as Rec | undefined;
  if (!table)
    throw new FreightError('TABLE_NOT_FOUND', `table ${ref.name} does not exist in the source`, {
      details: { table: ref.name },
    });
  const name = String(table.name);
  const sql = String(
    (
      db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(name) as
        Rec | undefined
    )?.sql ?? '',
  );
  const withoutRowid = Number(table.wr) === 1;
  const info = db.prepare('SELECT * FROM pragma_table_xinfo(?) ORDER BY cid').all(name) as Rec[];
  // hidden: 0 ordinary, 1 hidden column of a virtual table, 2 virtual generated, 3 stored generated.
  const visible = info.filter((c) => Number(c.hidden) !== 1);
  const primaryKey = visible
    .filter((c) => Number(c.pk) > 0)
    .sort((a, b) => Number(a.pk) - Number(b.pk))
    .map((c) => String(c.name));
  // `INTEGER PRIMARY KEY` (exactly that type) names the rowid: never NULL, assigned when omitted.
  const rowidAlias =
    !withoutRowid && primaryKey.length === 1
      ? visible.find(
          (c) => String(c.name) === primaryKey[0] && String(c.type).toUpperCase() === 'INTEGER',
        )
      : undefined;

  const columns: SourceColumn[] = visible.map((c) => {
    const columnName = String(c.name);
    const declared = String(c.type ?? '');
    const hidden = Number(c.hidden);
    const isRowid = c === rowidAlias;
    const def = hidden === 0 ? parseDefault(c.dflt_value) : undefined;
    return {
      name: columnName,
      nativeType: declared,
      type: sqliteSourceType(declared),
      nullable: Number(c.notnull) === 0 && !isRowid && !(withoutRowid && Number(c.pk) > 0),
      ...(def ? { default: def } : {}),
      ...(isRowid ? { autoIncrement: true } : {}),
      ...(hidden >= 2
        ? { generated: { expression: generatedExpression(sql, columnName), stored: hidden === 3 } }
        : {}),
    };
  });

  const counter = rowidAlias ? autoIncrementNext(db, name) : undefined;
  const count = db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(name)}`).get() as Rec;
  return {
    ref: { name },
    columns,
    primaryKey,
    indexes: readIndexes(db, name),
    foreignKeys: readForeignKeys(db, name),
    ...(counter !== undefined ? { autoIncrementNext: counter } : {}),
    estimatedRows: Number(count.n),
  };
}

/** The next AUTOINCREMENT value (sqlite_sequence exists once any table uses AUTOINCREMENT). */
function autoIncrementNext(db: Db, table: string): string | undefined {
  const exists = db
    .prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'`)
    .get();
  if (!exists) return undefined;
  const row = db
    .prepare('SELECT seq FROM sqlite_sequence WHERE name = ?')
    .safeIntegers(true)
    .get(table) as Rec | undefined;
  return row ? (BigInt(row.seq as bigint) + 1n).toString() : undefined;
}

function readIndexes(db: Db, table: string): SourceIndex[] {
  const list = db
    .prepare('SELECT * FROM pragma_index_list(?) ORDER BY seq DESC')
    .all(table) as Rec[];
  const out: SourceIndex[] = [];
  const taken = new Set(list.map((i) => String(i.name)));
  for (const index of list) {
    if (index.origin === 'pk') continue;
    const internal = String(index.name);
    const parts = (
      db
        .prepare('SELECT * FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno')
        .all(internal) as Rec[]
    ).map((p) => ({
      cid: Number(p.cid),
      name: p.name === null ? null : String(p.name),
      descending: Number(p.desc) === 1,
    }));
    // A UNIQUE constraint's index is named sqlite_autoindex_<table>_<n>: name it after its columns.
    let name = internal;
    if (internal.startsWith('sqlite_autoindex_')) {
      const base = `${parts.map((p) => p.name ?? 'expr').join('_')}_key`;
      name = base;
      for (let i = 2; taken.has(name); i++) name = `${base}${i}`;
      taken.add(name);
    }
    let unsupported: string | undefined;
    if (Number(index.partial) === 1) unsupported = 'partial index (WHERE clause)';
    else if (parts.some((p) => p.cid < 0 || p.name === null))
      unsupported = 'expression or rowid index parts';
    out.push({
      name,
      unique: Number(index.unique) === 1,
      kind: 'btree',
      columns: parts
        .filter((p) => p.name !== null)
        .map((p) => ({ name: p.name!, ...(p.descending ? { descending: true } : {}) })),
      ...(unsupported ? { unsupported } : {}),
    });
  }
  return out;
}

/** SQLite's foreign keys have no names: each is named after its columns, like PostgreSQL's `_fkey`. */
function readForeignKeys(db: Db, table: string): SourceForeignKey[] {
  const rows = db
    .prepare('SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq')
    .all(table) as Rec[];
  const byId = new Map<number, Rec[]>();
  for (const r of rows) byId.set(Number(r.id), [...(byId.get(Number(r.id)) ?? []), r]);
  const taken = new Set<string>();
  return [...byId.values()].map((parts) => {
    const first = parts[0]!;
    const refTable = String(first.table);
    const columns = parts.map((p) => String(p.from));
    // `REFERENCES parent` without columns means the parent's primary key.
    const refColumns = parts.every((p) => p.to !== null)
      ? parts.map((p) => String(p.to))
      : parentKey(db, refTable);
    let name = `${columns.join('_')}_fkey`;
    for (let i = 2; taken.has(name); i++) name = `${columns.join('_')}_fkey${i}`;
    taken.add(name);
    return {
      name,
      columns,
      refTable: { name: refTable },
      refColumns,
      onDelete: String(first.on_delete),
      onUpdate: String(first.on_update),
    };
  });
}

function parentKey(db: Db, table: string): string[] {
  const info = db
    .prepare('SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk')
    .all(table) as Rec[];
  return info.map((c) => String(c.name));
}

/**
 * `dflt_value` is SQL text: 'text', 42, NULL, CURRENT_TIMESTAMP, TRUE, X'00', (expression).
 * String and number literals are literals; the rest is carried as an expression (not copied).
 */
export function parseDefault(raw: unknown): ColumnDefault | undefined {
  if (raw === null || raw === undefined) return undefined;
  const text = String(raw).trim();
  if (/^null$/i.test(text)) return undefined;
  if (/^current_timestamp$/i.test(text)) return { kind: 'current_timestamp' };
  if (/^'(?:[^']|'')*'$/s.test(text))
    return { kind: 'literal', value: text.slice(1, -1).replaceAll("''", "'") };
  if (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text))
    return { kind: 'literal', value: text.replace(/^\+/, '') };
  if (/^true$/i.test(text)) return { kind: 'literal', value: '1' };
  if (/^false$/i.test(text)) return { kind: 'literal', value: '0' };
  return { kind: 'expression', sql: text };
}

/**
 * A generated column's expression, cut out of the table's CREATE statement (SQLite keeps no other
 * copy): the balanced parentheses after `AS` in the column's definition. Empty when not found —
 * the planner then reports the column as not recreated.
 */
export function generatedExpression(createSql: string, column: string): string {
  const quoted = [`"${column.replaceAll('"', '""')}"`, `\`${column}\``, `[${column}]`, column];
  for (const q of quoted) {
    const re = new RegExp(`(?:^|[(,\\s])${escapeRegExp(q)}\\s.*?\\bAS\\s*\\(`, 'is');
    const m = re.exec(createSql);
    if (!m) continue;
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    let quote: string | null = null;
    for (; i < createSql.length && depth > 0; i++) {
      const ch = createSql[i]!;
      if (quote) {
        if (ch === quote) quote = null;
      } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
      else if (ch === '(') depth++;
      else if (ch === ')') depth--;
    }
    if (depth === 0) return createSql.slice(start, i - 1).trim();
  }
  return '';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
