import type { TargetType } from '../../domain/column-types.js';
import type {
  ColumnPlan,
  ForeignKeyPlan,
  GeneratedColumnPlan,
  IndexPlan,
  TablePlan,
} from '../../engine/plan.js';
import { quoteIdent, quoteLiteral } from './sqlite-database.js';
import { sqliteTypeName } from './sqlite-type-map.js';

/**
 * DDL for a planned table, as small named functions (STYLE.md: SQL testable as strings).
 *
 * Foreign keys are declared in CREATE TABLE, because SQLite cannot add one to an existing table.
 * The target connection loads with `foreign_keys = OFF`, so tables can arrive in any order; the
 * constraints are enforced by any later connection that turns them on.
 */

/** Only the table name: a SQLite target has no schemas (attached databases are not used). */
export function tableName(plan: TablePlan): string {
  return quoteIdent(plan.target.name);
}

/** The single identity column of the primary key, which becomes the rowid (`INTEGER PRIMARY KEY`). */
export function rowidColumn(plan: TablePlan): ColumnPlan | undefined {
  if (plan.primaryKey.length !== 1) return undefined;
  const c = plan.columns.find((col) => col.name === plan.primaryKey[0]);
  return c?.identity && ['int16', 'int32', 'int64'].includes(c.type.kind) ? c : undefined;
}

/**
 * CREATE TABLE with the columns, the primary key (a single identity key becomes the rowid,
 * AUTOINCREMENT when the source had a counter), NOT NULL, defaults, CHECKs and foreign keys.
 */
export function createTableSql(plan: TablePlan): string {
  const rowid = rowidColumn(plan);
  const lines = plan.columns.map((c) =>
    columnSql(
      c,
      c === rowid ? (plan.autoIncrementNext !== undefined ? 'autoincrement' : 'rowid') : null,
    ),
  );
  if (plan.primaryKey.length > 0 && !rowid)
    lines.push(`PRIMARY KEY (${plan.primaryKey.map(quoteIdent).join(', ')})`);
  for (const c of plan.columns) {
    if (c.check?.kind === 'in') {
      const values = c.check.values.map(quoteLiteral).join(', ');
      lines.push(
        `CONSTRAINT ${quoteIdent(`${plan.target.name}_${c.name}_check`)} CHECK (${quoteIdent(c.name)} IN (${values}))`,
      );
    }
    // 'subset' (a SET as a JSON array in TEXT) has no CHECK: SQLite forbids subqueries (json_each) in CHECK.
  }
  for (const fk of plan.foreignKeys) lines.push(foreignKeySql(fk));
  return `CREATE TABLE ${tableName(plan)} (\n  ${lines.join(',\n  ')}\n)`;
}

function columnSql(c: ColumnPlan, rowid: 'rowid' | 'autoincrement' | null): string {
  if (rowid)
    return `${quoteIdent(c.name)} INTEGER PRIMARY KEY${rowid === 'autoincrement' ? ' AUTOINCREMENT' : ''}`;
  const type = sqliteTypeName(c.type);
  let sql = type === '' ? quoteIdent(c.name) : `${quoteIdent(c.name)} ${type}`;
  if (!c.nullable) sql += ' NOT NULL';
  if (c.default?.kind === 'now') sql += ` DEFAULT ${nowSql(c.type)}`;
  else if (c.default?.kind === 'literal')
    sql += ` DEFAULT ${defaultLiteral(c.type, c.default.value)}`;
  return sql;
}

/** The current time in the column's canonical form (UTC, as SQLite's clock functions are). */
export function nowSql(type: TargetType): string {
  if (type.kind === 'date') return 'CURRENT_DATE';
  if (type.kind === 'timestamptz') return `(strftime('%Y-%m-%d %H:%M:%S+00:00', 'now'))`;
  return 'CURRENT_TIMESTAMP';
}

/**
 * A planned default (text of a canonical value, see schema-planner `defaultText`) as a literal of
 * the stored form: booleans 1/0, numbers bare, bytes X'..', text arrays as JSON text.
 */
export function defaultLiteral(type: TargetType, value: string): string {
  switch (type.kind) {
    case 'boolean':
      if (value === 'true' || value === '1') return '1';
      if (value === 'false' || value === '0') return '0';
      break;
    case 'int16':
    case 'int32':
    case 'int64':
    case 'float32':
    case 'float64':
    case 'decimal':
      if (
        /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value) &&
        !(type.kind === 'decimal' && sqliteTypeName(type) === 'TEXT')
      )
        return value;
      break;
    case 'bytes':
    case 'geometry':
      if (/^\\x([0-9a-fA-F]{2})*$/.test(value)) return `X'${value.slice(2)}'`;
      break;
    case 'text-array':
      if (value.startsWith('{') && value.endsWith('}'))
        return quoteLiteral(JSON.stringify(parseArrayLiteral(value)));
      break;
  }
  return quoteLiteral(value);
}

/** `{"a","b \"c\""}` (the planner's array default text) → ['a', 'b "c"']. */
function parseArrayLiteral(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|([^,{}"]+)/g;
  for (let m = re.exec(text); m; m = re.exec(text))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!.trim());
  return out;
}

const FK_ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION']);

/** A table constraint; unknown ON DELETE/UPDATE rules are left out (SQLite: NO ACTION). */
export function foreignKeySql(fk: ForeignKeyPlan): string {
  const action = (what: string, rule: string | undefined) =>
    rule && FK_ACTIONS.has(rule.toUpperCase()) ? ` ON ${what} ${rule.toUpperCase()}` : '';
  return (
    `CONSTRAINT ${quoteIdent(fk.name)} FOREIGN KEY (${fk.columns.map(quoteIdent).join(', ')}) ` +
    `REFERENCES ${quoteIdent(fk.refTable.name)} (${fk.refColumns.map(quoteIdent).join(', ')})` +
    action('DELETE', fk.onDelete) +
    action('UPDATE', fk.onUpdate)
  );
}

/** Prefix lengths (MySQL) are dropped: SQLite indexes whole values. */
export function createIndexSql(plan: TablePlan, index: IndexPlan): string {
  const parts = index.columns.map((ic) => `${quoteIdent(ic.name)}${ic.descending ? ' DESC' : ''}`);
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdent(index.name)} ON ${tableName(plan)} (${parts.join(', ')})`;
}

/** SQLite can only add VIRTUAL generated columns to an existing table (computed when read). */
export function addGeneratedColumnSql(plan: TablePlan, g: GeneratedColumnPlan): string {
  const type = sqliteTypeName(g.type);
  return `ALTER TABLE ${tableName(plan)} ADD COLUMN ${quoteIdent(g.name)}${type ? ` ${type}` : ''} GENERATED ALWAYS AS (${g.expression}) VIRTUAL`;
}

/**
 * MySQL `ON UPDATE CURRENT_TIMESTAMP` as a trigger: when a row changes and the statement left the
 * column alone, the column takes the current time (recursive triggers are off: it fires once).
 */
export function onUpdateTriggerSql(plan: TablePlan, column: ColumnPlan): string {
  const col = quoteIdent(column.name);
  const others = plan.columns
    .filter((c) => c !== column)
    .map((c) => `NEW.${quoteIdent(c.name)} IS NOT OLD.${quoteIdent(c.name)}`);
  const changed = others.length > 0 ? `(${others.join(' OR ')}) AND ` : '';
  const match =
    plan.primaryKey.length > 0
      ? plan.primaryKey.map((k) => `${quoteIdent(k)} IS NEW.${quoteIdent(k)}`).join(' AND ')
      : 'rowid = NEW.rowid';
  return (
    `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${plan.target.name}_${column.name}_on_update`)} AFTER UPDATE ON ${tableName(plan)} ` +
    `FOR EACH ROW WHEN ${changed}NEW.${col} IS OLD.${col} ` +
    `BEGIN UPDATE ${tableName(plan)} SET ${col} = ${nowSql(column.type)} WHERE ${match}; END`
  );
}
