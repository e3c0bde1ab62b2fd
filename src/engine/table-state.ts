import type { TablePlan } from './plan.js';
import type { SourceType, TargetType } from '../domain/column-types.js';
import type { SourceTable, TargetCaps } from './ports.js';
import { compileConverter, compileRowConversion, type RowConversion } from './value-codec.js';

/** The source table as connectors need it, rebuilt from the persisted plan (no re-introspection). */
export function sourceTableOf(plan: TablePlan): SourceTable {
  return {
    ref: plan.source,
    columns: plan.columns.map((c) => ({
      name: c.source,
      nativeType: c.nativeType,
      type: c.sourceType,
      nullable: c.nullable,
    })),
    primaryKey: plan.keySourceColumns,
    indexes: [],
    foreignKeys: [],
    estimatedRows: plan.estimatedRows,
  };
}

export function conversionOf(
  plan: TablePlan,
  caps: Pick<TargetCaps, 'textAllowsNul' | 'textBytes'>,
): RowConversion {
  return compileRowConversion(
    plan.columns.map((c) =>
      compileConverter(c.sourceType, c.type, {
        column: c.name,
        textAllowsNul: caps.textAllowsNul,
        nullable: c.nullable,
        textBytes: caps.textBytes,
      }),
    ),
  );
}

const TEXT_SOURCES = new Set<SourceType['kind']>(['char', 'varchar', 'text', 'enum', 'json']);
const TEXT_TARGETS = new Set<TargetType['kind']>(['char', 'varchar', 'text', 'json']);

/**
 * The source columns a batch asks to read as UTF-8 bytes (ReadHints.utf8Bytes): text into text,
 * when the target writes bytes. Key columns stay strings: keys are compared, logged and bound.
 */
export function utf8BytesColumnsOf(plan: TablePlan, caps: Pick<TargetCaps, 'textBytes'>) {
  const keys = new Set(plan.keySourceColumns);
  return new Set(
    caps.textBytes
      ? plan.columns
          .filter(
            (c) =>
              !keys.has(c.source) &&
              TEXT_SOURCES.has(c.sourceType.kind) &&
              TEXT_TARGETS.has(c.type.kind),
          )
          .map((c) => c.source)
      : [],
  );
}
