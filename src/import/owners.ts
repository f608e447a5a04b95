import { Value } from 'typebox/value';
import { LIMITS } from '../licensing/schemas/limits.js';
import { Username } from '../licensing/schemas/user.js';
import { isSnowflake } from './faxstore-row.js';

/** What FaxStore's `users` table (or a CSV's username/email columns) says about an owner. */
export interface FaxStoreUser {
  username: string | null;
  email: string | null;
}

/** A Keyward user to create for a FaxStore owner: no password, role customer. */
export interface NewOwner {
  username: string;
  discordId: string | null;
  email: string | null;
}

export interface ExistingUsers {
  byDiscordId: ReadonlyMap<string, number>;
  byUsername: ReadonlyMap<string, number>;
}

/** For each FaxStore owner id: an existing Keyward user id, or the index of a user to create. */
export type OwnerLink = { userId: number } | { create: number };

export interface OwnerPlan {
  links: Map<string, OwnerLink>;
  create: NewOwner[];
  linked: number;
  /** FaxStore owner ids that cannot become a Keyward user, with the reason. */
  unmapped: Map<string, string>;
  /** FaxStore owner ids with no row in FaxStore's users table. */
  unknown: Set<string>;
}

const USERNAME_MAX = LIMITS.user.username.max;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * The owner rule (docs/import.md): a FaxStore owner id that is a Discord snowflake is matched on
 * the Keyward user's `discord_id`, and a user is created with that Discord id when none has it;
 * any other owner id is matched on the username (FaxStore's username, else the id itself), and a
 * user is created with that username when none has it. Created users get no password.
 */
export function planOwners(ownerIds: Iterable<string>, faxUsers: ReadonlyMap<string, FaxStoreUser>, existing: ExistingUsers): OwnerPlan {
  const plan: OwnerPlan = { links: new Map(), create: [], linked: 0, unmapped: new Map(), unknown: new Set() };
  const taken = new Set(existing.byUsername.keys());
  const planned = new Map<string, number>();
  const create = (owner: NewOwner): OwnerLink => {
    plan.create.push(owner);
    taken.add(owner.username);
    planned.set(owner.username, plan.create.length - 1);
    return { create: plan.create.length - 1 };
  };

  for (const ownerId of [...new Set(ownerIds)].sort()) {
    const fax = faxUsers.get(ownerId);
    if (!fax) plan.unknown.add(ownerId);
    const email = fax?.email && EMAIL.test(fax.email.trim()) ? fax.email.trim().slice(0, LIMITS.user.email) : null;
    if (isSnowflake(ownerId)) {
      const found = existing.byDiscordId.get(ownerId);
      if (found !== undefined) {
        plan.links.set(ownerId, { userId: found });
        plan.linked++;
        continue;
      }
      const base = sanitizeUsername(fax?.username) ?? `discord-${ownerId}`;
      plan.links.set(ownerId, create({ username: uniqueUsername(base, ownerId, taken), discordId: ownerId, email }));
      continue;
    }
    const username = sanitizeUsername(fax?.username ?? ownerId);
    if (!username) {
      plan.unmapped.set(ownerId, 'its username cannot be made a Keyward username (2-32 letters, digits, "_", "." or "-")');
      continue;
    }
    const found = existing.byUsername.get(username);
    if (found !== undefined) {
      plan.links.set(ownerId, { userId: found });
      plan.linked++;
    } else {
      const again = planned.get(username);
      plan.links.set(ownerId, again !== undefined ? { create: again } : create({ username, discordId: null, email }));
    }
  }
  return plan;
}

/** A Keyward username from any display name: other characters become "_", within the username limits. */
export function sanitizeUsername(name: string | null | undefined): string | null {
  if (!name) return null;
  const cleaned = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/^[_.-]+|[_.-]+$/g, '')
    .slice(0, USERNAME_MAX)
    .replace(/[_.-]+$/, '');
  return Value.Check(Username, cleaned) ? cleaned : null;
}

/** `base`, or `base-1234` (the id's last digits), or `discord-<id>`, or a numbered variant: whichever is free. */
function uniqueUsername(base: string, discordId: string, taken: ReadonlySet<string>): string {
  const withSuffix = (suffix: string) => `${base.slice(0, USERNAME_MAX - suffix.length - 1)}-${suffix}`;
  const candidates = [base, withSuffix(discordId.slice(-4)), `discord-${discordId}`];
  for (const c of candidates) if (!taken.has(c)) return c;
  for (let n = 2; ; n++) {
    const c = withSuffix(`${discordId.slice(-4)}-${n}`);
    if (!taken.has(c)) return c;
  }
}
