import { existsSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` }))
    .default(String(fallback));

/** Every environment variable Keyward reads, with its default and its check. */
const schema = z.object({
  PORT: int(0, 65535, 3001),
  HOST: z.string().min(1, { message: 'must not be empty' }).default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .default('sqlite:./data/keyward.db')
    .refine((v) => /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(v), {
      message: 'must start with sqlite: (e.g. sqlite:./data/keyward.db) or postgres://',
    }),
  PUBLIC_URL: z
    .string()
    .url({ message: 'must be an absolute URL such as https://license.example.com' })
    .default('http://localhost:3001')
    .transform((v) => v.replace(/\/+$/, '')),
  TRUST_PROXY: z.string().optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, { message: 'must start with redis:// or rediss://' })
    .optional(),
  KEYWARD_SECRET: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      errorMap: () => ({ message: 'must be one of fatal, error, warn, info, debug, trace, silent' }),
    })
    .default('info'),
  BODY_LIMIT: int(1024, 10 * 1024 * 1024, 64 * 1024),
  LOG_FLUSH_MS: int(10, 250, 100),
  /** NOT FOUND answers for distinct keys one IP (IPv6: /64) may get in 60 s before its checks answer 429; 0 turns the brake off. */
  CHECK_FAIL_LIMIT: int(0, 1_000_000_000, 30),
  LICENSE_CACHE_SIZE: int(100, 100_000_000, 100_000),
  /** GET /metrics (Prometheus): off unless METRICS=on or METRICS_TOKEN is set (then a Bearer token is required). */
  METRICS: z.enum(['on', 'off'], { errorMap: () => ({ message: 'must be on or off' }) }).default('off'),
  METRICS_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  // Dashboard (docs/dashboard.md).
  SIGNUP: z
    .enum(['open', 'closed'], { errorMap: () => ({ message: 'must be open or closed' }) })
    .default('closed'),
  IP_CHANGES_PER_DAY: int(0, 1000, 5),
  DISCORD_CLIENT_ID: z.string().optional(),
  DISCORD_CLIENT_SECRET: z.string().optional(),
  DISCORD_AUTHORIZE_URL: z.string().url({ message: 'must be an absolute URL' }).default('https://discord.com/oauth2/authorize'),
  DISCORD_TOKEN_URL: z.string().url({ message: 'must be an absolute URL' }).default('https://discord.com/api/oauth2/token'),
  DISCORD_USER_URL: z.string().url({ message: 'must be an absolute URL' }).default('https://discord.com/api/users/@me'),
  /** Previous Auths older than this many days are pruned (their daily counts are kept); 0 keeps them forever. */
  AUTH_LOG_RETENTION_DAYS: int(0, 36500, 90),
  /** Webhook receivers on private, loopback and link-local addresses (docs/deployment.md): refused unless true. */
  WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false'], { errorMap: () => ({ message: 'must be true or false' }) })
    .default('false')
    .transform((v) => v === 'true'),
});

const SENSITIVE = new Set(['KEYWARD_SECRET', 'DATABASE_URL', 'REDIS_URL', 'METRICS_TOKEN', 'DISCORD_CLIENT_SECRET']);

export type Config = z.infer<typeof schema> & { dialect: 'sqlite' | 'postgres'; sqlitePath?: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads `.env` (if present) then the environment, and fails with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, opts: { dotenv?: boolean } = {}): Config {
  if (opts.dotenv !== false && existsSync('.env')) dotenv.config({ path: '.env', quiet: true } as never);
  const source: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') source[key] = value;
  }
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      // Never echo values that may hold a secret or a password.
      return SENSITIVE.has(name) ? `${name} ${i.message}` : `${name} ${i.message} (got "${source[name]}")`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = parsed.data;
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
