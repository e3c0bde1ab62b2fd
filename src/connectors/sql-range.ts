import type { KeyRange, KeyTuple } from '../engine/ports.js';

/**
 * Key range predicates `lo <= key < hi`, in the two spellings databases optimise:
 * - `row`: row-value comparison `(a, b) >= (?, ?)` (PostgreSQL, SQLite use the index for it);
 * - `expanded`: `a > ? OR (a = ? AND b >= ?)` with a leading `a >= ?` so MySQL/MariaDB pick a
 *   range scan on the first key column.
 *
 * `value(column, v)` renders one bound value (a placeholder or a validated literal).
 */
export interface RangeSql {
  readonly quote: (identifier: string) => string;
  readonly value: (column: string, v: unknown) => string;
  readonly style: 'row' | 'expanded';
}

export function keyRangePredicate(
  keyColumns: readonly string[],
  range: KeyRange,
  sql: RangeSql,
): string {
  const parts: string[] = [];
  if (range.lo !== null) parts.push(bound(keyColumns, range.lo, '>', true, sql));
  if (range.hi !== null) parts.push(bound(keyColumns, range.hi, '<', false, sql));
  return parts.length === 0 ? '1 = 1' : parts.join(' AND ');
}

/** `key > after` (planning resumes strictly after a key). */
export function keyAfterPredicate(
  keyColumns: readonly string[],
  after: KeyTuple,
  sql: RangeSql,
): string {
  return bound(keyColumns, after, '>', false, sql);
}

function bound(
  cols: readonly string[],
  tuple: KeyTuple,
  op: '>' | '<',
  inclusive: boolean,
  sql: RangeSql,
): string {
  if (tuple.length !== cols.length)
    throw new Error(`key has ${tuple.length} values for ${cols.length} columns`);
  const q = cols.map((c) => sql.quote(c));
  const last = inclusive ? `${op}=` : op;
  if (cols.length === 1) return `${q[0]} ${last} ${sql.value(cols[0]!, tuple[0])}`;
  if (sql.style === 'row') {
    return `(${q.join(', ')}) ${last} (${cols.map((c, i) => sql.value(c, tuple[i])).join(', ')})`;
  }
  const ors: string[] = [];
  for (let i = 0; i < cols.length; i++) {
    const eqs = cols.slice(0, i).map((c, j) => `${q[j]} = ${sql.value(c, tuple[j])}`);
    const cmp = `${q[i]} ${i === cols.length - 1 ? last : op} ${sql.value(cols[i]!, tuple[i])}`;
    ors.push(eqs.length === 0 ? cmp : `(${[...eqs, cmp].join(' AND ')})`);
  }
  const lead = `${q[0]} ${op}= ${sql.value(cols[0]!, tuple[0])}`;
  return `(${lead} AND (${ors.join(' OR ')}))`;
}
