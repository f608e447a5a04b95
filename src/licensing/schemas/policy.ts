import { Type, type Static } from 'typebox';
import { Id, Literals, Nullable, Time } from './common.js';
import { LIMITS } from './limits.js';
import { ProductIds } from './license.js';
import { Entitlements, MaxUses } from './entitlements.js';
export { EntitlementCode, Entitlements, MaxUses } from './entitlements.js';

/**
 * A policy: a named template for licenses ("Pro — 3 servers, 1 year"). docs/machines.md says what
 * each field does; `productIds` and the duration are applied when a license is issued, every other
 * field applies live to the licenses that name the policy.
 */

const P = LIMITS.policy;

export const EXPIRY_BASES = ['issued', 'first-use'] as const;
export const MACHINE_IDENTITIES = ['fingerprint', 'ip'] as const;
export type MachineIdentity = (typeof MACHINE_IDENTITIES)[number];

export const PolicyName = Type.String({ minLength: 1, maxLength: P.name });
export const DurationDays = Nullable(
  Type.Integer({ minimum: P.durationDays.min, maximum: P.durationDays.max, description: 'Days a license lasts; null: perpetual' }),
);
export const MaxMachines = Nullable(
  Type.Integer({ minimum: P.maxMachines.min, maximum: P.maxMachines.max, description: 'Machines at once; null: machines are not tracked' }),
);
export const HeartbeatSeconds = Nullable(
  Type.Integer({
    minimum: P.heartbeatSeconds.min,
    maximum: P.heartbeatSeconds.max,
    description: 'A machine not seen for this long is dead and frees its slot; null: machines live until freed',
  }),
);
export const DeactivationsPerDay = Type.Integer({
  minimum: P.deactivationsPerDay.min,
  maximum: P.deactivationsPerDay.max,
  description: 'Machines a key holder, and separately an owner, may free per rolling 24 hours (staff are not limited)',
});
const settings = {
  durationDays: Type.Optional(DurationDays),
  expiryBasis: Type.Optional({ ...Literals(EXPIRY_BASES), description: 'When the duration starts: at issue (default) or at the first AUTHORISED answer' }),
  maxMachines: Type.Optional(MaxMachines),
  machineIdentity: Type.Optional({
    ...Literals(MACHINE_IDENTITIES),
    description: 'What a machine is: a fingerprint the client sends (default), or the caller IP (N servers per key)',
  }),
  autoActivate: Type.Optional(Type.Boolean({ description: 'A check from an unknown machine takes a free slot itself (default true)' })),
  heartbeatSeconds: Type.Optional(HeartbeatSeconds),
  deactivationsPerDay: Type.Optional(DeactivationsPerDay),
  entitlements: Type.Optional(Entitlements),
  maxUses: Type.Optional(MaxUses),
};

export const PolicyCreateInput = Type.Object({ name: PolicyName, productIds: ProductIds, ...settings }, { additionalProperties: false });
export type PolicyCreate = Static<typeof PolicyCreateInput>;

export const PolicyUpdateInput = Type.Object(
  { name: Type.Optional(PolicyName), productIds: Type.Optional(ProductIds), ...settings },
  { additionalProperties: false },
);
export type PolicyUpdate = Static<typeof PolicyUpdateInput>;

export const Policy = Type.Object({
  id: Id,
  name: Type.String(),
  productIds: Type.Array(Id),
  durationDays: Nullable(Type.Integer()),
  expiryBasis: Literals(EXPIRY_BASES),
  maxMachines: Nullable(Type.Integer()),
  machineIdentity: Literals(MACHINE_IDENTITIES),
  autoActivate: Type.Boolean(),
  heartbeatSeconds: Nullable(Type.Integer()),
  deactivationsPerDay: Type.Integer(),
  entitlements: Type.Array(Type.String()),
  maxUses: Nullable(Type.Integer()),
  createdAt: Time,
  updatedAt: Time,
});
export type PolicyJson = Static<typeof Policy>;

/** A machine as staff (and the license's owner) see it. */
export const Machine = Type.Object({
  id: Id,
  licenseId: Id,
  fingerprint: Type.String(),
  name: Nullable(Type.String()),
  platform: Nullable(Type.String()),
  hostname: Nullable(Type.String()),
  ip: Nullable(Type.String({ description: 'The IP it was last seen from' })),
  createdAt: Time,
  lastSeenAt: Time,
  alive: Type.Boolean({ description: 'False once its policy heartbeat has passed without it being seen' }),
  deadAt: Nullable({ ...Time, description: 'When it dies unless seen again (policies with a heartbeat)' }),
  fileExpiresAt: Nullable({ ...Time, description: 'The end of the latest license file issued for it: it holds its slot until then' }),
  deactivatedAt: Nullable({ ...Time, description: 'Freed by its key holder or owner while a license file held its slot (kept until the file ends)' }),
});
export type MachineJson = Static<typeof Machine>;
