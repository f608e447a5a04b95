import { describe, expect, it } from 'vitest';
import { checked, integer, intList, localPath, numberOrNone, positiveInt, text } from './forms.js';

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
    expect(numberOrNone({ maxMachines: '' }, 'maxMachines')).toBeNull();
    expect(numberOrNone({}, 'maxMachines')).toBeNull();
    expect(numberOrNone({ maxMachines: '3' }, 'maxMachines')).toBe(3);
    expect(() => numberOrNone({ maxMachines: 'three' }, 'maxMachines')).toThrow('maxMachines must be a whole number');
  });
});
