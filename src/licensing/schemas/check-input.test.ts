import { describe, expect, it } from 'vitest';
import { KeywardError } from '../../errors.js';
import { checkInput } from './check-input.js';
import { LicenseCreateInput, LicenseUpdateInput } from './license.js';
import { PolicyCreateInput } from './policy.js';
import { Password, UserCreateInput } from './user.js';
import { WebhookCreateInput } from './webhook.js';
import { WEBHOOK_EVENTS } from '../../webhooks/events.js';

/** The error checkInput throws for `value`, or a failure if it accepts it. */
function refusal(schema: Parameters<typeof checkInput>[0], value: unknown, name?: string): KeywardError {
  try {
    checkInput(schema, value, name);
  } catch (err) {
    expect(err).toBeInstanceOf(KeywardError);
    return err as KeywardError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('checkInput: messages name the field and the limit, never the value', () => {
  it('a string where null is also allowed is judged by its length', () => {
    const err = refusal(LicenseUpdateInput, { note: 'x'.repeat(1001) });
    expect(err.code).toBe('invalid_input');
    expect(err.message).toBe('note is at most 1000 characters');
    expect(err.details).toEqual([{ field: 'note', message: 'is at most 1000 characters' }]);
  });

  it('names list entries, counts, required and unknown fields', () => {
    expect(refusal(LicenseCreateInput, { productIds: [] }).message).toBe('productIds needs at least 1 entry');
    expect(refusal(LicenseCreateInput, { productIds: [1, 0] }).message).toBe('productIds[1] is at least 1');
    expect(refusal(LicenseCreateInput, { productIds: [1], ips: ['x'.repeat(65)] }).message).toBe('ips[0] is at most 64 characters');
    // A license may take its products from a policy; a policy must name them.
    expect(refusal(PolicyCreateInput, { name: 'Pro' }).message).toBe('productIds is required');
    expect(refusal(LicenseCreateInput, { productIds: [1], productID: 2 }).message).toBe('productID is not a known field');
    expect(refusal(LicenseUpdateInput, { active: 'yes' }).message).toBe('active must be boolean');
  });

  it('says a pattern rule in words, and lists the allowed words', () => {
    expect(refusal(UserCreateInput, { username: 'a b' }).message).toBe('username may hold only letters, digits, "_", "." and "-"');
    expect(refusal(UserCreateInput, { username: 'ab', email: 'not-mail' }).message).toBe('email must be an email address');
    expect(refusal(UserCreateInput, { username: 'ab', role: 'king' }).message).toBe('role must be one of customer, staff, admin');
  });

  // Regression guard (was a bug): TypeBox keeps 8 errors by default, so a word outside a list of 8 or
  // more (the webhook events, since the machine events joined them) lost the error naming its field.
  it('names the field of a word outside a long closed list', () => {
    const err = refusal(WebhookCreateInput, { url: 'https://example.com/hook', events: ['license.exploded'] });
    expect(err.details).toEqual([{ field: 'events[0]', message: `must be one of ${WEBHOOK_EVENTS.join(', ')}` }]);
  });

  it('names a bare value by the name it is checked under', () => {
    const key = 'k'.repeat(7);
    const err = refusal(Password, key, 'password');
    expect(err.message).toBe('password is at least 8 characters');
    expect(err.message).not.toContain(key);
  });

  it('returns the value when it passes, at the limits included', () => {
    expect(checkInput(LicenseUpdateInput, { note: 'x'.repeat(1000) })).toEqual({ note: 'x'.repeat(1000) });
    expect(checkInput(Password, 'p'.repeat(1024), 'password')).toHaveLength(1024);
  });
});
