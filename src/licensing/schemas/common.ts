import { Type, type TLiteral, type TSchema, type TUnion } from 'typebox';
import { LIMITS } from './limits.js';

/** Building blocks the entity schemas share. */

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A row id: what the database's integer columns hold. */
export const Id = Type.Integer({ minimum: LIMITS.id.min, maximum: LIMITS.id.max });

/** A time in an answer: ISO 8601 UTC. */
export const Time = Type.String({ format: 'date-time', description: 'ISO 8601 UTC' });

/** A time as a caller writes it: a date or date-time (a time without a zone is UTC). */
export const TimeText = Type.String({ maxLength: LIMITS.license.time, description: 'ISO 8601 date or date-time; no zone means UTC' });

type LiteralsOf<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/** One of a closed list of words (roles, states, events), from the list that declares them. */
export const Literals = <const T extends readonly string[]>(values: T): TUnion<LiteralsOf<T>> =>
  Type.Union(values.map((v) => Type.Literal(v)) as unknown as LiteralsOf<T>) as unknown as TUnion<LiteralsOf<T>>;
