import type {
  ColumnDefault,
  SourceColumn,
  SourceForeignKey,
  SourceIndex,
  SourceTable,
} from '../../engine/ports.js';
import type { TableRef } from '../../engine/plan.js';
import { FreightError } from '../../domain/errors.js';
import { mysqlSourceType } from './mysql-type-map.js';

/** Runs one query with positional parameters and returns plain objects. */
export type MysqlQuery = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** Every base table of the database, in name order. */
export async function listMysqlTables(query: MysqlQuery, database: string): Promise<TableRef[]> {
  const rows = await query(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
    [database],
  );
  return rows.map((r) => ({ schema: database, name: String(r.name) }));
}

/** Columns, keys, indexes, foreign keys and counters of one table from information_schema. */
export async function describeMysqlTable(
  query: MysqlQuery,
  ref: TableRef & { schema: string },
  isMariaDb: boolean,
): Promise<SourceTable> {
  const params = [ref.schema, ref.name];
  const [columns, checks, stats, fks, tables] = await Promise.all([
    query(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable,
              COLUMN_DEFAULT AS def, EXTRA AS extra, CHARACTER_MAXIMUM_LENGTH AS charLength,
              NUMERIC_PRECISION AS prec, NUMERIC_SCALE AS scale, DATETIME_PRECISION AS dtPrec,
              GENERATION_EXPRESSION AS genExpr, COLUMN_KEY AS colKey
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      params,
    ),
    isMariaDb
      ? query(
          `SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
            WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`,
          params,
        )
      : Promise.resolve([]),
    query(
      `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col, SUB_PART AS subPart,
              INDEX_TYPE AS type, COLLATION AS coll
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
        ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      params,
    ),
    query(
      `SELECT k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_SCHEMA AS refSchema,
              k.REFERENCED_TABLE_NAME AS refTable, k.REFERENCED_COLUMN_NAME AS refCol,
              r.UPDATE_RULE AS onUpdate, r.DELETE_RULE AS onDelete
         FROM information_schema.KEY_COLUMN_USAGE k
         JOIN information_schema.REFERENTIAL_CONSTRAINTS r
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
          AND r.TABLE_NAME = k.TABLE_NAME
        WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
        ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
      params,
    ),
    query(
      `SELECT AUTO_INCREMENT AS autoInc, TABLE_ROWS AS estRows FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'`,
      params,
    ),
  ]);
  if (columns.length === 0 || tables.length === 0) {
    throw new FreightError(
      'TABLE_NOT_FOUND',
      `table ${ref.schema}.${ref.name} does not exist in the source`,
    );
  }
  const jsonColumns = new Set<string>();
  for (const c of checks) {
    const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(String(c.clause).trim());
    if (m) jsonColumns.add(m[1]!.replaceAll('``', '`'));
  }

  const sourceColumns: SourceColumn[] = columns.map((c) => {
    const name = String(c.name);
    const extra = String(c.extra ?? '').toLowerCase();
    const genExpr = c.genExpr === null || c.genExpr === undefined ? '' : String(c.genExpr);
    const generated =
      /\b(virtual|stored|persistent) generated\b/.test(extra) ||
      (genExpr !== '' && extra.includes('generated'));
    const def = generated ? undefined : parseDefault(c.def, extra, isMariaDb);
    return {
      name,
      nativeType: String(c.columnType),
      type: mysqlSourceType({
        dataType: String(c.dataType),
        columnType: String(c.columnType),
        charLength: toNumber(c.charLength),
        precision: toNumber(c.prec),
        scale: toNumber(c.scale),
        datetimePrecision: toNumber(c.dtPrec),
        jsonCheck: jsonColumns.has(name),
      }),
      nullable: c.nullable === 'YES',
      ...(def ? { default: def } : {}),
      ...(extra.includes('auto_increment') ? { autoIncrement: true } : {}),
      ...(/on update current_timestamp/.test(extra) ? { onUpdateCurrentTimestamp: true } : {}),
      ...(generated
        ? { generated: { expression: genExpr, stored: /stored|persistent/.test(extra) } }
        : {}),
    };
  });

  const primaryKey: string[] = [];
  const indexes = new Map<
    string,
    {
      unique: boolean;
      kind: SourceIndex['kind'];
      columns: SourceIndex['columns'][number][];
      unsupported?: string;
    }
  >();
  for (const s of stats) {
    const name = String(s.name);
    if (name === 'PRIMARY') {
      primaryKey.push(String(s.col));
      continue;
    }
    let index = indexes.get(name);
    if (!index) {
      const type = String(s.type).toUpperCase();
      index = {
        unique: Number(s.nonUnique) === 0,
        kind:
          type === 'FULLTEXT'
            ? 'fulltext'
            : type === 'SPATIAL'
              ? 'spatial'
              : type === 'BTREE' || type === 'HASH'
                ? 'btree'
                : 'other',
        columns: [],
      };
      indexes.set(name, index);
    }
    if (s.col === null || s.col === undefined) {
      index.unsupported = 'functional index parts';
      continue;
    }
    index.columns.push({
      name: String(s.col),
      ...(s.subPart !== null && s.subPart !== undefined ? { prefixLength: Number(s.subPart) } : {}),
      ...(s.coll === 'D' ? { descending: true } : {}),
    });
  }

  const foreignKeys = new Map<
    string,
    {
      columns: string[];
      refTable: TableRef;
      refColumns: string[];
      onDelete?: string;
      onUpdate?: string;
    }
  >();
  for (const f of fks) {
    const name = String(f.name);
    let fk = foreignKeys.get(name);
    if (!fk) {
      fk = {
        columns: [],
        refTable: { schema: String(f.refSchema), name: String(f.refTable) },
        refColumns: [],
        onDelete: String(f.onDelete),
        onUpdate: String(f.onUpdate),
      };
      foreignKeys.set(name, fk);
    }
    fk.columns.push(String(f.col));
    fk.refColumns.push(String(f.refCol));
  }

  const table = tables[0]!;
  return {
    ref,
    columns: sourceColumns,
    primaryKey,
    indexes: [...indexes].map(([name, i]) => ({ name, ...i })),
    foreignKeys: [...foreignKeys].map(([name, f]): SourceForeignKey => ({ name, ...f })),
    ...(table.autoInc !== null && table.autoInc !== undefined
      ? { autoIncrementNext: String(table.autoInc) }
      : {}),
    estimatedRows: toNumber(table.estRows) ?? 0,
  };
}

function toNumber(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

/**
 * COLUMN_DEFAULT differs: MariaDB (10.2.7+) gives SQL (`'text'`, `NULL`, `current_timestamp()`),
 * MySQL gives the raw value and flags expressions with DEFAULT_GENERATED in EXTRA.
 */
export function parseDefault(
  raw: unknown,
  extra: string,
  isMariaDb: boolean,
): ColumnDefault | undefined {
  if (raw === null || raw === undefined) return undefined;
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
  if (/^current_timestamp(\(\d*\))?$/i.test(text) || /^now\(\d*\)$/i.test(text))
    return { kind: 'current_timestamp' };
  if (isMariaDb) {
    if (text === 'NULL') return undefined;
    if (text.length >= 2 && text.startsWith("'") && text.endsWith("'")) {
      return { kind: 'literal', value: unquoteMariaDb(text.slice(1, -1)) };
    }
    if (/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return { kind: 'literal', value: text };
    return { kind: 'expression', sql: text };
  }
  if (extra.includes('default_generated')) return { kind: 'expression', sql: text };
  return { kind: 'literal', value: text };
}

function unquoteMariaDb(body: string): string {
  return body.replace(/''|\\(.)/gs, (m, ch: string | undefined) => {
    if (m === "''") return "'";
    switch (ch) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '0':
        return '\0';
      case 'Z':
        return '\x1a';
      default:
        return ch ?? '';
    }
  });
}
