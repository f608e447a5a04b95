import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
