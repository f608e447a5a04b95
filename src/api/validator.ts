import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { ruleAt } from '../licensing/schemas/check-input.js';

interface Problem {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message: string;
}

const INTEGER_TEXT = /^-?\d{1,16}$/;

/**
 * TypeBox validation for the API. Query strings and path parameters arrive as text and are
 * converted to the schema's types, but strictly: an integer must be written as digits ("1.5"
 * or "0x10" are not ids). No string anywhere may hold a NUL character (PostgreSQL cannot
 * store one); both are field errors like any other.
 */
export const apiValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  return (value: unknown) => {
    const nul = findNul(value, '');
    if (nul !== null) {
      return { error: [problem('nul', nul, 'must not contain NUL characters')] as never };
    }
    let converted = value;
    if (httpPart !== 'body') {
      // Before converting: Value.Convert changes the object it is given.
      const loose = looseIntegers(schema, value);
      if (loose.length) return { error: loose as never };
      converted = Value.Convert(schema, value);
    }
    if (check.Check(converted)) return { value: converted };
    return { error: [...check.Errors(converted)].map((e) => withRule(schema, e)) as never };
  };
};

/** Failures whose raw message says little ("must be equal to constant"): the domain schema's `rule` says it in words. */
const RULE_KEYWORDS = new Set(['pattern', 'format', 'const', 'minProperties', 'maxProperties']);

/** A failure of one of RULE_KEYWORDS says the rule the domain schema states (`rule`), where it states one. */
function withRule<E extends { keyword: string; schemaPath: string; message: string }>(schema: TSchema, e: E): E {
  if (!RULE_KEYWORDS.has(e.keyword)) return e;
  const rule = ruleAt(schema, e.schemaPath);
  return rule ? { ...e, message: rule } : e;
}

function problem(keyword: string, instancePath: string, message: string): Problem {
  return { keyword, instancePath, schemaPath: '#', params: {}, message };
}

/** Top-level integer fields (and integer arrays) given as something other than plain digits. */
function looseIntegers(schema: TSchema, value: unknown): Problem[] {
  const properties = (schema as { properties?: Record<string, { type?: string; items?: { type?: string } }> }).properties;
  if (!properties || typeof value !== 'object' || value === null) return [];
  const out: Problem[] = [];
  for (const [name, prop] of Object.entries(properties)) {
    const given = (value as Record<string, unknown>)[name];
    const integer = prop.type === 'integer' || (prop.type === 'array' && prop.items?.type === 'integer');
    if (!integer || given === undefined) continue;
    const texts = Array.isArray(given) ? given : [given];
    if (texts.some((t) => typeof t === 'string' && !INTEGER_TEXT.test(t.trim()))) {
      out.push(problem('type', `/${name}`, 'must be a whole number'));
    }
  }
  return out;
}

function findNul(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findNul(value[i], `${path}/${i}`);
      if (hit !== null) return hit;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) return `${path}/${key.replace(/\u0000/g, '')}`;
      const hit = findNul(item, `${path}/${key}`);
      if (hit !== null) return hit;
    }
  }
  return null;
}
