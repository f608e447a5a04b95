import { existsSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { Type, type Static, type TLiteral, type TUnion } from 'typebox';
import { Compile } from 'typebox/compile';
import { Format } from 'typebox/format';

// Whatever `new URL()` reads: an absolute URL with a scheme.
Format.Set('absolute-url', (value) => URL.canParse(value));

const int = (minimum: number, maximum: number, fallback: number) => Type.Integer({ minimum, maximum, default: fallback });
type LiteralsOf<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
const oneOf = <const T extends readonly string[]>(values: T, fallback: T[number]) =>
  Type.Union(values.map((v) => Type.Literal(v)) as unknown as LiteralsOf<T>, { default: fallback }) as unknown as TUnion<LiteralsOf<T>>;
const url = (fallback: string, rule = 'must be an absolute URL') => Type.String({ format: 'absolute-url', default: fallback, rule });

/** Every environment variable Keyward reads, with its default (`default`) and its check; the rest are optional. */
const schema = Type.Object({
  PORT: int(0, 65535, 3001),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  DATABASE_URL: Type.String({
    pattern: '^(sqlite:|postgres://|postgresql://)',
    default: 'sqlite:./data/keyward.db',
    rule: 'must start with sqlite: (e.g. sqlite:./data/keyward.db) or postgres://',
  }),
  PUBLIC_URL: url('http://localhost:3001', 'must be an absolute URL such as https://license.example.com'),
  TRUST_PROXY: Type.Optional(Type.String()),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', rule: 'must start with redis:// or rediss://' })),
  KEYWARD_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  BODY_LIMIT: int(1024, 10 * 1024 * 1024, 64 * 1024),
  LOG_FLUSH_MS: int(10, 250, 100),
  /** NOT FOUND answers for distinct keys one IP (IPv6: /64) may get in 60 s before its checks answer 429; 0 turns the brake off. */
  CHECK_FAIL_LIMIT: int(0, 1_000_000_000, 30),
  LICENSE_CACHE_SIZE: int(100, 100_000_000, 100_000),
  /** How often each instance frees machines whose policy heartbeat passed (docs/machines.md). */
  MACHINE_SWEEP_MS: int(100, 3_600_000, 10_000),
  /** GET /metrics (Prometheus): off unless METRICS=on or METRICS_TOKEN is set (then a Bearer token is required). */
  METRICS: oneOf(['on', 'off'], 'off'),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  // Dashboard (docs/dashboard.md).
  SIGNUP: oneOf(['open', 'closed'], 'closed'),
  IP_CHANGES_PER_DAY: int(0, 1000, 5),
  DISCORD_CLIENT_ID: Type.Optional(Type.String()),
  DISCORD_CLIENT_SECRET: Type.Optional(Type.String()),
  DISCORD_AUTHORIZE_URL: url('https://discord.com/oauth2/authorize'),
  DISCORD_TOKEN_URL: url('https://discord.com/api/oauth2/token'),
  DISCORD_USER_URL: url('https://discord.com/api/users/@me'),
  /** Previous Auths older than this many days are pruned (their daily counts are kept); 0 keeps them forever. */
  AUTH_LOG_RETENTION_DAYS: int(0, 36500, 90),
  // The management API and webhooks (docs/api.md#configuration).
  /** Requests a minute each API token (or, without a token, each client IP) may make. */
  API_RATE_LIMIT: int(1, 1_000_000, 600),
  /** First webhook retry delay; each further retry doubles it (capped at an hour). */
  WEBHOOK_RETRY_BASE_MS: int(10, 3_600_000, 10_000),
  /** How often the delivery worker looks for deliveries queued by other processes. */
  WEBHOOK_POLL_MS: int(10, 60_000, 1_000),
  /** How long one delivery attempt may take. */
  WEBHOOK_TIMEOUT_MS: int(100, 60_000, 10_000),
  /** Per endpoint and server instance: at most this many `check.failed` events a minute. */
  WEBHOOK_CHECK_FAILED_PER_MINUTE: int(0, 100_000, 60),
  /** Finished deliveries are kept in the delivery log this many days. */
  WEBHOOK_LOG_DAYS: int(1, 3650, 30),
  /** Webhook receivers on private, loopback and link-local addresses (docs/deployment.md): refused unless true. */
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
});

const check = Compile(schema);
const SENSITIVE = new Set(['KEYWARD_SECRET', 'DATABASE_URL', 'REDIS_URL', 'METRICS_TOKEN', 'DISCORD_CLIENT_SECRET']);

export type Config = Static<typeof schema> & { dialect: 'sqlite' | 'postgres'; sqlitePath?: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads `.env` (if present) then the environment, and fails with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: { dotenv?: boolean } = {}): Config {
  if (opts.dotenv !== false && existsSync('.env')) dotenv.config({ path: '.env', quiet: true } as never);
  const source: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, rule] of Object.entries(schema.properties) as [string, VariableSchema][]) {
    const text = env[name];
    if (text === undefined || text === '') {
      if (rule.default !== undefined) values[name] = rule.default;
      continue;
    }
    source[name] = text;
    values[name] = fromText(rule, text);
  }
  for (const name of new Set([...check.Errors(values)].map((e) => e.instancePath.split('/')[1] ?? ''))) {
    const rule = (schema.properties as Record<string, VariableSchema>)[name];
    if (!rule) continue;
    // Never echo values that may hold a secret or a password.
    const problem = `${name} ${problemOf(rule)}`;
    problems.push(SENSITIVE.has(name) ? problem : `${problem} (got "${source[name]}")`);
  }
  if (problems.length) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  const config = values as Static<typeof schema>;
  config.PUBLIC_URL = config.PUBLIC_URL.replace(/\/+$/, '');
  if (!config.DISCORD_CLIENT_ID !== !config.DISCORD_CLIENT_SECRET) {
    throw new ConfigError('invalid configuration: DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET must be set together');
  }
  if (config.DATABASE_URL.startsWith('sqlite:')) {
    const file = config.DATABASE_URL.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new ConfigError('invalid configuration: DATABASE_URL sqlite: needs a file path (e.g. sqlite:./data/keyward.db)');
    return { ...config, dialect: 'sqlite', sqlitePath: file === ':memory:' ? file : path.resolve(file) };
  }
  return { ...config, dialect: 'postgres' };
}

interface VariableSchema {
  type?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  anyOf?: { const: string }[];
  rule?: string;
}

/** The variable's text as the value its schema checks: whole numbers and true/false are written exactly so. */
function fromText(rule: VariableSchema, text: string): unknown {
  if (rule.type === 'integer') return /^\d{1,16}$/.test(text) ? Number(text) : text;
  if (rule.type === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

/** What the variable must be, with its allowed range or values. */
function problemOf(rule: VariableSchema): string {
  if (rule.type === 'integer') return `must be a whole number from ${rule.minimum} to ${rule.maximum}`;
  if (rule.type === 'boolean') return 'must be true or false';
  if (rule.anyOf) {
    const values = rule.anyOf.map((v) => v.const);
    return values.length === 2 ? `must be ${values[0]} or ${values[1]}` : `must be one of ${values.join(', ')}`;
  }
  if (rule.rule) return rule.rule;
  if (rule.minLength !== undefined && rule.minLength > 1) return `must be at least ${rule.minLength} characters`;
  return 'must not be empty';
}
