import { ConfigError } from '../config.js';

export interface WebhookSettings {
  /** First retry delay; each further retry doubles it (capped at an hour). */
  retryBaseMs: number;
  /** How often the worker looks for due deliveries queued by other processes. */
  pollMs: number;
  /** How long one delivery attempt may take. */
  timeoutMs: number;
  /** Per endpoint and server instance: at most this many `check.failed` events a minute. */
  checkFailedPerMinute: number;
  /** Finished deliveries are kept in the delivery log this many days. */
  logDays: number;
}

const VARIABLES: { name: string; key: keyof WebhookSettings; min: number; max: number; fallback: number }[] = [
  { name: 'WEBHOOK_RETRY_BASE_MS', key: 'retryBaseMs', min: 10, max: 3_600_000, fallback: 10_000 },
  { name: 'WEBHOOK_POLL_MS', key: 'pollMs', min: 10, max: 60_000, fallback: 1_000 },
  { name: 'WEBHOOK_TIMEOUT_MS', key: 'timeoutMs', min: 100, max: 60_000, fallback: 10_000 },
  { name: 'WEBHOOK_CHECK_FAILED_PER_MINUTE', key: 'checkFailedPerMinute', min: 0, max: 100_000, fallback: 60 },
  { name: 'WEBHOOK_LOG_DAYS', key: 'logDays', min: 1, max: 3650, fallback: 30 },
];

/** Reads the WEBHOOK_* environment variables (after config.ts has loaded `.env`); fails like config.ts does. */
export function loadWebhookSettings(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  return readIntegers(env, VARIABLES) as unknown as WebhookSettings;
}

export function readIntegers(env: NodeJS.ProcessEnv, variables: readonly { name: string; key: string; min: number; max: number; fallback: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  const problems: string[] = [];
  for (const v of variables) {
    const raw = env[v.name];
    if (raw === undefined || raw === '') {
      out[v.key] = v.fallback;
    } else if (!/^\d{1,10}$/.test(raw) || Number(raw) < v.min || Number(raw) > v.max) {
      problems.push(`${v.name} must be a whole number from ${v.min} to ${v.max} (got "${raw.slice(0, 20)}")`);
    } else {
      out[v.key] = Number(raw);
    }
  }
  if (problems.length) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return out;
}
