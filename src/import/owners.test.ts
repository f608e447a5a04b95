import { describe, expect, it } from 'vitest';
import { planOwners, sanitizeUsername, type FaxStoreUser } from './owners.js';

const A = '111111111111111111';
const B = '222222222222222222';
const C = '333333333333333333';

describe('planOwners', () => {
  it('links Discord ids to existing users by discord_id and creates the others with their FaxStore name', () => {
    const fax = new Map<string, FaxStoreUser>([
      [A, { username: 'alice', email: 'a@example.com' }],
      [B, { username: 'Bob Smith', email: 'nope' }],
    ]);
    const plan = planOwners([A, B, B], fax, { byDiscordId: new Map([[A, 5]]), byUsername: new Map([['alice', 5]]) });
    expect(plan.links.get(A)).toEqual({ userId: 5 });
    expect(plan.links.get(B)).toEqual({ create: 0 });
    expect(plan.create).toEqual([{ username: 'Bob_Smith', discordId: B, email: null }]);
    expect(plan.linked).toBe(1);
  });

  it('never links a Discord id to a different person who merely has the same username', () => {
    const fax = new Map<string, FaxStoreUser>([
      [A, { username: 'sam', email: null }],
      [B, { username: 'sam', email: null }],
    ]);
    const plan = planOwners([A, B], fax, { byDiscordId: new Map(), byUsername: new Map([['sam', 9]]) });
    expect(plan.create.map((u) => u.username)).toEqual(['sam-1111', 'sam-2222']);
    expect(plan.create.map((u) => u.discordId)).toEqual([A, B]);
  });

  it('names an owner unknown to FaxStore, or with an unusable name, after the Discord id', () => {
    const plan = planOwners([A, C], new Map([[C, { username: '名前', email: null }]]), { byDiscordId: new Map(), byUsername: new Map() });
    expect(plan.create.map((u) => u.username)).toEqual([`discord-${A}`, `discord-${C}`]);
    expect([...plan.unknown]).toEqual([A]);
  });

  it('maps other owner ids by username, creating the user once', () => {
    const fax = new Map<string, FaxStoreUser>([['legacy-1', { username: 'legacy', email: null }]]);
    const plan = planOwners(['legacy-1', 'admin', '!!'], fax, { byDiscordId: new Map(), byUsername: new Map([['admin', 1]]) });
    expect(plan.links.get('admin')).toEqual({ userId: 1 });
    expect(plan.create).toEqual([{ username: 'legacy', discordId: null, email: null }]);
    expect(plan.unmapped.has('!!')).toBe(true);
  });
});

describe('sanitizeUsername', () => {
  it('makes a Keyward username (2-32 of [A-Za-z0-9_.-]) or gives up', () => {
    expect(sanitizeUsername('Bob Smith')).toBe('Bob_Smith');
    expect(sanitizeUsername('Zoë')).toBe('Zoe');
    expect(sanitizeUsername('x'.repeat(40))).toBe('x'.repeat(32));
    expect(sanitizeUsername('__a__')).toBeNull();
    expect(sanitizeUsername('名前')).toBeNull();
    expect(sanitizeUsername(null)).toBeNull();
  });
});
