import { Type, type Static } from 'typebox';
import { Id, Nullable } from './common.js';
import { LIMITS } from './limits.js';

/** Staff's view and changes of a metered license's counter (docs/license-files.md, "Feature tiers and metered licenses"). */

const U = LIMITS.usage.increment;
/** One increment or decrement. */
export const UsageAmount = Type.Integer({ minimum: U.min, maximum: U.max });

/** Exactly one action: an increment within the limit, a decrement down to 0 at most, or a reset to 0. */
export const UsageChangeInput = Type.Object(
  {
    increment: Type.Optional({ ...UsageAmount, description: 'Adds this many uses; refused (usage_exceeded) when that passes the limit' }),
    decrement: Type.Optional({ ...UsageAmount, description: 'Takes this many uses off; refused when that goes below 0' }),
    reset: Type.Optional(Type.Literal(true, { description: 'Sets the counter to 0', rule: 'must be true' })),
  },
  { additionalProperties: false, minProperties: 1, maxProperties: 1, rule: 'must hold exactly one of increment, decrement or reset' },
);
export type UsageChangeBody = Static<typeof UsageChangeInput>;

export const Usage = Type.Object({
  licenseId: Id,
  uses: Type.Integer({ description: 'The usage counter' }),
  maxUses: Nullable(Type.Integer({ description: "The limit in force: the license's own, else its policy's; null: not metered" })),
});
