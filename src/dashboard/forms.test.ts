import { describe, expect, it } from 'vitest';
import { KeywardError } from '../errors.js';
import { checked, formErrors, integer, intList, localPath, orNone, positiveInt, requireWholeNumbers, text, words } from './forms.js';

describe('dashboard form helpers', () => {
  it.each([
    ['/licenses/3', '/licenses/3'],
    ['/staff/licenses?status=active', '/staff/licenses?status=active'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    ['javascript:alert(1)', '/'],
    ['/a b', '/'],
    ['', '/'],
    [undefined, '/'],
  ])('localPath(%j) is %j', (input, out) => {
    expect(localPath(input)).toBe(out);
  });

  it('reads the first value of repeated fields, never an array', () => {
    expect(text({ a: ['x', 'y'] }, 'a')).toBe('x');
    expect(text({}, 'a')).toBe('');
  });

  it('parses ids strictly', () => {
    expect(positiveInt('12')).toBe(12);
    expect(positiveInt('0')).toBeUndefined();
    expect(positiveInt('1e3')).toBeUndefined();
    expect(positiveInt('2147483648')).toBeUndefined();
    expect(intList({ ids: ['1', '2,3'] }, 'ids')).toEqual([1, 2, 3]);
    expect(intList({ ids: 'x' }, 'ids').every(Number.isNaN)).toBe(true);
  });

  it('treats checkboxes as on unless absent or an explicit no', () => {
    expect(checked({ a: '1' }, 'a')).toBe(true);
    expect(checked({ a: 'on' }, 'a')).toBe(true);
    expect(checked({ a: '0' }, 'a')).toBe(false);
    expect(checked({}, 'a')).toBe(false);
  });

  it('reads number fields: empty is none, a sign is kept for the schema to judge, anything else is refused by name', () => {
    expect(integer(' 42 ')).toBe(42);
    expect(integer('-1')).toBe(-1);
    expect(integer('1e3')).toBeNaN();
    expect(integer('4.5')).toBeNaN();
    expect(orNone('')).toBeNull();
    expect(orNone('3')).toBe(3);
    expect(orNone('three')).toBeNaN();
    expect(() => requireWholeNumbers({ maxMachines: '', maxUses: '7' }, ['maxMachines', 'maxUses'])).not.toThrow();
    let refused: unknown;
    try {
      requireWholeNumbers({ maxMachines: 'three', maxUses: '1.5', note: 'x' } as Record<string, string>, ['maxMachines', 'maxUses']);
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: 'invalid_input', message: 'maxMachines must be a whole number' });
    // Every such field is named, each next to itself on the form.
    expect(formErrors(refused as KeywardError).fields).toEqual({ maxMachines: 'maxMachines must be a whole number', maxUses: 'maxUses must be a whole number' });
  });

  it('splits typed lists on commas, spaces and new lines', () => {
    expect(words(' pro, export\nbeta  ,, x ')).toEqual(['pro', 'export', 'beta', 'x']);
    expect(words('')).toEqual([]);
  });

  it('puts a refusal next to the field it names: list entries under their list, a missing thing under the field that typed it', () => {
    const problems = [{ field: 'entitlements[1]', message: 'must be a lowercase code' }, { field: 'entitlements[2]', message: 'must be a lowercase code' }];
    expect(formErrors(new KeywardError('invalid_input', 'entitlements[1] must be a lowercase code', problems))).toEqual({
      message: 'entitlements[1] must be a lowercase code',
      fields: { entitlements: 'entitlements[1] must be a lowercase code' },
    });
    // With the list as typed, the entry is named by what was typed.
    const typed = formErrors(new KeywardError('invalid_input', 'entitlements[1] must be a lowercase code', problems), { entitlements: ['pro', 'Not Valid', 'x y'] });
    expect(typed.fields).toEqual({ entitlements: '"Not Valid" must be a lowercase code' });
    expect(typed.message).toBe('entitlements[1] must be a lowercase code');
    expect(formErrors(new KeywardError('user_not_found', 'user "nobody" does not exist')).fields).toEqual({ owner: 'user "nobody" does not exist' });
    expect(formErrors(new KeywardError('policy_not_found', 'policy 9 does not exist')).fields).toEqual({ policyId: 'policy 9 does not exist' });
  });
});
