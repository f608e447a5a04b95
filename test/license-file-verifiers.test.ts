import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  fetchPublicKeys,
  KeywardLicenseFileError,
  KeywardVerificationError,
  verifyLicenseFile,
  type PublicKeysAnswer,
} from '../src/client/index.js';
import { encodeLicenseFile, LICENSE_FILE_ALGS, type LicenseFileAlg, type LicenseFilePayload } from '../src/licensing/license-file.js';
import { ROOT } from './helpers/cli.js';
import {
  licenseFileVerifiers,
  requireLicenseFileVerifiers,
  runLicenseFileSnippet,
  runLicenseFileVerifiers,
  tamper,
  tamperLicenseFile,
  type LicenseFileInput,
  type LicenseFileOutcome,
} from './helpers/license-file-verifiers.js';
import { PHP_LICENSE_FILE_SNIPPET, PYTHON_LICENSE_FILE_SNIPPET } from './helpers/snippets.js';
import { standIns } from './helpers/stand-in-servers.js';

/**
 * Offline license files (docs/license-files.md) issued with encodeLicenseFile and real Ed25519 keys,
 * read by all three verifiers of the docs (keyward/client, PHP, Python): every genuine file is
 * accepted with its payload, every tampered or misplaced one refused with the same code by each.
 */

requireLicenseFileVerifiers();

/** A key as the signing-key service holds it, and as GET /api/public-key lists it. */
function signingKey(id: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  return { key: { id, privateKey }, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), raw };
}

const current = signingKey('kw20261127-1a2b3c4d');
/** Retired by a rotation but still listed: its files stay valid. */
const retired = signingKey('kw20260101-0badf00d');
/** Not listed at all. */
const stranger = signingKey('kw20261127-deadbeef');
const publicKeys: PublicKeysAnswer = {
  keyId: current.key.id,
  pem: current.pem,
  raw: current.raw,
  keys: [
    { id: current.key.id, pem: current.pem, raw: current.raw, createdAt: '2026-11-27T03:50:00.000Z', retiredAt: null, current: true },
    { id: retired.key.id, pem: retired.pem, raw: retired.raw, createdAt: '2026-01-01T00:00:00.000Z', retiredAt: '2026-11-27T03:50:00.000Z', current: false },
  ],
};

const licenseKey = 'KW-4F2A-9C1E-7B3D-0A6F';
const DAY = 86_400_000;

interface Issue {
  alg?: LicenseFileAlg;
  fingerprint?: string | null;
  signer?: typeof current;
  /** The file's window, in days from now. */
  from?: number;
  to?: number;
  licenseExpiresAt?: string | null;
}

function payloadOf({ fingerprint = null, from = -1, to = 30, licenseExpiresAt = null }: Issue): LicenseFilePayload {
  return {
    license: { id: 42, productIds: [8, 16], entitlements: ['pro', 'export'], expiresAt: licenseExpiresAt, maxMachines: 2, maxUses: 1000 },
    machine: fingerprint === null ? null : { fingerprint },
    issuedAt: new Date(Date.now() + from * DAY).toISOString(),
    expiresAt: new Date(Date.now() + to * DAY).toISOString(),
  };
}

function issue(options: Issue = {}): { text: string; payload: LicenseFilePayload } {
  const payload = payloadOf(options);
  const { alg = 'aes-256-gcm+ed25519', fingerprint = null, signer = current } = options;
  return { text: encodeLicenseFile(payload, { alg, licenseKey, fingerprint, key: signer.key }), payload };
}

/** Every verifier installed here, on the same file. */
async function outcomes(input: Omit<LicenseFileInput, 'publicKeys' | 'licenseKey'> & Partial<LicenseFileInput>) {
  return runLicenseFileVerifiers({ publicKeys, licenseKey, ...input });
}
const all = (outcome: LicenseFileOutcome) => Object.fromEntries(licenseFileVerifiers().map((v) => [v, outcome]));
const refused = (code: string) => all({ ok: false, code });

describe.each(LICENSE_FILE_ALGS)('%s', (alg) => {
  const encrypted = alg === 'aes-256-gcm+ed25519';

  describe('genuine files: accepted by every verifier, with the payload issued', () => {
    const cases: [string, Issue, string | undefined][] = [
      ['unbound, read without a fingerprint', { alg }, undefined],
      ['unbound, read on a machine that gives its fingerprint', { alg }, 'any-box'],
      ['bound to this machine', { alg, fingerprint: 'box-1' }, 'box-1'],
      ['a license with an expiry, a file ending the same day', { alg, licenseExpiresAt: new Date(Date.now() + 3 * DAY).toISOString(), to: 3 }, undefined],
      ['signed by a retired key that is still listed', { alg, signer: retired }, undefined],
      ['bound, signed by the retired key', { alg, fingerprint: 'box-1', signer: retired }, 'box-1'],
    ];
    it.each(cases)('%s', async (_, options, fingerprint) => {
      const { text, payload } = issue(options);
      expect(await outcomes({ text, fingerprint })).toEqual(all({ ok: true, payload }));
    });
  });

  describe('tampered and misplaced files: refused by every verifier with the same code', () => {
    const bound = () => issue({ alg, fingerprint: 'box-2' }).text;
    const cases: [string, string, () => Omit<LicenseFileInput, 'publicKeys' | 'licenseKey'>][] = [
      ['one byte of enc flipped', 'bad_signature', () => ({ text: tamper.enc(issue({ alg }).text) })],
      ['one byte of sig flipped', 'bad_signature', () => ({ text: tamper.sig(issue({ alg }).text) })],
      ['kid swapped for the other listed key', 'bad_signature', () => ({ text: tamper.kid(issue({ alg }).text, retired.key.id) })],
      ['signed by a key that is not listed', 'unknown_key', () => ({ text: issue({ alg, signer: stranger }).text })],
      ['kid renamed to one that is not listed', 'unknown_key', () => ({ text: tamper.kid(issue({ alg }).text, 'kw20300101-00000000') })],
      // Encrypted, another fingerprint is another AES key; in base64 the payload names its machine.
      ["another machine's file", encrypted ? 'wrong_key' : 'wrong_fingerprint', () => ({ text: bound(), fingerprint: 'box-1' })],
      ['a bound file read without a fingerprint', encrypted ? 'wrong_key' : 'wrong_fingerprint', () => ({ text: bound() })],
      ['expired yesterday', 'expired', () => ({ text: issue({ alg, from: -31, to: -1 }).text })],
      ['valid from tomorrow', 'not_yet_valid', () => ({ text: issue({ alg, from: 1, to: 31 }).text })],
      ['an alg this version does not know', 'unsupported_alg', () => ({ text: tamperLicenseFile(issue({ alg }).text, (f) => ({ ...f, alg: 'chacha20+ed448' as LicenseFileAlg })) })],
      ['no armour', 'malformed', () => ({ text: 'KW-4F2A-9C1E-7B3D-0A6F' })],
      ['a line of the armour lost', 'malformed', () => ({ text: issue({ alg }).text.split('\n').filter((_, i) => i !== 2).join('\n') })],
      ['armour around JSON without the fields', 'malformed', () => ({ text: tamperLicenseFile(issue({ alg }).text, ({ alg: a, kid }) => ({ alg: a, kid }) as never) })],
    ];
    it.each(cases)('%s: %s', async (_, code, input) => {
      expect(await outcomes(input())).toEqual(refused(code));
    });
  });

  if (encrypted) {
    it('another license key: wrong_key (bound or not)', async () => {
      expect(await outcomes({ text: issue({ alg }).text, licenseKey: 'KW-0000-0000-0000-0000' })).toEqual(refused('wrong_key'));
      expect(await outcomes({ text: issue({ alg, fingerprint: 'box-1' }).text, licenseKey: 'KW-0000-0000-0000-0000', fingerprint: 'box-1' })).toEqual(refused('wrong_key'));
    });
  } else {
    it('signed but not encrypted: any license key reads it (docs/license-files.md says so)', async () => {
      const { text, payload } = issue({ alg });
      expect(await outcomes({ text, licenseKey: 'KW-0000-0000-0000-0000' })).toEqual(all({ ok: true, payload }));
    });
  }
});

describe('every shape of public keys', () => {
  const byId = (field: 'pem' | 'raw') => Object.fromEntries(publicKeys.keys.map((k) => [k.id, k[field]]));
  const shapes: [string, LicenseFileInput['publicKeys']][] = [
    ['the GET /api/public-key answer', publicKeys],
    ['its keys', publicKeys.keys],
    ['its keys, PEM only', publicKeys.keys.map(({ id, pem }) => ({ id, pem }))],
    ['a map of id to raw base64', byId('raw')],
    ['a map of id to PEM', byId('pem')],
  ];
  it.each(shapes)('%s: accepted by every verifier', async (_, keys) => {
    for (const signer of [current, retired]) {
      const { text, payload } = issue({ signer, fingerprint: 'box-1' });
      expect(await outcomes({ text, publicKeys: keys, fingerprint: 'box-1' })).toEqual(all({ ok: true, payload }));
      expect(await outcomes({ text: tamper.enc(text), publicKeys: keys, fingerprint: 'box-1' })).toEqual(refused('bad_signature'));
    }
  });

  it('the snippets also take the keys as JSON text on the command line', async () => {
    const { text, payload } = issue();
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'keyward-license-file-')), 'license.lic');
    writeFileSync(file, text);
    const snippets = licenseFileVerifiers().filter((v): v is 'php' | 'python' => v !== 'node');
    for (const verifier of snippets) {
      for (const keys of [publicKeys, byId('raw')]) {
        expect(await runLicenseFileSnippet(verifier, [file, JSON.stringify(keys), licenseKey])).toEqual({ ok: true, payload });
      }
    }
  });
});

describe('keyward/client verifyLicenseFile', () => {
  const stands = standIns();
  afterEach(() => stands.closeAll());

  function refusal(run: () => unknown): KeywardLicenseFileError {
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(KeywardLicenseFileError);
      expect(err).toBeInstanceOf(KeywardVerificationError); // one catch serves every call of the library
      return err as KeywardLicenseFileError;
    }
    throw new Error('accepted');
  }

  it('judges the window at `now`, both ends included', () => {
    const { text, payload } = issue({ from: -1, to: 1 });
    const at = (now: Date | number) => () => verifyLicenseFile(text, { publicKeys, licenseKey, now });
    expect(at(new Date(payload.issuedAt))()).toEqual(payload);
    expect(at(Date.parse(payload.expiresAt))()).toEqual(payload);
    expect(refusal(at(Date.parse(payload.issuedAt) - 1)).code).toBe('not_yet_valid');
    expect(refusal(at(Date.parse(payload.expiresAt) + 1))).toMatchObject({ code: 'expired', name: 'KeywardLicenseFileError' });
  });

  it('reads a file with CRLF line ends and text around it (pasted from an e-mail)', () => {
    const { text, payload } = issue();
    expect(verifyLicenseFile(`Your license:\r\n\r\n${text.replaceAll('\n', '\r\n')}\r\nThanks!`, { publicKeys, licenseKey })).toEqual(payload);
  });

  it('a key that is no Ed25519 public key is a TypeError, not a refusal', () => {
    const { text } = issue();
    expect(() => verifyLicenseFile(text, { publicKeys: { [current.key.id]: 'bm90IGEga2V5' }, licenseKey })).toThrow(TypeError);
  });

  it('fetchPublicKeys answers GET /api/public-key of the server (for build scripts)', async () => {
    const seen: string[] = [];
    const url = await stands.listen((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(publicKeys));
    });
    expect(await fetchPublicKeys(`${url}/`)).toEqual(publicKeys);
    expect(seen).toEqual(['GET /api/public-key']);
    const broken = await stands.listen((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"no"}'));
    await expect(fetchPublicKeys(broken)).rejects.toThrow('did not answer a list of public keys');
  });
});

describe('docs/license-files.md', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'license-files.md'), 'utf8');
  const blocks = [...doc.matchAll(/^```\w*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trim());
  it.each([
    ['PHP', PHP_LICENSE_FILE_SNIPPET],
    ['Python', PYTHON_LICENSE_FILE_SNIPPET],
  ])('has a code block that is the tested %s snippet, verbatim', (_, file) => {
    expect(blocks).toContain(readFileSync(file, 'utf8').trim());
  });
});
