import { describe, expect, it } from 'vitest';
import { checkKeyFormat, digestKey, generateKey, KEY_LENGTH, KeyCipher } from './key.js';

const SECRET = 'a'.repeat(64);
const KEY_SHAPE = /^[A-Za-z0-9_-]{45}$/;

describe('generateKey', () => {
  it('makes 45 characters of [A-Za-z0-9_-]', () => {
    expect(KEY_LENGTH).toBe(45);
    for (let i = 0; i < 200; i++) expect(generateKey()).toMatch(KEY_SHAPE);
  });

  it('makes keys of another length on request', () => {
    expect(generateKey(8)).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(generateKey(100)).toMatch(/^[A-Za-z0-9_-]{100}$/);
  });

  it('never repeats a key', () => {
    const keys = new Set(Array.from({ length: 5000 }, () => generateKey()));
    expect(keys.size).toBe(5000);
  });

  it('uses the whole alphabet', () => {
    // 1000 keys are 45,000 symbols, ~700 per symbol: a missing one means a broken mapping.
    const seen = new Set(Array.from({ length: 1000 }, () => generateKey()).join(''));
    expect(seen.size).toBe(64);
  });

  it('makes keys that pass the import format check', () => {
    expect(checkKeyFormat(generateKey())).toBeNull();
  });
});

describe('digestKey', () => {
  it('is the lowercase hex SHA-256 of the UTF-8 bytes', () => {
    expect(digestKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(digestKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // "é" as UTF-8 is c3 a9 (not Latin-1 e9).
    expect(digestKey('\u00e9')).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('differs for keys that differ by one character or by case', () => {
    const key = generateKey();
    const other = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    expect(digestKey(other)).not.toBe(digestKey(key));
    expect(digestKey('ABCDEFGH')).not.toBe(digestKey('abcdefgh'));
  });
});

describe('KeyCipher', () => {
  const cipher = new KeyCipher(SECRET);

  it('round-trips keys', () => {
    for (const key of [generateKey(), 'ABC_123', 'imported-KEY:with/odd~chars!', 'ünïcödé-😀']) {
      expect(cipher.decrypt(cipher.encrypt(key))).toBe(key);
    }
  });

  it('decrypts with another instance built from the same secret', () => {
    const key = generateKey();
    expect(new KeyCipher(SECRET).decrypt(cipher.encrypt(key))).toBe(key);
  });

  it('still decrypts a value stored earlier (the at-rest format and key derivation are stable)', () => {
    // Made once with this secret; if this breaks, existing databases can no longer reveal keys.
    const stored = 'v1:Wn2w7OlD6SEQWQeOtfStWIfCj49y5y3jSsemAj/YLt7MMgca1G41OtWEWM5CGdJOQtu5jSk=';
    expect(cipher.decrypt(stored)).toBe('FIXED-test-key_0123456789');
  });

  it('gives a different ciphertext each time for the same key', () => {
    const key = generateKey();
    const seen = new Set(Array.from({ length: 50 }, () => cipher.encrypt(key)));
    expect(seen.size).toBe(50);
  });

  it('never contains the key in any readable form', () => {
    const key = generateKey();
    const stored = cipher.encrypt(key);
    expect(stored.startsWith('v1:')).toBe(true);
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(0, 12));
    expect(stored).not.toContain(Buffer.from(key).toString('base64').slice(0, 16));
    expect(stored).not.toContain(Buffer.from(key).toString('hex').slice(0, 16));
    expect(Buffer.from(stored.slice(3), 'base64').toString('latin1')).not.toContain(key.slice(0, 12));
  });

  it('throws when any byte of the ciphertext is changed', () => {
    const stored = cipher.encrypt(generateKey());
    const raw = Buffer.from(stored.slice(3), 'base64');
    // iv (0-11), auth tag (12-27), encrypted key (28-).
    for (const index of [0, 11, 12, 27, 28, raw.length - 1]) {
      const tampered = Buffer.from(raw);
      tampered[index] = tampered[index]! ^ 0x01;
      expect(() => cipher.decrypt(`v1:${tampered.toString('base64')}`), `byte ${index}`).toThrow();
    }
  });

  it('throws when the ciphertext is cut short or extended', () => {
    const raw = Buffer.from(cipher.encrypt(generateKey()).slice(3), 'base64');
    expect(() => cipher.decrypt(`v1:${raw.subarray(0, raw.length - 1).toString('base64')}`)).toThrow();
    expect(() => cipher.decrypt(`v1:${Buffer.concat([raw, Buffer.from([0])]).toString('base64')}`)).toThrow();
    expect(() => cipher.decrypt(`v1:${raw.subarray(0, 28).toString('base64')}`)).toThrow();
    expect(() => cipher.decrypt('v1:')).toThrow();
  });

  it('throws with the wrong secret', () => {
    const stored = cipher.encrypt(generateKey());
    expect(() => new KeyCipher('b'.repeat(64)).decrypt(stored)).toThrow();
    expect(() => new KeyCipher(`${SECRET}x`).decrypt(stored)).toThrow();
  });

  it('throws on an unknown format', () => {
    const stored = cipher.encrypt(generateKey());
    expect(() => cipher.decrypt(stored.slice(3))).toThrow(/unknown key ciphertext format/);
    expect(() => cipher.decrypt(`v2:${stored.slice(3)}`)).toThrow(/unknown key ciphertext format/);
  });

  it('does not put the key in the error message of a failed decrypt', () => {
    const key = generateKey();
    try {
      new KeyCipher('c'.repeat(64)).decrypt(cipher.encrypt(key));
      expect.unreachable();
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(key);
    }
  });
});

describe('checkKeyFormat', () => {
  it.each([
    ['ABCDEFGH'],
    ['x'.repeat(256)],
    ['FAXSTORE-1234-abcd'],
    ['!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'],
  ])('accepts %j', (key) => {
    expect(checkKeyFormat(key)).toBeNull();
  });

  it('rejects keys shorter than 8 characters', () => {
    expect(checkKeyFormat('ABCDEFG')).toMatch(/at least 8/);
    expect(checkKeyFormat('')).toMatch(/at least 8/);
  });

  it('rejects keys longer than 256 characters', () => {
    expect(checkKeyFormat('x'.repeat(257))).toMatch(/at most 256/);
  });

  it.each([['ABCD EFGH'], ['ABCDEFGH\t'], ['ABCDEFGH\n'], ['ABCDÉFGH'], ['ABCDEFGH\u0000'], ['ABCDEFGH\u007f'], ['KEY-😀-KEY']])(
    'rejects %j (not printable ASCII without spaces)',
    (key) => {
      expect(checkKeyFormat(key)).toMatch(/printable ASCII/);
    },
  );
});
