import { Type } from 'typebox';
import { Id, Nullable, Time, TimeText } from './common.js';
import { LIMITS } from './limits.js';

/** Previous Auths (the check log) and the audit log: entries and their filters. */

const G = LIMITS.log;

export const CheckEntry = Type.Object(
  {
    id: Type.Integer(),
    time: Time,
    licenseId: Nullable(Type.Integer()),
    productId: Nullable(Type.Integer()),
    ip: Type.String(),
    status: Type.String({ description: 'AUTHORISED, NOT FOUND, KEY DISABLED, NOT ACTIVE, EXPIRED, NOT AUTHORISED, …' }),
    info: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    endpoint: Nullable(Type.String({ description: 'The client endpoint (validate, activate, deactivate, heartbeat); null for the check endpoints' })),
  },
  { description: 'One Previous Auths entry' },
);

export const AuditEntry = Type.Object({
  id: Type.Integer(),
  time: Time,
  actor: Type.String({ description: 'e.g. `token:<name>`, `cli:<user>`, `user:<name>`' }),
  action: Type.String(),
  targetType: Type.String(),
  targetId: Nullable(Type.String()),
  before: Type.Unknown(),
  after: Type.Unknown(),
});

/** Times in filters: a date or date-time (a time without a zone is UTC). */
export const TimeFilter = { ...TimeText, minLength: 10 };

export const CheckFilters = {
  licenseId: Type.Optional(Id),
  productId: Type.Optional(Id),
  status: Type.Optional(Type.String({ minLength: 1, maxLength: G.word, description: 'e.g. AUTHORISED, NOT FOUND, EXPIRED' })),
};

export const AuditFilters = {
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: G.text, description: 'e.g. token:shop' })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: G.text, description: 'e.g. license.created' })),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: G.word, description: 'license, product, user, token, webhook' })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: G.word })),
};
