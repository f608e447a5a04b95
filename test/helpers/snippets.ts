import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './cli.js';

/** The verification snippets of docs/signed-answers.md, kept runnable under test/snippets/. */
export const SNIPPETS = path.join(ROOT, 'test', 'snippets');
export const NODE_SNIPPET = path.join(SNIPPETS, 'verify-answer.mjs');
export const PHP_SNIPPET = path.join(SNIPPETS, 'verify-answer.php');

/** Whether `php` with the sodium extension is installed (CI installs php-cli). */
export function hasPhp(): boolean {
  try {
    execFileSync('php', ['-r', 'exit(function_exists("sodium_crypto_sign_verify_detached") ? 0 : 3);'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface SnippetRun {
  code: number | null;
  /** stdout parsed as JSON (the snippets print one line of JSON), else the raw text. */
  out: any;
  stderr: string;
}

/** Runs a snippet as a seller would, with nothing from the test's environment but PATH. */
export function runSnippet(cmd: string, args: string[]): Promise<SnippetRun> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      let out: unknown;
      try {
        out = JSON.parse(stdout);
      } catch {
        out = stdout;
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out, stderr });
    });
  });
}

export const runNodeSnippet = (args: string[]): Promise<SnippetRun> => runSnippet(process.execPath, [NODE_SNIPPET, ...args]);
export const runPhpSnippet = (args: string[]): Promise<SnippetRun> => runSnippet('php', [PHP_SNIPPET, ...args]);
