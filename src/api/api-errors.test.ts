import { describe, expect, it } from 'vitest';
import { validationDetails } from './api-errors.js';

describe('validation details', () => {
  it('names each field once, in a readable form', () => {
    const details = validationDetails(
      [
        { keyword: 'required', schemaPath: '#', instancePath: '', params: { requiredProperties: ['productIds'] }, message: 'x' },
        { keyword: 'boolean', schemaPath: '#/additionalProperties', instancePath: '/bogus', params: {}, message: 'schema is false' },
        { keyword: 'additionalProperties', schemaPath: '#', instancePath: '', params: { additionalProperties: ['bogus'] }, message: 'x' },
        { keyword: 'minimum', schemaPath: '#/properties/ips', instancePath: '/ips/2', params: {}, message: 'must be >= 1' },
        { keyword: 'maxLength', schemaPath: '#', instancePath: '/owner/name', params: {}, message: 'must not have more than 3 characters' },
      ],
      'body',
    );
    expect(details).toEqual([
      { in: 'body', field: 'productIds', message: 'is required' },
      { in: 'body', field: 'bogus', message: 'is not a known field' },
      { in: 'body', field: 'ips[2]', message: 'must be >= 1' },
      { in: 'body', field: 'owner.name', message: 'must not have more than 3 characters' },
    ]);
  });

  it('summarises anyOf alternatives', () => {
    const consts = validationDetails(
      [
        { keyword: 'const', schemaPath: '#/properties/status/anyOf/0', instancePath: '/status', params: { allowedValue: 'a' } },
        { keyword: 'const', schemaPath: '#/properties/status/anyOf/1', instancePath: '/status', params: { allowedValue: 'b' } },
        { keyword: 'anyOf', schemaPath: '#/properties/status', instancePath: '/status', params: {} },
      ],
      'querystring',
    );
    expect(consts).toEqual([{ in: 'querystring', field: 'status', message: 'must be one of "a", "b"' }]);
    const types = validationDetails(
      [
        { keyword: 'type', schemaPath: '#/properties/note/anyOf/0', instancePath: '/note', params: { type: 'string' } },
        { keyword: 'type', schemaPath: '#/properties/note/anyOf/1', instancePath: '/note', params: { type: 'null' } },
        { keyword: 'anyOf', schemaPath: '#/properties/note', instancePath: '/note', params: {} },
      ],
      'body',
    );
    expect(types).toEqual([{ in: 'body', field: 'note', message: 'must be string or null' }]);
  });

  it('names the part itself when the whole part is wrong', () => {
    expect(validationDetails([{ keyword: 'type', schemaPath: '#', instancePath: '', params: { type: 'object' }, message: 'must be object' }], 'body')).toEqual([
      { in: 'body', field: 'body', message: 'must be object' },
    ]);
  });
});
