import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnswerSigner, signedMessage, type Signature } from './answer-signer.js';

const pair = () => generateKeyPairSync('ed25519');

function verifies(publicKey: ReturnType<typeof pair>['publicKey'], s: Signature, method: string, target: string, nonce: string, body: string): boolean {
  return verify(null, Buffer.from(signedMessage(method, target, s.date, nonce, body)), publicKey, Buffer.from(s.signature, 'base64'));
}

describe('AnswerSigner', () => {
  it('reuses a signature only for the same method, target and body within one second', () => {
    const { publicKey, privateKey } = pair();
    let now = Date.parse('2026-11-27T10:00:00.100Z');
    const signer = new AnswerSigner({ id: 'k1', privateKey }, () => now);
    const cases: [string, string, string][] = [
      ['POST', '/api/check/1', '{"status":"AUTHORISED"}'],
      ['GET', '/api/check/1', '{"status":"AUTHORISED"}'],
      ['POST', '/api/check/2', '{"status":"AUTHORISED"}'],
      ['POST', '/api/check/1', '{"status":"NOT FOUND"}'],
      ['POST', '/api/check/1?info=a', '{"status":"AUTHORISED"}'],
    ];
    const first = cases.map(([m, t, b]) => signer.sign(m, t, null, b));
    // Asked again (from the cache), in another order: each answer still carries its own signature.
    const again = [...cases].reverse().map(([m, t, b]) => signer.sign(m, t, null, b)).reverse();
    for (const [i, [m, t, b]] of cases.entries()) {
      expect(again[i]).toEqual(first[i]);
      expect(verifies(publicKey, again[i]!, m, t, '', b)).toBe(true);
      expect(first[i]!.keyId).toBe('k1');
      expect(first[i]!.date).toBe('2026-11-27T10:00:00Z');
    }
    expect(new Set(first.map((s) => s.signature)).size).toBe(cases.length);

    now += 1000;
    const next = signer.sign('POST', '/api/check/1', null, cases[0]![2]);
    expect(next.date).toBe('2026-11-27T10:00:01Z');
    expect(next.signature).not.toBe(first[0]!.signature);
    expect(verifies(publicKey, next, 'POST', '/api/check/1', '', cases[0]![2])).toBe(true);
  });

  it('signs a nonce afresh and a new key at once', () => {
    const a = pair();
    const b = pair();
    const signer = new AnswerSigner({ id: 'a', privateKey: a.privateKey }, () => Date.parse('2026-11-27T10:00:00Z'));
    const body = '{"status":"AUTHORISED"}';
    const plain = signer.sign('POST', '/api/check/1', null, body);
    const withNonce = signer.sign('POST', '/api/check/1', 'n-1', body);
    expect(withNonce.signature).not.toBe(plain.signature);
    expect(verifies(a.publicKey, withNonce, 'POST', '/api/check/1', 'n-1', body)).toBe(true);

    signer.setKey({ id: 'b', privateKey: b.privateKey });
    const rotated = signer.sign('POST', '/api/check/1', null, body);
    expect(rotated.keyId).toBe('b');
    expect(verifies(b.publicKey, rotated, 'POST', '/api/check/1', '', body)).toBe(true);
  });

  it('keeps signing correctly once its cache is full', () => {
    const { publicKey, privateKey } = pair();
    const signer = new AnswerSigner({ id: 'k', privateKey }, () => Date.parse('2026-11-27T10:00:00Z'));
    for (let i = 0; i < 10_050; i++) signer.sign('POST', `/api/check/${i}`, null, '{}');
    const over = signer.sign('POST', '/api/check/10049', null, '{"x":1}');
    expect(verifies(publicKey, over, 'POST', '/api/check/10049', '', '{"x":1}')).toBe(true);
    const early = signer.sign('POST', '/api/check/3', null, '{}');
    expect(verifies(publicKey, early, 'POST', '/api/check/3', '', '{}')).toBe(true);
  });
});
