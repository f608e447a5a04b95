import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, verify } from './signer.js';

describe('webhook signatures', () => {
  const secret = 'whsec_test-secret';
  const body = '{"id":"e1","type":"license.created"}';
  const now = 1_800_000_000_000;
  const ts = now / 1000;

  it('is v1= + hex HMAC-SHA256 of "<timestamp>.<body>"', () => {
    const expected = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    expect(sign(secret, ts, body)).toBe(`v1=${expected}`);
  });

  it('verifies the exact body, secret and timestamp only', () => {
    const signature = sign(secret, ts, body);
    expect(verify(secret, { timestamp: String(ts), signature }, body, 300, now)).toBe(true);
    expect(verify(secret, { timestamp: String(ts), signature }, `${body} `, 300, now)).toBe(false);
    expect(verify('other', { timestamp: String(ts), signature }, body, 300, now)).toBe(false);
    expect(verify(secret, { timestamp: String(ts + 1), signature }, body, 300, now)).toBe(false);
    expect(verify(secret, { timestamp: undefined, signature }, body, 300, now)).toBe(false);
    expect(verify(secret, { timestamp: String(ts), signature: undefined }, body, 300, now)).toBe(false);
  });

  it('refuses timestamps outside the tolerance (replays)', () => {
    const old = ts - 301;
    expect(verify(secret, { timestamp: String(old), signature: sign(secret, old, body) }, body, 300, now)).toBe(false);
    expect(verify(secret, { timestamp: String(old), signature: sign(secret, old, body) }, body, 600, now)).toBe(true);
  });

  it('accepts any one of several signatures (secret rotation)', () => {
    const both = `${sign('old-secret', ts, body)},${sign(secret, ts, body)}`;
    expect(verify(secret, { timestamp: String(ts), signature: both }, body, 300, now)).toBe(true);
  });
});
