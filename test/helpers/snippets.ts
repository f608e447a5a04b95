import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './cli.js';

/** The snippets of docs/signed-answers.md and docs/check-api.md, kept runnable under test/snippets/. */
export const SNIPPETS = path.join(ROOT, 'test', 'snippets');
export const NODE_SNIPPET = path.join(SNIPPETS, 'verify-answer.mjs');
export const PHP_SNIPPET = path.join(SNIPPETS, 'verify-answer.php');
/** docs/check-api.md: validating with this machine's fingerprint. */
export const NODE_FINGERPRINT_SNIPPET = path.join(SNIPPETS, 'send-fingerprint.mjs');
export const PHP_FINGERPRINT_SNIPPET = path.join(SNIPPETS, 'send-fingerprint.php');
/** docs/signed-answers.md: verifying a client endpoint's version 2 signature. */
export const NODE_CLIENT_SNIPPET = path.join(SNIPPETS, 'verify-client-answer.mjs');
export const PHP_CLIENT_SNIPPET = path.join(SNIPPETS, 'verify-client-answer.php');
/** docs/license-files.md: verifying an offline license file. */
export const PHP_LICENSE_FILE_SNIPPET = path.join(SNIPPETS, 'verify-license-file.php');
export const PYTHON_LICENSE_FILE_SNIPPET = path.join(SNIPPETS, 'verify-license-file.py');

/** Whether `php` with the sodium extension is installed (CI installs php-cli). */
export function hasPhp(): boolean {
  return phpHas('function_exists("sodium_crypto_sign_verify_detached")');
}

/** Whether `php` with the sodium and curl extensions is installed (Debian: php-cli and php-curl). */
export function hasPhpCurl(): boolean {
  return phpHas('function_exists("sodium_crypto_sign_verify_detached") && function_exists("curl_init")');
}

/** Whether `php` with the sodium and openssl extensions is installed (Debian's php-cli has both). */
export function hasPhpOpenssl(): boolean {
  return phpHas('function_exists("sodium_crypto_sign_verify_detached") && function_exists("openssl_decrypt")');
}

/** Whether `python3` can import the cryptography package (Debian: python3-cryptography). */
export function hasPythonCryptography(): boolean {
  return succeeds('python3', ['-c', 'import cryptography.hazmat.primitives.ciphers.aead']);
}

const phpHas = (condition: string): boolean => succeeds('php', ['-r', `exit(${condition} ? 0 : 3);`]);

/** Runs like runSnippet, with nothing from the test's environment but PATH. */
function succeeds(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', env: { PATH: process.env.PATH } });
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
