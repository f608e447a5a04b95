import { Type, type Static } from 'typebox';
import { Id, Literals, Nullable, Time } from './common.js';
import { LIMITS } from './limits.js';

/** Accounts: customers, staff and admins. */

const U = LIMITS.user;

export const ROLES = ['customer', 'staff', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const RoleSchema = Literals(ROLES);

export const Username = Type.String({
  minLength: U.username.min,
  maxLength: U.username.max,
  pattern: '^[A-Za-z0-9_.-]*$',
  rule: 'may hold only letters, digits, "_", "." and "-"',
});
export const Password = Type.String({ minLength: U.password.min, maxLength: U.password.max });
/** An email address, or "" (none). */
export const Email = Nullable(
  Type.String({ maxLength: U.email, pattern: '^(?:[^\\s@]+@[^\\s@]+\\.[^\\s@]+)?$', rule: 'must be an email address' }),
);

export const UserCreateInput = Type.Object(
  {
    username: Username,
    password: Type.Optional(Password),
    email: Type.Optional(Email),
    role: Type.Optional(RoleSchema),
  },
  { additionalProperties: false },
);
export type UserCreate = Static<typeof UserCreateInput>;

export const UserUpdateInput = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    email: Type.Optional(Email),
    disabled: Type.Optional(Type.Boolean()),
    discordId: Type.Optional(Nullable(Type.String())),
  },
  { additionalProperties: false },
);
export type UserUpdate = Static<typeof UserUpdateInput>;

export const UserSearch = Type.String({ minLength: 1, maxLength: U.search, description: 'Part of the username or email' });

const userFields = {
  id: Id,
  username: Type.String(),
  email: Nullable(Type.String()),
  role: RoleSchema,
  discordId: Nullable(Type.String()),
  disabled: Type.Boolean(),
  createdAt: Time,
};
export const User = Type.Object(userFields);
export type UserJson = Static<typeof User>;

export const CreatedUser = Type.Object({
  ...userFields,
  password: Type.Optional(Type.String({ description: 'The generated password, when none was given: shown in this answer only' })),
});
