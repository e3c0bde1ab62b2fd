import type { TablePlan } from './plan.js';
import type { SourceTable } from './ports.js';
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

export function conversionOf(plan: TablePlan, textAllowsNul: boolean): RowConversion {
  return compileRowConversion(
    plan.columns.map((c) =>
      compileConverter(c.sourceType, c.type, {
        column: c.name,
        textAllowsNul,
        nullable: c.nullable,
      }),
    ),
  );
}
