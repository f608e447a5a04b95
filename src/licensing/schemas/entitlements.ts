import { Type } from 'typebox';
import { Nullable } from './common.js';
import { LIMITS } from './limits.js';

/** Feature codes and usage limits, which policies and licenses both carry (docs/license-files.md, "Feature tiers"). */

const P = LIMITS.policy;

export const EntitlementCode = Type.String({
  pattern: P.entitlements.pattern,
  rule: 'must be a lowercase code of letters, digits, "_", ".", ":" and "-" (at most 64 characters)',
});
export const Entitlements = Type.Array(EntitlementCode, { maxItems: P.entitlements.max, description: 'Feature codes granted' });
export const MaxUses = Nullable(Type.Integer({ minimum: P.maxUses.min, maximum: P.maxUses.max, description: 'Usage limit; null: not metered' }));
