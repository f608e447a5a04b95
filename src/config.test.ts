import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from './config.js';

const load = (env: NodeJS.ProcessEnv): Config => loadConfig(env, { dotenv: false });

/** The ConfigError thrown for `env`, or a failure if none is thrown. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig: defaults', () => {
  it('uses the documented defaults for an empty environment', () => {
    const config = load({});
    expect(config.PORT).toBe(3001);
    expect(config.HOST).toBe('0.0.0.0');
    expect(config.DATABASE_URL).toBe('sqlite:./data/keyward.db');
    expect(config.dialect).toBe('sqlite');
    expect(config.sqlitePath).toBe(path.resolve('data/keyward.db'));
    expect(config.PUBLIC_URL).toBe('http://localhost:3001');
    expect(config.TRUST_PROXY).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
    expect(config.KEYWARD_SECRET).toBeUndefined();
    expect(config.DATA_DIR).toBe('./data');
    expect(config.WEBHOOK_ALLOW_PRIVATE).toBe(false);
    expect(config).toMatchObject({
      API_RATE_LIMIT: 600,
      WEBHOOK_RETRY_BASE_MS: 10_000,
      WEBHOOK_POLL_MS: 1000,
      WEBHOOK_TIMEOUT_MS: 10_000,
      WEBHOOK_CHECK_FAILED_PER_MINUTE: 60,
      WEBHOOK_LOG_DAYS: 30,
    });
  });

  it('treats empty variables as unset', () => {
    const config = load({ PORT: '', HOST: '', DATABASE_URL: '', PUBLIC_URL: '', KEYWARD_SECRET: '', REDIS_URL: '' });
    expect(config).toMatchObject({ PORT: 3001, HOST: '0.0.0.0', dialect: 'sqlite', PUBLIC_URL: 'http://localhost:3001' });
    expect(config.KEYWARD_SECRET).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    expect(load({ SOMETHING_ELSE: 'x', PATH: '/bin' })).toEqual(load({}));
  });
});

describe('loadConfig: values', () => {
  it('reads PORT and HOST', () => {
    expect(load({ PORT: '8080', HOST: '127.0.0.1' })).toMatchObject({ PORT: 8080, HOST: '127.0.0.1' });
    expect(load({ PORT: '0' }).PORT).toBe(0);
    expect(load({ PORT: '65535' }).PORT).toBe(65535);
  });

  it('resolves a relative sqlite path against the working directory', () => {
    expect(load({ DATABASE_URL: 'sqlite:db/test.db' }).sqlitePath).toBe(path.resolve('db/test.db'));
    expect(load({ DATABASE_URL: 'sqlite:./x.db' }).sqlitePath).toBe(path.join(process.cwd(), 'x.db'));
  });

  it('keeps an absolute sqlite path, with or without sqlite:// in front', () => {
    expect(load({ DATABASE_URL: 'sqlite:/var/lib/keyward/k.db' }).sqlitePath).toBe('/var/lib/keyward/k.db');
    expect(load({ DATABASE_URL: 'sqlite:///var/lib/keyward/k.db' }).sqlitePath).toBe('/var/lib/keyward/k.db');
  });

  it('keeps an in-memory sqlite database as is', () => {
    expect(load({ DATABASE_URL: 'sqlite::memory:' })).toMatchObject({ dialect: 'sqlite', sqlitePath: ':memory:' });
  });

  it('rejects sqlite: without a path', () => {
    expect(configError({ DATABASE_URL: 'sqlite:' }).message).toMatch(/DATABASE_URL/);
  });

  it.each([['postgres://user:pw@db.example.com:5432/keyward'], ['postgresql://localhost/keyward']])('selects postgres for %s', (url) => {
    const config = load({ DATABASE_URL: url });
    expect(config.dialect).toBe('postgres');
    expect(config.DATABASE_URL).toBe(url);
    expect(config.sqlitePath).toBeUndefined();
  });

  it.each([
    ['https://license.example.com/', 'https://license.example.com'],
    ['https://license.example.com///', 'https://license.example.com'],
    ['https://example.com/licenses/', 'https://example.com/licenses'],
    ['http://localhost:3001', 'http://localhost:3001'],
  ])('strips trailing slashes from PUBLIC_URL %s', (url, expected) => {
    expect(load({ PUBLIC_URL: url }).PUBLIC_URL).toBe(expected);
  });

  it('reads the optional settings', () => {
    const secret = 's'.repeat(32);
    const config = load({ TRUST_PROXY: 'loopback', REDIS_URL: 'rediss://cache:6380', KEYWARD_SECRET: secret, DATA_DIR: '/srv/kw' });
    expect(config).toMatchObject({ TRUST_PROXY: 'loopback', REDIS_URL: 'rediss://cache:6380', KEYWARD_SECRET: secret, DATA_DIR: '/srv/kw' });
  });

  it('reads the API and webhook settings', () => {
    const config = load({ API_RATE_LIMIT: '5', WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_POLL_MS: '50', WEBHOOK_CHECK_FAILED_PER_MINUTE: '0', WEBHOOK_LOG_DAYS: '1' });
    expect(config).toMatchObject({ API_RATE_LIMIT: 5, WEBHOOK_RETRY_BASE_MS: 100, WEBHOOK_POLL_MS: 50, WEBHOOK_CHECK_FAILED_PER_MINUTE: 0, WEBHOOK_LOG_DAYS: 1 });
  });

  it('reads WEBHOOK_ALLOW_PRIVATE as true or false', () => {
    expect(load({ WEBHOOK_ALLOW_PRIVATE: 'true' }).WEBHOOK_ALLOW_PRIVATE).toBe(true);
    expect(load({ WEBHOOK_ALLOW_PRIVATE: 'false' }).WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });
});

describe('loadConfig: bad values', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', './data/keyward.db'],
    ['PUBLIC_URL', 'notaurl'],
    ['PUBLIC_URL', 'license.example.com'],
    ['KEYWARD_SECRET', 'short'],
    ['KEYWARD_SECRET', 'x'.repeat(31)],
    ['REDIS_URL', 'http://cache:6379'],
    ['PORT', ' '],
    ['LOG_FLUSH_MS', '1000'],
    ['LOG_LEVEL', 'verbose'],
    ['WEBHOOK_ALLOW_PRIVATE', 'yes'],
    ['WEBHOOK_ALLOW_PRIVATE', 'TRUE'],
  ])('rejects %s=%s with a ConfigError naming it', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('names every bad variable in one message, and no good one', () => {
    const err = configError({
      PORT: 'abc',
      DATABASE_URL: 'mysql://x',
      PUBLIC_URL: 'notaurl',
      KEYWARD_SECRET: 'too-short',
      HOST: '127.0.0.1',
    });
    for (const name of ['PORT', 'DATABASE_URL', 'PUBLIC_URL', 'KEYWARD_SECRET']) {
      expect(err.message).toMatch(new RegExp(`\\b${name}\\b`));
    }
    expect(err.message).not.toContain('HOST');
    expect(err.message).not.toContain('127.0.0.1');
  });

  it.each([
    ['PORT', 'abc', 'PORT must be a whole number from 0 to 65535 (got "abc")'],
    ['API_RATE_LIMIT', '0', 'API_RATE_LIMIT must be a whole number from 1 to 1000000 (got "0")'],
    ['WEBHOOK_POLL_MS', '5', 'WEBHOOK_POLL_MS must be a whole number from 10 to 60000 (got "5")'],
    ['WEBHOOK_LOG_DAYS', '1.5', 'WEBHOOK_LOG_DAYS must be a whole number from 1 to 3650 (got "1.5")'],
    ['WEBHOOK_ALLOW_PRIVATE', 'yes', 'WEBHOOK_ALLOW_PRIVATE must be true or false (got "yes")'],
    ['METRICS', 'maybe', 'METRICS must be on or off (got "maybe")'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    ['PUBLIC_URL', 'license.example.com', 'PUBLIC_URL must be an absolute URL such as https://license.example.com (got "license.example.com")'],
    ['KEYWARD_SECRET', 'short', 'KEYWARD_SECRET must be at least 32 characters'],
  ])('says what is wrong with %s=%j and what is allowed', (name, value, message) => {
    expect(configError({ [name]: value }).message).toBe(`invalid configuration: ${message}`);
  });

  it('does not echo a rejected secret', () => {
    const err = configError({ KEYWARD_SECRET: 'hunter2-secret' });
    expect(err.message).not.toContain('hunter2-secret');
  });

  it('accepts a secret of exactly 32 characters', () => {
    expect(load({ KEYWARD_SECRET: 'k'.repeat(32) }).KEYWARD_SECRET).toBe('k'.repeat(32));
  });
});
