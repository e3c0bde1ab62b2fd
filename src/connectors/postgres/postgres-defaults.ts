import type { SourceType } from '../../domain/column-types.js';
import type { ColumnDefault } from '../../engine/ports.js';

const NOW = /^(?:CURRENT_TIMESTAMP(?:\(\d+\))?|now\(\)|transaction_timestamp\(\))$/i;
/** `'text'` with an optional cast (`'a''b'::text`, `'-1'::integer`, `'{a,b}'::text[]`, `'x'::"char"`). */
const QUOTED = /^'((?:[^']|'')*)'(?:::[\w\s."[\](),]+)?$/;
const BARE = /^(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false)$/;

/**
 * A column default as `pg_get_expr` prints it → Freight's default. CURRENT_TIMESTAMP and now()
 * are the current time; a constant (quoted text with a cast, a number, true/false) is a literal
 * holding its text form; anything else is an expression, reported and not carried. bytea
 * constants stay expressions: a literal is carried as text, and `'\x00'` is not the bytes' text.
 * An explicit `NULL` default is no default. (nextval of an owned sequence is decided by the caller.)
 */
export function parsePgDefault(sql: string, type: SourceType): ColumnDefault | undefined {
  const text = sql.trim();
  if (/^NULL(?:::[\w\s."[\](),]+)?$/i.test(text)) return undefined;
  if (NOW.test(text)) return { kind: 'current_timestamp' };
  if (type.kind !== 'binary') {
    const quoted = QUOTED.exec(text);
    if (quoted) return { kind: 'literal', value: quoted[1]!.replaceAll("''", "'") };
    if (BARE.test(text)) return { kind: 'literal', value: text };
  }
  return { kind: 'expression', sql: text };
}
