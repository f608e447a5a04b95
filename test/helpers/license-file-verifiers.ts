import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'vitest';
import { KeywardLicenseFileError, verifyLicenseFile, type LicenseFilePublicKeys } from '../../src/client/index.js';
import { armourLicenseFile, type LicenseFileFields } from '../../src/licensing/license-file.js';
import { hasPhpOpenssl, hasPythonCryptography, PHP_LICENSE_FILE_SNIPPET, PYTHON_LICENSE_FILE_SNIPPET, runSnippet } from './snippets.js';

/**
 * The three license-file verifiers of docs/license-files.md, run side by side on one file: the
 * `keyward/client` library in-process, and the PHP and Python snippets as a seller runs them.
 */

export type LicenseFileVerifier = 'node' | 'php' | 'python';

/** Accepted with the payload it printed or returned, or refused with the failure code. */
export type LicenseFileOutcome = { ok: true; payload: unknown } | { ok: false; code: string };

export interface LicenseFileInput {
  text: string;
  /** Passed as a JSON file to the snippets, as is to the library. */
  publicKeys: LicenseFilePublicKeys;
  licenseKey: string;
  fingerprint?: string;
}

let available: LicenseFileVerifier[] | undefined;

/** The verifiers this machine can run: node always, php and python when installed with their extensions. */
export function licenseFileVerifiers(): LicenseFileVerifier[] {
  available ??= ['node', ...(hasPhpOpenssl() ? (['php'] as const) : []), ...(hasPythonCryptography() ? (['python'] as const) : [])];
  return available;
}

/**
 * Registers, at the top of a test file, a failing test for each verifier that is missing when CI is
 * set (.ci/run installs them), or a skipped one with a warning elsewhere.
 */
export function requireLicenseFileVerifiers(): void {
  const missing = [
    ['php', 'php (with sodium and openssl); .ci/run installs php-cli'],
    ['python', 'python3 with the cryptography package; .ci/run installs python3-cryptography'],
  ].filter(([name]) => !licenseFileVerifiers().includes(name as LicenseFileVerifier));
  for (const [name, what] of missing) {
    if (process.env.CI) {
      it(`${name} license-file verifier: required in CI`, () => {
        throw new Error(`${what} is missing`);
      });
    } else {
      console.warn(`[keyward tests] ${what} is missing: skipping the ${name} license-file verifier; CI requires it.`);
      it.skip(`${name} license-file verifier: not installed here (CI requires it)`, () => {});
    }
  }
}

let scratch: string | undefined;
let files = 0;

/** Runs each verifier (by default every one installed) on the file and answers their outcomes by name. */
export async function runLicenseFileVerifiers(
  input: LicenseFileInput,
  verifiers: readonly LicenseFileVerifier[] = licenseFileVerifiers(),
): Promise<Partial<Record<LicenseFileVerifier, LicenseFileOutcome>>> {
  scratch ??= mkdtempSync(path.join(os.tmpdir(), 'keyward-license-files-'));
  const n = files++;
  const filePath = path.join(scratch, `license-${n}.lic`);
  const keysPath = path.join(scratch, `keys-${n}.json`);
  writeFileSync(filePath, input.text);
  writeFileSync(keysPath, JSON.stringify(input.publicKeys));
  const args = [filePath, keysPath, input.licenseKey, ...(input.fingerprint === undefined ? [] : [input.fingerprint])];
  const run = (verifier: LicenseFileVerifier): Promise<LicenseFileOutcome> =>
    verifier === 'node' ? inProcess(input) : runLicenseFileSnippet(verifier, args);
  const outcomes = await Promise.all(verifiers.map(async (v) => [v, await run(v)] as const));
  return Object.fromEntries(outcomes);
}

/** One snippet on the command line; its printed payload, or the code it printed (or why it failed). */
export async function runLicenseFileSnippet(verifier: 'php' | 'python', args: string[]): Promise<LicenseFileOutcome> {
  const r = verifier === 'php' ? await runSnippet('php', [PHP_LICENSE_FILE_SNIPPET, ...args]) : await runSnippet('python3', [PYTHON_LICENSE_FILE_SNIPPET, ...args]);
  if (r.code === 0 && typeof r.out === 'object') return { ok: true, payload: r.out };
  const printed = typeof r.out === 'string' ? r.out.trim() : JSON.stringify(r.out);
  return { ok: false, code: r.code === 1 && printed ? printed : `exit ${r.code}: ${printed} ${r.stderr.trim()}` };
}

async function inProcess(input: LicenseFileInput): Promise<LicenseFileOutcome> {
  try {
    const { publicKeys, licenseKey, fingerprint } = input;
    return { ok: true, payload: verifyLicenseFile(input.text, { publicKeys, licenseKey, ...(fingerprint === undefined ? {} : { fingerprint }) }) };
  } catch (err) {
    if (err instanceof KeywardLicenseFileError) return { ok: false, code: err.code };
    throw err;
  }
}

/** The armoured fields of a license file. */
export function licenseFileFields(text: string): LicenseFileFields {
  const body = /-----BEGIN KEYWARD LICENSE FILE-----([\s\S]*?)-----END KEYWARD LICENSE FILE-----/.exec(text)![1]!.replace(/\s+/g, '');
  return JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
}

/** The file with its fields changed and armoured again. */
export function tamperLicenseFile(text: string, change: (fields: LicenseFileFields) => LicenseFileFields): string {
  return armourLicenseFile(change(licenseFileFields(text)));
}

/** One base64 character replaced by another, so the text stays well formed. */
function flipAt(text: string, at: number): string {
  return text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
}

/** What an attacker does to a genuine file, each refused by every verifier. */
export const tamper = {
  /** One byte of `enc` changed: `bad_signature`. */
  enc: (text: string) => tamperLicenseFile(text, (f) => ({ ...f, enc: flipAt(f.enc, 5) })),
  /** One byte of `sig` changed: `bad_signature`. */
  sig: (text: string) => tamperLicenseFile(text, (f) => ({ ...f, sig: flipAt(f.sig, 10) })),
  /** Another key id, listed or not: `bad_signature` or `unknown_key`. */
  kid: (text: string, kid: string) => tamperLicenseFile(text, (f) => ({ ...f, kid })),
};
