import os from 'node:os';
import { loadConfig } from '../config.js';
import { KeywardError } from '../errors.js';
import { openServices, type Services } from '../services.js';

export interface OutputOptions {
  json?: boolean;
}

/** Who the audit log names for CLI changes. */
export const cliActor = (): string => {
  try {
    return `cli:${os.userInfo().username}`;
  } catch {
    return 'cli';
  }
};

/**
 * Runs one CLI command against the configured database: prints its result as exactly one JSON
 * document (`--json`) or as text, and turns any failure into one line on stderr and exit code 1.
 */
export async function runCommand<T>(
  opts: OutputOptions,
  work: (services: Services) => Promise<T>,
  human: (result: T) => string,
): Promise<void> {
  let services: Services | null = null;
  try {
    services = (await openServices(loadConfig())).services;
    const result = await work(services);
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${human(result)}\n`);
  } catch (err) {
    fail(err);
  } finally {
    await services?.close().catch(() => {});
  }
}

export function fail(err: unknown): void {
  const message =
    err instanceof KeywardError || (err instanceof Error && err.name === 'ConfigError')
      ? err.message
      : `${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(`keyward: ${message.replace(/\n\s*/g, '; ')}\n`);
  process.exitCode = 1;
}

/** Formats an object as aligned "label: value" lines for people. */
export function table(rows: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  return Object.entries(rows)
    .map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v === null || v === undefined ? '-' : Array.isArray(v) ? v.join(', ') || '-' : String(v)}`)
    .join('\n');
}
