import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INFO_MAX, INVALID, parseCheckInput, parseEntitlements, parseUserAgent, USER_AGENT_MAX, type CheckInput } from './parse-input.js';

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';

/** Shorthand: only the query string. */
const fromQuery = (rawQuery: string): CheckInput => parseCheckInput(undefined, rawQuery, undefined, undefined);
/** Shorthand: only a body with its content type. */
const fromBody = (body: string | undefined, contentType?: string): CheckInput =>
  parseCheckInput(undefined, '', body, contentType);
const json = (value: unknown): CheckInput => fromBody(JSON.stringify(value), JSON_TYPE);

const NOTHING: CheckInput = {
  key: null,
  proIds: [],
  info: null,
  log: true,
  nonce: null,
  fingerprint: null,
  badFingerprint: false,
  machine: { name: null, platform: null, hostname: null },
  productId: [],
  entitlements: null,
  increment: undefined,
  ttlSeconds: undefined,
  alg: undefined,
};

describe('parseCheckInput: the key (Authorization header)', () => {
  it.each([
    ['ABC_123', 'ABC_123'],
    ['  ABC_123 \t', 'ABC_123'],
    ['Bearer ABC_123', 'ABC_123'],
    ['bearer ABC_123', 'ABC_123'],
    ['BEARER  ABC_123', 'ABC_123'],
    ['License ABC_123', 'ABC_123'],
    ['license\tABC_123', 'ABC_123'],
    ['  License   ABC_123  ', 'ABC_123'],
    ['a-b_C-9', 'a-b_C-9'],
  ])('%j gives the key %j', (header, key) => {
    expect(parseCheckInput(header, '', undefined, undefined).key).toBe(key);
  });

  it('does not strip a prefix that is part of the key itself', () => {
    expect(parseCheckInput('BearerABC', '', undefined, undefined).key).toBe('BearerABC');
    expect(parseCheckInput('LicenseKey123', '', undefined, undefined).key).toBe('LicenseKey123');
  });

  it('strips only one prefix', () => {
    expect(parseCheckInput('Bearer License ABC', '', undefined, undefined).key).toBe('License ABC');
  });

  it.each([[undefined], [''], ['   '], ['\t\n']])('no key for header %j', (header) => {
    expect(parseCheckInput(header, '', undefined, undefined).key).toBeNull();
  });

  it('never takes the key from the query or body', () => {
    expect(parseCheckInput(undefined, 'key=ABC&authorization=ABC', '{"key":"ABC"}', JSON_TYPE).key).toBeNull();
  });
});

describe('parseCheckInput: nonce', () => {
  it('reads the nonce from the query or the body, body winning', () => {
    expect(parseCheckInput(undefined, 'nonce=abc', undefined, undefined).nonce).toBe('abc');
    expect(parseCheckInput(undefined, 'nonce=abc', '{"nonce":"xyz"}', 'application/json').nonce).toBe('xyz');
    expect(parseCheckInput(undefined, '', 'nonce=f%20m', 'application/x-www-form-urlencoded').nonce).toBe('f m');
  });

  it('ignores a nonce that is too long, empty, not a string or holds control characters', () => {
    expect(parseCheckInput(undefined, `nonce=${'n'.repeat(128)}`, undefined, undefined).nonce).toHaveLength(128);
    expect(parseCheckInput(undefined, `nonce=${'n'.repeat(129)}`, undefined, undefined).nonce).toBeNull();
    expect(parseCheckInput(undefined, 'nonce=', undefined, undefined).nonce).toBeNull();
    expect(parseCheckInput(undefined, '', '{"nonce":42}', 'application/json').nonce).toBeNull();
    expect(parseCheckInput(undefined, 'nonce=a%0Ab', undefined, undefined).nonce).toBeNull();
  });
});

describe('parseCheckInput: input sources', () => {
  it('reads proIds, info and log from the query string', () => {
    expect(fromQuery('proIds=8,16&info=server%201&log=false')).toEqual({ ...NOTHING, key: null, proIds: [8, 16], info: 'server 1', log: false, nonce: null });
  });

  it('decodes + as a space in the query (form encoding)', () => {
    expect(fromQuery('info=my+server').info).toBe('my server');
  });

  it('reads a JSON body', () => {
    expect(json({ proIds: [8, 16], info: 'hello', log: false })).toEqual({ ...NOTHING, key: null, proIds: [8, 16], info: 'hello', log: false, nonce: null });
  });

  it('reads a JSON body whatever the JSON content type looks like', () => {
    const body = '{"proIds":[4],"log":"no"}';
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/vnd.api+json']) {
      expect(fromBody(body, type)).toEqual({ ...NOTHING, proIds: [4], log: false });
    }
  });

  it('reads a JSON object body sent with no or a text content type', () => {
    expect(fromBody('{"proIds":[5]}', undefined).proIds).toEqual([5]);
    expect(fromBody('{"proIds":[5]}', 'text/plain').proIds).toEqual([5]);
    expect(fromBody('  \n{"proIds":[5]}\n ', undefined).proIds).toEqual([5]);
  });

  it('reads a form body', () => {
    expect(fromBody('proIds=8&proIds=16&info=a%20b&log=off', FORM)).toEqual({ ...NOTHING, key: null, proIds: [8, 16], info: 'a b', log: false, nonce: null });
    expect(fromBody('proIds=8', `${FORM}; charset=UTF-8`).proIds).toEqual([8]);
  });

  it('reads a form body sent with no or a text content type', () => {
    expect(fromBody('proIds=8&log=0', undefined)).toEqual({ ...NOTHING, proIds: [8], log: false });
    expect(fromBody('proIds=8&log=0', 'text/plain; charset=utf-8')).toEqual({ ...NOTHING, proIds: [8], log: false });
  });

  // The real clients of docs/check-api.md: FiveM (body "" no type), PHP curl (JSON type, no body),
  // Node https (form type, no body), plus any other type with an empty body.
  it.each([
    ['', undefined],
    ['', JSON_TYPE],
    ['', FORM],
    ['', 'text/plain'],
    ['', 'application/octet-stream'],
    ['   \r\n', JSON_TYPE],
    [undefined, undefined],
    [undefined, JSON_TYPE],
    [undefined, FORM],
  ])('an empty body %j with content type %j is no input, and the query still counts', (body, type) => {
    expect(parseCheckInput('K', 'proIds=3&info=q&log=no', body, type)).toEqual({ ...NOTHING, key: 'K', proIds: [3], info: 'q', log: false, nonce: null });
  });

  it.each([
    ['{', JSON_TYPE],
    ['{"proIds":[8', JSON_TYPE],
    ['{proIds: [8]}', JSON_TYPE],
    ['not json at all', JSON_TYPE],
    ['{"proIds":[8]', undefined],
    ['[8,16]', JSON_TYPE],
    ['"8,16"', JSON_TYPE],
    ['null', JSON_TYPE],
    ['42', JSON_TYPE],
    ['\u0000\u0001\uFFFD', JSON_TYPE],
  ])('a body that does not parse to an object (%j, %j) counts as empty', (body, type) => {
    expect(parseCheckInput('K', 'proIds=3&info=q&log=0', body, type)).toEqual({ ...NOTHING, key: 'K', proIds: [3], info: 'q', log: false, nonce: null });
  });

  it('ignores a body of a type it does not read', () => {
    expect(fromBody('proIds=8', 'multipart/form-data; boundary=x')).toEqual(NOTHING);
    expect(fromBody('\u0089PNG\r\n', 'image/png')).toEqual(NOTHING);
  });

  it('accepts an already-parsed object body', () => {
    expect(parseCheckInput(undefined, '', { proIds: [8], info: 'x', log: 'off' }, undefined)).toEqual({ ...NOTHING, key: null, proIds: [8], info: 'x', log: false, nonce: null });
  });

  it('lets the body win over the query field by field', () => {
    const query = 'proIds=1,2&info=from-query&log=false';
    expect(parseCheckInput(undefined, query, '{"info":"from-body"}', JSON_TYPE)).toEqual({ ...NOTHING, key: null, proIds: [1, 2], info: 'from-body', log: false, nonce: null });
    expect(parseCheckInput(undefined, query, '{"proIds":[9]}', JSON_TYPE)).toEqual({ ...NOTHING, key: null, proIds: [9], info: 'from-query', log: false, nonce: null });
    expect(parseCheckInput(undefined, query, '{"log":true}', JSON_TYPE)).toEqual({ ...NOTHING, key: null, proIds: [1, 2], info: 'from-query', log: true, nonce: null });
    expect(parseCheckInput(undefined, query, 'log=yes&proIds=7', FORM)).toEqual({ ...NOTHING, key: null, proIds: [7], info: 'from-query', log: true, nonce: null });
  });

  it('ignores unrelated fields', () => {
    expect(fromQuery('foo=1&proid=8&key=x')).toEqual(NOTHING);
    expect(json({ foo: 1, proid: 8, key: 'x' })).toEqual(NOTHING);
  });

  it('takes the first info and log when the query repeats them', () => {
    expect(fromQuery('info=a&info=b&log=false&log=true')).toMatchObject({ info: 'a', log: false });
  });
});

describe('parseCheckInput: proIds shapes', () => {
  it.each([
    ['JSON array', () => json({ proIds: [8, 16] })],
    ['JSON string "8,16"', () => json({ proIds: '8,16' })],
    ['JSON string with spaces', () => json({ proIds: ' 8 , 16 ' })],
    ['JSON string holding a JSON array', () => json({ proIds: '[8, 16]' })],
    ['JSON array of numeric strings', () => json({ proIds: ['8', '16'] })],
    ['single JSON number then string', () => json({ proIds: [8, '16'] })],
    ['query value 8,16', () => fromQuery('proIds=8,16')],
    ['query value 8%2C16', () => fromQuery('proIds=8%2C16')],
    ['repeated query keys', () => fromQuery('proIds=8&proIds=16')],
    ['bracket keys', () => fromQuery('proIds[]=8&proIds[]=16')],
    ['encoded bracket keys', () => fromQuery('proIds%5B%5D=8&proIds%5B%5D=16')],
    ['indexed keys', () => fromQuery('proIds[0]=8&proIds[1]=16')],
    ['JSON-array text in the query', () => fromQuery('proIds=[8,16]')],
    ['encoded JSON-array text in the query', () => fromQuery('proIds=%5B8%2C16%5D')],
    ['repeated form keys', () => fromBody('proIds=8&proIds=16', FORM)],
    ['bracket form keys', () => fromBody('proIds%5B%5D=8&proIds%5B%5D=16', FORM)],
    ['mixed repeated and bracket keys', () => fromQuery('proIds=8&proIds[]=16')],
  ])('%s gives [8, 16]', (_, parse) => {
    expect(parse().proIds).toEqual([8, 16]);
  });

  it('reads a JSON array of numeric strings given as a JSON string in the body', () => {
    expect(json({ proIds: '["8","16"]' }).proIds).toEqual([8, 16]);
  });

  // Regression guard, was a bug (parse-input.ts, parseProIds depth limit): the query wraps every value in an array, which
  // uses up one level of the depth budget, so JSON-array text of numeric strings in the query
  // (`proIds=["8","16"]`, what `JSON.stringify(ids.map(String))` gives) yields [] although the very
  // same text as a JSON body field (test above) yields [8, 16].
  it('reads JSON-array text of numeric strings in the query', () => {
    expect(fromQuery('proIds=["8","16"]').proIds).toEqual([8, 16]);
    expect(fromQuery('proIds=%5B%228%22%2C%2216%22%5D').proIds).toEqual([8, 16]);
  });

  it('reads a single id', () => {
    expect(fromQuery('proIds=42').proIds).toEqual([42]);
    expect(json({ proIds: 42 }).proIds).toEqual([42]);
    expect(json({ proIds: '42' }).proIds).toEqual([42]);
  });

  it('keeps the given order', () => {
    expect(json({ proIds: [16, 8, 32] }).proIds).toEqual([16, 8, 32]);
    expect(fromQuery('proIds=32,8,16').proIds).toEqual([32, 8, 16]);
    expect(fromQuery('proIds[]=3&proIds[]=1&proIds[]=2').proIds).toEqual([3, 1, 2]);
  });

  it('drops duplicates, keeping the first occurrence', () => {
    expect(json({ proIds: [8, 16, 8, '16', 4] }).proIds).toEqual([8, 16, 4]);
    expect(fromQuery('proIds=8,8&proIds=16&proIds[]=8').proIds).toEqual([8, 16]);
    expect(fromQuery('proIds=08,8').proIds).toEqual([8]);
  });

  it('ignores junk entries', () => {
    expect(json({ proIds: [8, -1, 1.5, 'x', null, {}, true, [], '', 1e300, 2 ** 53, '1e3', '0x10', 16] }).proIds).toEqual([8, 16]);
    expect(fromQuery('proIds=8,,abc,-3,2.5,%2B4, ,16').proIds).toEqual([8, 16]);
    expect(fromQuery('proIds=8&proIds=nope&proIds[]=&proIds[x]=5&proIds[0=6&proIds=16').proIds).toEqual([8, 16]);
  });

  it('accepts zero and the largest safe integer', () => {
    expect(json({ proIds: [0, Number.MAX_SAFE_INTEGER] }).proIds).toEqual([0, Number.MAX_SAFE_INTEGER]);
  });

  it('gives an empty list for absent or unusable proIds', () => {
    expect(fromQuery('').proIds).toEqual([]);
    expect(fromQuery('proIds=').proIds).toEqual([]);
    expect(json({ proIds: null }).proIds).toEqual([]);
    expect(json({ proIds: { a: 8 } }).proIds).toEqual([]);
    expect(json({ proIds: '[' }).proIds).toEqual([]);
  });
});

/** A feature code a license can hold (written out: a changed pattern fails here). */
const CODE = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;

describe('parseEntitlements: the forms proIds takes, codes as sent', () => {
  it.each([
    ['an array', ['pro', 'export']],
    ['comma-separated text', 'pro,export'],
    ['comma-separated text with spaces', ' pro , export '],
    ['quoted items', '"pro","export"'],
    ['JSON-array text', '["pro","export"]'],
    ['JSON-array text with spaces', ' [ "pro" , "export" ] '],
    ['an array of texts in every form', ['pro', '["export"]']],
    ['broken JSON-array text', '[pro,export'],
    ['nested arrays', [['pro'], [['export']]]],
  ])('%s gives [pro, export]', (_, value) => {
    expect(parseEntitlements(value)).toEqual(['pro', 'export']);
  });

  it('keeps the order and drops repeats, keeping the first', () => {
    expect(parseEntitlements('export,pro,export')).toEqual(['export', 'pro']);
    expect(parseEntitlements(['b', 'a', 'b', '["a","c"]'])).toEqual(['b', 'a', 'c']);
  });

  it('asks nothing for absent, empty or blank values', () => {
    for (const value of [undefined, null, '', '  ', ',', ' , ,', [], [''], '[]', ['[]', ' ']]) expect(parseEntitlements(value)).toBeNull();
  });

  it('keeps codes outside the pattern as sent (trimmed): they are asked, and no license holds them', () => {
    expect(parseEntitlements('PRO,pro!, with space ,ok')).toEqual(['PRO', 'pro!', 'with space', 'ok']);
    expect(parseEntitlements(['x'.repeat(65)])).toEqual(['x'.repeat(65)]);
  });

  // Regression guard, was a bug (parse-input.ts, parseEntitlements): a value that is not text was
  // asked as its JSON text, so `true`, `null` and `1` asked the codes "true", "null" and "1",
  // which a license can hold: a value that is no code could pass a check.
  it.each([[true], [false], [null], [1], [2024], [0], [{ pro: true }], [['pro', 7]]])('a value that is not text in the list (%j) asks a code no license holds', (item) => {
    const asked = parseEntitlements(['pro', item])!;
    expect(asked[0]).toBe('pro');
    expect(asked.length).toBeGreaterThan(1);
    for (const code of asked.slice(1)) expect(code).not.toMatch(CODE);
  });

  it('a lone number or boolean asks a code no license holds', () => {
    for (const value of [1, true, false, 0.5]) {
      const asked = parseEntitlements(value)!;
      expect(asked).toHaveLength(1);
      expect(asked[0]).not.toMatch(CODE);
    }
  });

  it('keeps at most 101 codes: more than 100 asked never pass, so the 101st is enough to say so', () => {
    const many = Array.from({ length: 150 }, (_, i) => `c${i}`);
    expect(parseEntitlements(many)).toEqual(many.slice(0, 101));
    expect(parseEntitlements(many.join(','))).toEqual(many.slice(0, 101));
    // Repeats do not count toward the 101.
    expect(parseEntitlements([...Array(300).fill('pro'), 'export'])).toEqual(['pro', 'export']);
  });

  it('stops at three levels of nesting', () => {
    expect(parseEntitlements([['["a"]']])).toBeNull();
    expect(parseEntitlements([['a']])).toEqual(['a']);
    expect(parseEntitlements([[['a']]])).toEqual(['a']);
    expect(parseEntitlements([[[['a']]]])).toBeNull();
  });
});

describe('parseCheckInput: entitlements from the query, a JSON body or a form', () => {
  it.each([
    ['query "a,b"', () => fromQuery('entitlements=pro,export')],
    ['query "a,b" encoded', () => fromQuery('entitlements=pro%2Cexport')],
    ['query repeated keys', () => fromQuery('entitlements=pro&entitlements=export')],
    ['query bracket keys', () => fromQuery('entitlements[]=pro&entitlements[]=export')],
    ['query indexed keys', () => fromQuery('entitlements[0]=pro&entitlements[1]=export')],
    ['query JSON-array text', () => fromQuery('entitlements=["pro","export"]')],
    ['query JSON-array text encoded', () => fromQuery(`entitlements=${encodeURIComponent('["pro","export"]')}`)],
    ['JSON array', () => json({ entitlements: ['pro', 'export'] })],
    ['JSON text "a,b"', () => json({ entitlements: 'pro,export' })],
    ['JSON text holding a JSON array', () => json({ entitlements: '["pro","export"]' })],
    ['form repeated keys', () => fromBody('entitlements=pro&entitlements=export', FORM)],
    ['form bracket keys', () => fromBody('entitlements%5B%5D=pro&entitlements%5B%5D=export', FORM)],
    ['form text "a,b"', () => fromBody('entitlements=pro%2Cexport', FORM)],
  ])('%s gives [pro, export]', (_, parse) => {
    expect(parse()).toEqual({ ...NOTHING, entitlements: ['pro', 'export'] });
  });

  it('the body wins over the query', () => {
    expect(parseCheckInput(undefined, 'entitlements=pro', '{"entitlements":["export"]}', JSON_TYPE).entitlements).toEqual(['export']);
    expect(parseCheckInput(undefined, 'entitlements=pro', 'entitlements=export', FORM).entitlements).toEqual(['export']);
    expect(parseCheckInput(undefined, 'entitlements=pro', '{"info":"x"}', JSON_TYPE).entitlements).toEqual(['pro']);
  });

  it('an empty value asks nothing', () => {
    expect(fromQuery('entitlements=').entitlements).toBeNull();
    expect(fromQuery('entitlements[]=&entitlements[]=').entitlements).toBeNull();
    expect(json({ entitlements: [] }).entitlements).toBeNull();
  });
});

describe('parseCheckInput: increment and ttlSeconds are whole numbers in range, never clamped', () => {
  it.each([
    [1, 1],
    [1_000_000, 1_000_000],
    [5, 5],
    [1e3, 1000],
    ['5', 5],
    ['05', 5],
    ['1000000', 1_000_000],
  ])('increment %j is %j', (value, n) => {
    expect(json({ increment: value }).increment).toBe(n);
  });

  it.each([[0], [-1], [1.5], [1_000_001], [Number.MAX_SAFE_INTEGER + 1], ['abc'], [''], [' 5'], ['5.0'], ['1e3'], ['-1'], ['+5'], ['0x10'], [true], [false], [[]], [[5]], [{}], ['1000001']])(
    'increment %j is INVALID',
    (value) => {
      expect(json({ increment: value }).increment).toBe(INVALID);
    },
  );

  it('increment from a query or a form is its digits as text; the first of repeated keys counts', () => {
    expect(fromQuery('increment=7').increment).toBe(7);
    expect(fromBody('increment=7&increment=9', FORM).increment).toBe(7);
    expect(fromQuery('increment=').increment).toBe(INVALID);
    expect(fromQuery('increment=1.5').increment).toBe(INVALID);
    expect(fromQuery('increment=1000001').increment).toBe(INVALID);
  });

  it('absent or null: not given (the endpoint uses its default)', () => {
    expect(fromQuery('').increment).toBeUndefined();
    expect(json({ increment: null }).increment).toBeUndefined();
    expect(fromQuery('').ttlSeconds).toBeUndefined();
    expect(json({ ttlSeconds: null }).ttlSeconds).toBeUndefined();
  });

  it.each([
    [3600, 3600],
    [31_536_000, 31_536_000],
    [2_592_000, 2_592_000],
    ['86400', 86_400],
  ])('ttlSeconds %j is %j', (value, n) => {
    expect(json({ ttlSeconds: value }).ttlSeconds).toBe(n);
  });

  it.each([[3599], [31_536_001], [0], [-3600], [3600.5], ['x'], [''], ['3599'], [true], [[3600]]])('ttlSeconds %j is INVALID', (value) => {
    expect(json({ ttlSeconds: value }).ttlSeconds).toBe(INVALID);
  });

  it('ttlSeconds from a query or a form', () => {
    expect(fromQuery('ttlSeconds=3600').ttlSeconds).toBe(3600);
    expect(fromBody('ttlSeconds=31536000', FORM).ttlSeconds).toBe(31_536_000);
    expect(fromQuery('ttlSeconds=x').ttlSeconds).toBe(INVALID);
  });
});

describe('parseCheckInput: alg', () => {
  it.each([['aes-256-gcm+ed25519'], ['base64+ed25519']])('%j is taken as it is', (alg) => {
    expect(json({ alg }).alg).toBe(alg);
    // In a query or form a + is a space: it is sent encoded.
    expect(fromQuery(`alg=${encodeURIComponent(alg)}`).alg).toBe(alg);
    expect(fromBody(new URLSearchParams({ alg }).toString(), FORM).alg).toBe(alg);
  });

  it.each([['AES-256-GCM+ED25519'], ['aes-256-gcm'], ['none'], [''], [' base64+ed25519'], [1], [true], [['base64+ed25519']]])('%j is INVALID', (alg) => {
    expect(json({ alg }).alg).toBe(INVALID);
  });

  it('absent or null: not given (the default applies)', () => {
    expect(fromQuery('').alg).toBeUndefined();
    expect(json({ alg: null }).alg).toBeUndefined();
  });
});

describe('parseCheckInput: log', () => {
  it.each([
    ['JSON false', () => json({ log: false })],
    ['JSON 0', () => json({ log: 0 })],
    ['JSON "false"', () => json({ log: 'false' })],
    ['JSON "0"', () => json({ log: '0' })],
    ['JSON "no"', () => json({ log: 'no' })],
    ['JSON "off"', () => json({ log: 'off' })],
    ['JSON "FALSE"', () => json({ log: 'FALSE' })],
    ['JSON " Off "', () => json({ log: ' Off ' })],
    ['query false', () => fromQuery('log=false')],
    ['query False', () => fromQuery('log=False')],
    ['query 0', () => fromQuery('log=0')],
    ['query NO', () => fromQuery('log=NO')],
    ['query oFF', () => fromQuery('log=oFF')],
    ['form false', () => fromBody('log=false', FORM)],
    ['form off', () => fromBody('log=off', FORM)],
  ])('%s means do not log', (_, parse) => {
    expect(parse().log).toBe(false);
  });

  it.each([
    ['absent', () => fromQuery('')],
    ['JSON true', () => json({ log: true })],
    ['JSON 1', () => json({ log: 1 })],
    ['JSON null', () => json({ log: null })],
    ['JSON "true"', () => json({ log: 'true' })],
    ['JSON "yes"', () => json({ log: 'yes' })],
    ['JSON [false]', () => json({ log: [false] })],
    ['JSON {}', () => json({ log: {} })],
    ['JSON "falsey"', () => json({ log: 'falsey' })],
    ['query empty', () => fromQuery('log=')],
    ['query bare key', () => fromQuery('log')],
    ['query 00', () => fromQuery('log=00')],
    ['query n', () => fromQuery('log=n')],
    ['query 1', () => fromQuery('log=1')],
  ])('%s means log it', (_, parse) => {
    expect(parse().log).toBe(true);
  });
});

describe('parseCheckInput: info', () => {
  it('keeps a string as it is', () => {
    expect(json({ info: '  spaced  ' }).info).toBe('  spaced  ');
    expect(json({ info: '' }).info).toBe('');
    expect(fromQuery('info=%F0%9F%98%80%20ok').info).toBe('😀 ok');
  });

  it('is null when absent', () => {
    expect(fromQuery('proIds=1').info).toBeNull();
  });

  it.each([
    [42, '42'],
    [true, 'true'],
    [false, 'false'],
    [{ server: 'x', slots: 32 }, '{"server":"x","slots":32}'],
    [[1, 'a'], '[1,"a"]'],
  ])('stores the non-string %j as its JSON text', (value, text) => {
    expect(json({ info: value }).info).toBe(text);
  });

  it('stores a NUL or a lone surrogate half as U+FFFD, so every database takes the Previous Auths row', () => {
    expect(fromQuery('info=a%00b').info).toBe('a\uFFFDb');
    expect(json({ info: 'x\u0000\u0000y' }).info).toBe('x\uFFFD\uFFFDy');
    expect(json({ info: 'half \uD800 pair' }).info).toBe('half \uFFFD pair');
    expect(json({ info: '\uDC00' }).info).toBe('\uFFFD');
    expect(json({ info: 'ok 😀' }).info).toBe('ok 😀');
  });

  it('keeps info of exactly 1000 characters whole', () => {
    const text = 'x'.repeat(INFO_MAX);
    expect(INFO_MAX).toBe(1000);
    expect(json({ info: text }).info).toBe(text);
  });

  it('truncates longer info to exactly 1000 characters', () => {
    const text = 'abcdefghij'.repeat(150);
    expect(json({ info: text }).info).toBe(text.slice(0, 1000));
    expect(fromQuery(`info=${'y'.repeat(5000)}`).info).toBe('y'.repeat(1000));
  });

  it('truncates long non-string info by its JSON text', () => {
    const info = json({ info: { note: 'z'.repeat(2000) } }).info!;
    expect(info).toHaveLength(1000);
    expect(info.startsWith('{"note":"zzz')).toBe(true);
  });

  it('does not cut a surrogate pair in half', () => {
    // 999 ASCII characters then an emoji: the cut at 1000 would fall inside the pair.
    const text = `${'a'.repeat(999)}😀${'b'.repeat(50)}`;
    const info = json({ info: text }).info!;
    expect(info).toBe('a'.repeat(999));
    expect(/[\uD800-\uDBFF]$/.test(info)).toBe(false);
  });

  it('stores a value too deep for JSON.stringify as the first 1000 characters of its JSON text', () => {
    const deep = fromBody(`{"info":${'['.repeat(20_000)}${']'.repeat(20_000)}}`, JSON_TYPE).info;
    expect(deep).toBe('['.repeat(1000));
    const methods = fromBody(`{"info":{"toString":0,"valueOf":0,"a":${'[{"a":'.repeat(5000)}1${'}]'.repeat(5000)}}}`, JSON_TYPE).info!;
    expect(methods).toHaveLength(1000);
    expect(methods.startsWith('{"toString":0,"valueOf":0,"a":[{"a":[{"a":')).toBe(true);
  });

  it('keeps a surrogate pair that ends exactly at the cut', () => {
    const text = `${'a'.repeat(998)}😀tail`;
    expect(json({ info: text }).info).toBe(`${'a'.repeat(998)}😀`);
  });
});

describe('parseUserAgent', () => {
  it('keeps a User-Agent of up to 1,000 characters whole and cuts a longer one, never refusing it', () => {
    expect(USER_AGENT_MAX).toBe(1000);
    expect(parseUserAgent(undefined)).toBeNull();
    expect(parseUserAgent('')).toBe('');
    expect(parseUserAgent('FXServer/1.0')).toBe('FXServer/1.0');
    expect(parseUserAgent('u'.repeat(1000))).toBe('u'.repeat(1000));
    expect(parseUserAgent(`${'v'.repeat(1000)}${'w'.repeat(14_000)}`)).toBe('v'.repeat(1000));
  });
});

describe('parseCheckInput: never throws, always well-formed (property)', () => {
  const loneSurrogates = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF');
  const anyUnit = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });
  const queryTokens = fc.constantFrom(
    'proIds', 'proIds[]', 'proIds[0]', 'proIds[12]', 'proIds%5B%5D', 'proIds[', 'info', 'log', '=', '&', '&', ',', '[', ']',
    '%', '%%', '%5B', '%5D', '%2C', '%E0%A4', '%FF', '%ZZ', '%C3%A9', '%F0%9F%98%80', '%ED%A0%80', '+', '"', '0', '8', '16',
    '-1', '1.5', '9007199254740993', '99999999999999999999', 'false', 'off', 'NO', 'null', '{', '}', '\\u0000',
  );
  const numberText = fc.oneof(fc.integer(), fc.double(), fc.bigInt()).map(String);
  const rawQuery = fc.oneof(
    fc.array(fc.oneof({ weight: 5, arbitrary: queryTokens }, numberText, anyUnit, loneSurrogates), { maxLength: 30 }).map((parts) => parts.join('')),
    fc.string(),
    fc.string({ unit: 'binary' }),
  );
  const fieldValue = fc.oneof(
    fc.jsonValue(),
    fc.array(fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)), { maxLength: 150 }),
    fc.string({ maxLength: 3000 }),
    fc.string({ unit: 'binary', minLength: 990, maxLength: 1100 }),
    numberText,
  );
  const checkObject = fc.record(
    { proIds: fieldValue, info: fieldValue, log: fieldValue, nonce: fieldValue },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.constant(undefined),
    fc.constant(''),
    fc.string(),
    anyUnit,
    fc.string({ unit: 'binary' }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    checkObject.map((v) => JSON.stringify(v)),
    checkObject.map((v) => JSON.stringify(v).slice(0, -1)), // truncated JSON
    rawQuery, // form-shaped text
  );
  const contentType = fc.option(
    fc.oneof(
      fc.constantFrom(
        'application/json', 'application/json; charset=utf-8', FORM, `${FORM}; charset=UTF-8`, 'text/plain', '',
        'multipart/form-data; boundary=x', 'application/octet-stream', 'JSON', 'text/json',
      ),
      fc.string(),
    ),
    { nil: undefined },
  );
  const authorization = fc.option(
    fc.oneof(
      fc.string(),
      anyUnit,
      fc.tuple(fc.constantFrom('', ' ', 'Bearer ', 'license ', 'BEARER\t'), fc.string()).map(([p, k]) => p + k),
    ),
    { nil: undefined },
  );

  function assertWellFormed(out: CheckInput): void {
    expect(Object.keys(out).sort()).toEqual(['alg', 'badFingerprint', 'entitlements', 'fingerprint', 'increment', 'info', 'key', 'log', 'machine', 'nonce', 'proIds', 'productId', 'ttlSeconds']);
    if (out.entitlements !== null) {
      expect(out.entitlements.length).toBeGreaterThan(0);
      expect(out.entitlements.length).toBeLessThanOrEqual(101);
      for (const code of out.entitlements) expect(typeof code).toBe('string');
    }
    for (const n of [out.increment, out.ttlSeconds]) if (typeof n === 'number') expect(Number.isSafeInteger(n) && n >= 1).toBe(true);
    if (out.nonce !== null) {
      expect(out.nonce.length).toBeGreaterThan(0);
      expect(out.nonce.length).toBeLessThanOrEqual(128);
      expect(out.nonce).not.toMatch(/[\x00-\x1f\x7f]/);
    }
    if (out.key !== null) {
      expect(typeof out.key).toBe('string');
      expect(out.key).not.toBe('');
      expect(out.key).toBe(out.key.trim());
    }
    expect(Array.isArray(out.proIds)).toBe(true);
    for (const id of out.proIds) {
      expect(Number.isSafeInteger(id)).toBe(true);
      expect(id).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(out.proIds).size).toBe(out.proIds.length);
    if (out.info !== null) {
      expect(typeof out.info).toBe('string');
      expect(out.info.length).toBeLessThanOrEqual(INFO_MAX);
    }
    expect(typeof out.log).toBe('boolean');
  }

  it('holds for arbitrary header, query, body and content type', () => {
    fc.assert(
      fc.property(authorization, rawQuery, body, contentType, (auth, query, b, type) => {
        assertWellFormed(parseCheckInput(auth, query, b, type));
      }),
      { numRuns: 2000 },
    );
  });

  it('holds for arbitrary already-parsed body values', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), checkObject), contentType, (b, type) => {
        assertWellFormed(parseCheckInput(undefined, '', b, type));
      }),
      { numRuns: 500 },
    );
  });

  it('returns a JSON array of ids in order, without repeats', () => {
    const ids = fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 60 });
    fc.assert(
      fc.property(ids, (list) => {
        const expected = [...new Set(list)];
        expect(json({ proIds: list }).proIds).toEqual(expected);
        expect(fromQuery(list.map((id) => `proIds=${id}`).join('&')).proIds).toEqual(expected);
        expect(fromQuery(list.map((id) => `proIds%5B%5D=${id}`).join('&')).proIds).toEqual(expected);
        expect(fromQuery(`proIds=${list.join(',')}`).proIds).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('finds the key behind any prefix and whitespace', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const prefix = fc.constantFrom('', 'Bearer ', 'bearer ', 'License ', 'LICENSE\t', 'Bearer   ');
    const space = fc.constantFrom('', ' ', '  ', '\t', ' \t ');
    fc.assert(
      fc.property(space, prefix, key, space, (before, p, k, after) => {
        expect(parseCheckInput(`${before}${p}${k}${after}`, '', undefined, undefined).key).toBe(k);
      }),
      { numRuns: 300 },
    );
  });

  it('truncates any long info to a prefix of at most 1000 characters with no half pair at the end', () => {
    // Filler up to around the cut, then a short tail of any code points (pairs, lone halves and
    // NUL included) across it.
    const text = fc
      .tuple(fc.integer({ min: 980, max: 1010 }), fc.string({ unit: 'binary', maxLength: 30 }))
      .map(([n, tail]) => 'x'.repeat(n) + (n % 3 === 0 ? '\u0000' : n % 3 === 1 ? '\uDC00' : '') + tail);
    fc.assert(
      fc.property(text, (t) => {
        const info = json({ info: t }).info!;
        const kept = t.slice(0, t.length <= 1000 ? t.length : /[\uD800-\uDBFF]/.test(t[999]!) ? 999 : 1000);
        // Same length; each character kept, or U+FFFD in place of a NUL or a lone surrogate half.
        const sameOrReplaced = [...Array(kept.length).keys()].every(
          (i) => info[i] === kept[i] || (info[i] === '\uFFFD' && /[\u0000\uD800-\uDFFF]/.test(kept[i]!)),
        );
        return info.length === kept.length && sameOrReplaced && !info.includes('\u0000') && !/[\uD800-\uDBFF]$/.test(info) && isWellFormed(info);
      }),
      { numRuns: 500 },
    );
  });
});

/** No lone surrogate half: every high half is followed by a low one and every low one follows a high one. */
function isWellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}
