import { Type, type Static } from 'typebox';
import { Id, Nullable, Time } from './common.js';
import { LIMITS } from './limits.js';

/** Management API tokens. */

export const TokenName = Type.String({
  minLength: 1,
  maxLength: LIMITS.token.name,
  pattern: '^[A-Za-z0-9][A-Za-z0-9 _.:@-]*$',
  rule: 'may hold only letters, digits, spaces and _ . : @ - (starting with a letter or digit)',
});

export const TokenCreateInput = Type.Object(
  {
    name: TokenName,
    /** Comma-separated or a list; each must be a known scope (checked by the token service). */
    scopes: Type.Union([Type.String(), Type.Array(Type.String())]),
  },
  { additionalProperties: false },
);
export type TokenCreate = Omit<Static<typeof TokenCreateInput>, 'scopes'> & { scopes: string | readonly string[] };

export const Token = Type.Object({
  id: Id,
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  /** The token's first characters, to tell tokens apart; never enough to use one. */
  prefix: Type.String(),
  createdBy: Type.String(),
  createdAt: Time,
  lastUsedAt: Nullable(Time),
  revokedAt: Nullable(Time),
});
