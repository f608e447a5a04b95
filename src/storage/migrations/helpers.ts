import type { ColumnDataType, ColumnDefinitionBuilder } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** An auto-increment primary key that reads the same in both dialects. */
export function idColumn(
  dialect: Dialect,
  big = false,
): [ColumnDataType, (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder] {
  if (dialect === 'postgres') return [big ? 'bigserial' : 'serial', (c) => c.primaryKey()];
  return ['integer', (c) => c.primaryKey().autoIncrement()];
}
