import type { Static, TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { Settings } from 'typebox/system';
import { KeywardError } from '../../errors.js';

/**
 * TypeBox stops collecting errors at 8 by default: a value outside a closed list of 8 or more
 * words (the webhook events) then loses the one error that names its field, and the answer says
 * only "invalid". Still a bound (the API's validator reads the same setting).
 */
export const MAX_SCHEMA_ERRORS = 64;
Settings.Set({ maxErrors: MAX_SCHEMA_ERRORS });

/** One field that failed its schema, in words: `{ field: 'note', message: 'is at most 1000 characters' }`. */
export interface InputProblem {
  field: string;
  message: string;
}

interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
}

const compiled = new WeakMap<TSchema, Validator>();

/**
 * Checks a service's input against its domain schema; the gate every surface (API, dashboard,
 * CLI, imports) passes. Throws `invalid_input` naming the field and the limit it broke, never
 * the value (it may be a key pasted in the wrong place).
 */
export function checkInput<T extends TSchema>(schema: T, value: unknown, name = ''): Static<T> {
  let validator = compiled.get(schema);
  if (!validator) {
    validator = Compile(schema) as unknown as Validator;
    compiled.set(schema, validator);
  }
  if (validator.Check(value)) return value as Static<T>;
  const problems = inputProblems(schema, [...validator.Errors(value)] as SchemaError[], name);
  const first = problems[0] ?? { field: name || 'input', message: 'is invalid' };
  throw new KeywardError('invalid_input', `${first.field} ${first.message}`, problems);
}

/** The fields that failed, one problem each, from the errors of a schema check. */
function inputProblems(schema: TSchema, errors: readonly SchemaError[], name = ''): InputProblem[] {
  const out: InputProblem[] = [];
  const seen = new Set<string>();
  const add = (pointer: string, message: string) => {
    const field = fieldName(name, pointer);
    if (seen.has(field)) return;
    seen.add(field);
    out.push({ field, message });
  };
  for (const e of errors) {
    if (e.schemaPath.includes('/anyOf/') || e.keyword === 'boolean') continue;
    switch (e.keyword) {
      case 'required':
        for (const p of (e.params.requiredProperties as string[] | undefined) ?? []) add(`${e.instancePath}/${p}`, 'is required');
        break;
      case 'additionalProperties':
        for (const p of (e.params.additionalProperties as string[] | undefined) ?? []) add(`${e.instancePath}/${p}`, 'is not a known field');
        break;
      case 'anyOf': {
        // A value of the right type for one branch (a string where string or null is allowed) is
        // judged by that branch's rules.
        const branches = errors.filter((b) => b.instancePath === e.instancePath && b.schemaPath.startsWith(`${e.schemaPath}/anyOf/`));
        const fitting = branches.find((b) => b.keyword !== 'type' && b.keyword !== 'const');
        add(e.instancePath, fitting ? phrase(schema, fitting) : oneOf(branches));
        break;
      }
      default:
        add(e.instancePath, phrase(schema, e));
    }
  }
  return out;
}

/** What a value breaking this rule must be, in words that name the limit. */
function phrase(root: TSchema, e: SchemaError): string {
  const limit = e.params.limit as number | undefined;
  switch (e.keyword) {
    case 'maxLength':
      return `is at most ${limit} characters`;
    case 'minLength':
      return limit === 1 ? 'must not be empty' : `is at least ${limit} characters`;
    case 'maximum':
      return `is at most ${limit}`;
    case 'minimum':
      return `is at least ${limit}`;
    case 'maxItems':
      return `holds at most ${limit} entries`;
    case 'minItems':
      return `needs at least ${limit} ${limit === 1 ? 'entry' : 'entries'}`;
    case 'minProperties':
      return 'needs at least one field';
    case 'type':
      return e.params.type === 'integer' ? 'must be a whole number' : `must be ${String(e.params.type)}`;
    case 'pattern':
    case 'format':
      return ruleAt(root, e.schemaPath) ?? 'is not in the expected form';
    default:
      return 'is invalid';
  }
}

function oneOf(branches: readonly SchemaError[]): string {
  const consts = branches.filter((b) => b.keyword === 'const').map((b) => String(b.params.allowedValue));
  if (consts.length && consts.length === branches.length) return `must be one of ${consts.join(', ')}`;
  const types = branches.filter((b) => b.keyword === 'type').map((b) => String(b.params.type));
  if (types.length && types.length === branches.length) return `must be ${types.join(' or ')}`;
  return 'is invalid';
}

/**
 * The `rule` of the schema a `#/properties/x/anyOf/0` path points at: what a value breaking its
 * pattern or format must be, in words (e.g. the username's allowed characters).
 */
export function ruleAt(root: TSchema, pointer: string): string | undefined {
  let node: unknown = root;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  const rule = node && typeof node === 'object' ? (node as { rule?: unknown }).rule : undefined;
  return typeof rule === 'string' ? rule : undefined;
}

/** `/productIds/0` → `productIds[0]`; a bare value is called by the name it was checked under. */
function fieldName(name: string, pointer: string): string {
  const path = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), name);
  return path || 'input';
}
