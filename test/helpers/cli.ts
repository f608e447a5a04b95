import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'keyward.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // Only what the test says: no DATABASE_URL etc. leaking in from the developer's shell.
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

/** Runs the built `keyward` CLI (bin/keyward.js → dist/) as a separate process. */
export function runCli(env: Record<string, string>, args: string[], cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(env), cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** Runs a command with `--json` that must succeed (else throws with its stderr); returns its JSON. */
export async function cli(env: Record<string, string>, args: string[]): Promise<any> {
  const res = await runCli(env, [...args, '--json']);
  if (res.code !== 0) throw new Error(`keyward ${args.join(' ')} failed: ${res.stderr}`);
  return res.json;
}

/**
 * The checks a CLI suite makes of each command, against the data dir `env()` names. `keys` holds
 * every clear key a command printed (suites add others): no error may contain one.
 */
export function cliChecks(env: () => Record<string, string>) {
  const keys: string[] = [];
  const cli = (args: string[], cwd?: string) => runCli(env(), args, cwd);

  /** A command with --json that must succeed: exit 0, nothing on stderr, exactly one JSON document. */
  async function ok(args: string[]): Promise<any> {
    const res = await cli([...args, '--json']);
    expect(res.stderr, `stderr of ${args.join(' ')}`).toBe('');
    expect(res.code, `exit code of ${args.join(' ')}`).toBe(0);
    expect(() => JSON.parse(res.stdout), `stdout of ${args.join(' ')}`).not.toThrow();
    if (typeof res.json?.key === 'string') keys.push(res.json.key);
    return res.json;
  }

  /** A command without --json that must succeed; its text, which is not JSON. */
  async function human(args: string[]): Promise<string> {
    const res = await cli(args);
    expect(res.stderr, `stderr of ${args.join(' ')}`).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trimStart().startsWith('{') || res.stdout.trimStart().startsWith('[')).toBe(false);
    return res.stdout;
  }

  /** A failure: non-zero exit, nothing on stdout, one `keyward: ` line on stderr matching `message`, no key. */
  function expectFailure(res: CliResult, args: string[], message: RegExp): void {
    const what = `${args.join(' ')} → code ${res.code}, stdout ${JSON.stringify(res.stdout)}, stderr ${JSON.stringify(res.stderr)}`;
    expect(res.code, what).not.toBe(0);
    expect(res.code, what).not.toBeNull();
    expect(res.stdout, what).toBe('');
    expect(res.stderr, what).toMatch(/^keyward: [^\n]+\n$/);
    expect(res.stderr, what).toMatch(message);
    for (const key of keys) expect(res.stderr.includes(key), `${what} contains a license key`).toBe(false);
  }

  /** Failing commands change nothing, so they run side by side, a few at a time (the machine is shared). */
  async function allFail(cases: [string[], RegExp][]): Promise<void> {
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4);
      const results = await Promise.all(batch.map(([args]) => cli([...args, '--json'])));
      batch.forEach(([args, message], j) => expectFailure(results[j]!, args, message));
    }
  }

  return { keys, cli, ok, human, expectFailure, allFail };
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Sends the signal and resolves with the exit code once the process has gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `keyward serve` as its own process and waits until /healthz answers. */
export async function startServerProcess(
  env: Record<string, string>,
  port: number,
  logLevel = 'info',
  args: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: childEnv({ ...env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: logLevel }),
    cwd: ROOT,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  // Generous: a busy 2-core machine can take many seconds to load and migrate.
  const deadline = Date.now() + 50_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early: ${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become ready: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    output: () => out,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
