import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonPrefix } from './json-prefix.js';

/** A value nested `depth` arrays deep, built without recursion. */
function nestedArrays(depth: number, inner: unknown = 1): unknown {
  let v: unknown = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('jsonPrefix', () => {
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const json = fc.jsonValue({ maxDepth: 6 });
  const text = fc.string({ unit: anyUnit, maxLength: 40 });
  // JSON values whose strings hold any UTF-16 unit: lone surrogate halves, NUL, quotes, controls.
  const oddJson = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, text, fc.double(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 5 }),
    object: fc.dictionary(text, tie('value'), { maxKeys: 5 }),
  })).value;

  it('starts with exactly what JSON.stringify writes, for every cut (property)', () => {
    fc.assert(
      fc.property(fc.oneof(json, oddJson), fc.nat({ max: 300 }), (value, max) => {
        const whole = JSON.stringify(value);
        const prefix = jsonPrefix(value, max);
        expect(prefix.slice(0, max)).toBe(whole.slice(0, max));
        expect(prefix.length).toBeGreaterThanOrEqual(Math.min(max, whole.length));
        expect(jsonPrefix(value, Infinity)).toBe(whole);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes what JSON.parse gives for hostile keys as JSON.stringify does', () => {
    const value = JSON.parse('{"__proto__":{"a":1},"constructor":{"prototype":1},"toJSON":"x","toString":0,"2":"two","1":"one"}');
    expect(jsonPrefix(value, Infinity)).toBe(JSON.stringify(value));
    expect(jsonPrefix(JSON.parse('[1e400,-0,-1e-7]'), Infinity)).toBe('[null,0,-1e-7]');
  });

  it('leaves out what JSON.stringify leaves out of objects and writes null for it in arrays', () => {
    const value = { a: undefined, b: () => 1, c: Symbol('s'), d: 1, e: [undefined, () => 1, Symbol('t')] };
    expect(jsonPrefix(value, Infinity)).toBe(JSON.stringify(value));
    expect(jsonPrefix({ a: undefined }, Infinity)).toBe('{}');
  });

  it('writes a value too deep for JSON.stringify, and stops at the length asked for', () => {
    const deep = nestedArrays(200_000);
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(jsonPrefix(deep, 1001)).toBe('['.repeat(1001));
    let object: unknown = 'end';
    for (let i = 0; i < 100_000; i++) object = { toString: 0, a: object };
    expect(jsonPrefix(object, 40).slice(0, 40)).toBe('{"toString":0,"a":{"toString":0,"a":{"to');
    expect(jsonPrefix(nestedArrays(3, 'x'), Infinity)).toBe('[[["x"]]]');
  });

  it('writes no more of a huge value than it was asked for', () => {
    const huge = Array.from({ length: 1_000_000 }, (_, i) => i);
    const whole = JSON.stringify(huge);
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const prefix = jsonPrefix(huge, 1001);
      expect(prefix.length).toBeLessThan(1010);
      expect(prefix.slice(0, 1001)).toBe(whole.slice(0, 1001));
    }
    // JSON.stringify of the whole array takes tens of milliseconds; 100 prefixes take far less.
    expect(performance.now() - started).toBeLessThan(1000);
    expect(jsonPrefix('x'.repeat(1_000_000), 10).slice(0, 10)).toBe('"xxxxxxxxx');
    expect(jsonPrefix('x'.repeat(1_000_000), 10).length).toBeLessThan(20);
  });

  it('does not let a cut string change how what comes before the cut is written', () => {
    // An emoji (a surrogate pair) straddling the room left: cut alone, its first half would be
    // escaped as \ud83d; it must stay a raw pair wherever it lies within the kept text.
    const value = ['a'.repeat(7), `${'b'.repeat(5)}😀tail`];
    for (let max = 0; max < 40; max++) expect(jsonPrefix(value, max).slice(0, max)).toBe(JSON.stringify(value).slice(0, max));
  });
});
