import { Type, type Static } from 'typebox';
import { LICENSE_STATES } from '../license-state.js';
import { Id, Literals, Nullable, Time, TimeText } from './common.js';
import { PageQuery, PAGE_SIZE } from '../paging.js';
import { LIMITS } from './limits.js';
import { Entitlements, MaxUses } from './entitlements.js';

/** A license: what staff issue and change, and the JSON every surface shows. */

const L = LIMITS.license;

export const ProductIds = Type.Array(Id, { minItems: 1, maxItems: L.productIds, description: 'The products it grants (a bundle when several)' });
export const Ips = Type.Array(Type.String({ minLength: 1, maxLength: L.ipEntry }), { maxItems: L.ips, description: 'Allowed IPs / CIDR blocks' });
export const Expiry = Nullable({ ...TimeText, description: 'ISO 8601 date or date-time (UTC when no zone), or null for never' });
export const Note = Nullable(Type.String({ maxLength: L.note }));
export const Owner = Nullable(Type.String({ maxLength: LIMITS.user.username.max, description: 'Username of the owner; null or "" for none' }));
export const LicenseKey = Type.String({ minLength: L.key.min, maxLength: L.key.max, description: 'Keep this existing key (migrations); generated when absent' });

/** The policy a license names (null: none), and its own machine limit (null: the policy's). */
/** Feature codes of its own (added to its policy's) and its own usage limit (null: the policy's). */
const OwnEntitlements = { ...Entitlements, description: "Feature codes it grants besides its policy's (replaces the whole list)" };
const OwnMaxUses = { ...MaxUses, description: "Overrides the policy's usage limit; null: the policy's (or not metered)" };

const PolicyId = Nullable({ ...Id, description: "The policy it follows; null for none" });
const OwnMaxMachines = Nullable(
  Type.Integer({
    minimum: LIMITS.policy.maxMachines.min,
    maximum: LIMITS.policy.maxMachines.max,
    description: "Overrides the policy's machine limit; null: the policy's",
  }),
);

export const LicenseCreateInput = Type.Object(
  {
    productIds: Type.Optional({ ...ProductIds, description: "The products it grants (a bundle when several); the policy's when absent" }),
    policyId: Type.Optional(PolicyId),
    maxMachines: Type.Optional(OwnMaxMachines),
    entitlements: Type.Optional(OwnEntitlements),
    maxUses: Type.Optional(OwnMaxUses),
    owner: Type.Optional(Owner),
    ipLocked: Type.Optional(Type.Boolean({ description: 'Lock to `ips` (or, when empty, to the first IP that checks it)' })),
    ips: Type.Optional(Ips),
    expiresAt: Type.Optional(Expiry),
    note: Type.Optional(Note),
    key: Type.Optional(LicenseKey),
  },
  { additionalProperties: false },
);
export type LicenseCreate = Static<typeof LicenseCreateInput>;

export const LicenseUpdateInput = Type.Object(
  {
    productIds: Type.Optional({ ...ProductIds, description: 'Replaces the whole list' }),
    policyId: Type.Optional({ ...PolicyId, description: 'Attach a policy (its products and duration are not applied) or detach it with null' }),
    maxMachines: Type.Optional(OwnMaxMachines),
    entitlements: Type.Optional(OwnEntitlements),
    maxUses: Type.Optional(OwnMaxUses),
    owner: Type.Optional(Owner),
    active: Type.Optional(Type.Boolean()),
    disabled: Type.Optional(Type.Boolean()),
    ipLocked: Type.Optional(Type.Boolean()),
    ips: Type.Optional(Ips),
    expiresAt: Type.Optional(Expiry),
    note: Type.Optional(Note),
  },
  { additionalProperties: false },
);
export type LicenseUpdate = Static<typeof LicenseUpdateInput>;

export const LicenseStatus = Literals(LICENSE_STATES);

/** The filters of a license search (the API's query string, the dashboard's search form). */
export const LicenseFilters = {
  productId: Type.Optional(Id),
  owner: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.user.username.max, description: 'Username (an unknown one matches nothing)' })),
  status: Type.Optional(LicenseStatus),
  ip: Type.Optional(Type.String({ minLength: 1, maxLength: L.ipEntry, description: 'Part of an allowed IP/CIDR or of the last caller IP' })),
};

/** What a license search takes, on every surface: the filters, an exact key or owner id, and a page. */
export const LicenseSearchInput = Type.Object(
  {
    ...LicenseFilters,
    ownerId: Type.Optional(Id),
    /** An exact clear key; only its digest is looked up, so any text is safe here. */
    key: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_SIZE.max })),
    cursor: PageQuery.cursor,
  },
  { additionalProperties: false },
);
export type LicenseSearch = Static<typeof LicenseSearchInput>;

const licenseFields = {
  id: Id,
  productIds: Type.Array(Id),
  owner: Nullable(Type.String({ description: 'Username of the owner' })),
  active: Type.Boolean({ description: "The owner's on/off switch" }),
  disabled: Type.Boolean({ description: "Staff's disable switch" }),
  ipLocked: Type.Boolean(),
  ips: Type.Array(Type.String(), { description: 'Allowed IPs / CIDR blocks' }),
  expiresAt: Nullable(Time),
  policyId: Nullable(Id),
  maxMachines: Nullable(Type.Integer({ description: "Its own machine limit; null: the policy's" })),
  firstUseDays: Nullable(Type.Integer({ description: 'Days it will last from its first AUTHORISED answer, until that comes (first-use policies)' })),
  entitlements: Type.Array(Type.String(), { description: "Its own feature codes (its policy's are granted too)" }),
  uses: Type.Integer({ description: 'The usage counter' }),
  maxUses: Nullable(Type.Integer({ description: "Its own usage limit; null: the policy's (or not metered)" })),
  note: Nullable(Type.String()),
  totalChecks: Type.Integer(),
  lastCheckAt: Nullable(Time),
  lastIp: Nullable(Type.String()),
  createdAt: Time,
  updatedAt: Time,
};
export const License = Type.Object(licenseFields);
export type LicenseJson = Static<typeof License>;

export const LicenseWithKey = Type.Object({ ...licenseFields, key: Type.String({ description: 'The clear key: shown in this answer only' }) });
