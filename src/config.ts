import { existsSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';

/** Every environment variable Keyward reads, with its default and its check. */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3001),
  HOST: z.string().min(1).default('0.0.0.0'),
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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
  LOG_FLUSH_MS: z.coerce.number().int().min(10).max(250).default(100),
  LICENSE_CACHE_SIZE: z.coerce.number().int().min(100).default(100_000),
});

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
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.DATABASE_URL.startsWith('sqlite:')) {
    const file = config.DATABASE_URL.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new ConfigError('Invalid configuration:\n  DATABASE_URL: sqlite: needs a file path');
    return { ...config, dialect: 'sqlite', sqlitePath: file === ':memory:' ? file : path.resolve(file) };
  }
  return { ...config, dialect: 'postgres' };
}
