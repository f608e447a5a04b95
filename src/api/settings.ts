import { readIntegers } from '../webhooks/settings.js';

export interface ApiSettings {
  /** Requests a minute each API token (or, without a token, each client IP) may make. */
  rateLimit: number;
}

/** Reads API_RATE_LIMIT from the environment (after config.ts has loaded `.env`). */
export function loadApiSettings(env: NodeJS.ProcessEnv = process.env): ApiSettings {
  return readIntegers(env, [{ name: 'API_RATE_LIMIT', key: 'rateLimit', min: 1, max: 1_000_000, fallback: 600 }]) as unknown as ApiSettings;
}
