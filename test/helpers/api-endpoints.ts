/**
 * Every /api/v1 endpoint, with what the table-driven suites need: the scope it requires, a
 * request that passes validation (for 401/403/404 cases), one that fails it, and the error
 * code for an unknown id. `{id}` is a webhook/product/license/user/policy id, `{deliveryId}` a
 * delivery, `{machineId}` a machine.
 */
export interface Endpoint {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** OpenAPI-style path under /api/v1. */
  path: string;
  scope: string;
  /** A body that passes the schema. */
  body?: unknown;
  /** A request that fails validation, and the field the answer must name. */
  invalid: { path?: string; query?: string; body?: unknown; field: string };
  /** The error code when `{id}` (or `{deliveryId}`) names nothing. */
  notFound?: string;
}

export const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/products', scope: 'products:read', invalid: { query: '?limit=0', field: 'limit' } },
  { method: 'POST', path: '/products', scope: 'products:write', body: { name: 'P' }, invalid: { body: { name: '' }, field: 'name' } },
  { method: 'GET', path: '/products/{id}', scope: 'products:read', invalid: { path: '/products/abc', field: 'id' }, notFound: 'product_not_found' },
  {
    method: 'PATCH',
    path: '/products/{id}',
    scope: 'products:write',
    body: { name: 'Q' },
    invalid: { path: '/products/1', body: { name: 5 }, field: 'name' },
    notFound: 'product_not_found',
  },
  { method: 'DELETE', path: '/products/{id}', scope: 'products:write', invalid: { path: '/products/0', field: 'id' }, notFound: 'product_not_found' },

  { method: 'GET', path: '/licenses', scope: 'licenses:read', invalid: { query: '?status=gone', field: 'status' } },
  {
    method: 'POST',
    path: '/licenses',
    scope: 'licenses:write',
    body: { productIds: [1] },
    invalid: { body: { productIds: [] }, field: 'productIds' },
  },
  { method: 'GET', path: '/licenses/{id}', scope: 'licenses:read', invalid: { path: '/licenses/abc', field: 'id' }, notFound: 'license_not_found' },
  {
    method: 'PATCH',
    path: '/licenses/{id}',
    scope: 'licenses:write',
    body: { note: 'n' },
    invalid: { path: '/licenses/1', body: { active: 'yes' }, field: 'active' },
    notFound: 'license_not_found',
  },
  {
    method: 'POST',
    path: '/licenses/{id}/regenerate',
    scope: 'licenses:write',
    invalid: { path: '/licenses/2147483648/regenerate', field: 'id' },
    notFound: 'license_not_found',
  },
  { method: 'DELETE', path: '/licenses/{id}', scope: 'licenses:write', invalid: { path: '/licenses/-1', field: 'id' }, notFound: 'license_not_found' },
  {
    method: 'GET',
    path: '/licenses/{id}/machines',
    scope: 'licenses:read',
    invalid: { path: '/licenses/abc/machines', field: 'id' },
    notFound: 'license_not_found',
  },
  {
    method: 'DELETE',
    path: '/licenses/{id}/machines/{machineId}',
    scope: 'licenses:write',
    invalid: { path: '/licenses/1/machines/abc', field: 'machineId' },
    notFound: 'license_not_found',
  },

  {
    method: 'GET',
    path: '/licenses/{id}/usage',
    scope: 'licenses:read',
    invalid: { path: '/licenses/abc/usage', field: 'id' },
    notFound: 'license_not_found',
  },
  {
    method: 'POST',
    path: '/licenses/{id}/usage',
    scope: 'licenses:write',
    body: { increment: 1 },
    invalid: { path: '/licenses/1/usage', body: { increment: 0 }, field: 'increment' },
    notFound: 'license_not_found',
  },
  {
    method: 'POST',
    path: '/licenses/{id}/file',
    scope: 'licenses:write',
    body: {},
    invalid: { path: '/licenses/1/file', body: { ttlSeconds: 60 }, field: 'ttlSeconds' },
    notFound: 'license_not_found',
  },

  { method: 'GET', path: '/policies', scope: 'policies:read', invalid: { query: '?limit=0', field: 'limit' } },
  {
    method: 'POST',
    path: '/policies',
    scope: 'policies:write',
    body: { name: 'Pro', productIds: [1] },
    invalid: { body: { name: 'Pro', productIds: [1], heartbeatSeconds: 59 }, field: 'heartbeatSeconds' },
  },
  { method: 'GET', path: '/policies/{id}', scope: 'policies:read', invalid: { path: '/policies/abc', field: 'id' }, notFound: 'policy_not_found' },
  {
    method: 'PATCH',
    path: '/policies/{id}',
    scope: 'policies:write',
    body: { name: 'Pro 2' },
    invalid: { path: '/policies/1', body: { maxMachines: 0 }, field: 'maxMachines' },
    notFound: 'policy_not_found',
  },
  { method: 'DELETE', path: '/policies/{id}', scope: 'policies:write', invalid: { path: '/policies/0', field: 'id' }, notFound: 'policy_not_found' },

  { method: 'GET', path: '/users', scope: 'users:read', invalid: { query: '?role=king', field: 'role' } },
  {
    method: 'POST',
    path: '/users',
    scope: 'users:write',
    body: { username: 'someone' },
    invalid: { body: { username: 'someone', password: 'short' }, field: 'password' },
  },
  { method: 'GET', path: '/users/{id}', scope: 'users:read', invalid: { path: '/users/1.5', field: 'id' }, notFound: 'user_not_found' },
  {
    method: 'PATCH',
    path: '/users/{id}',
    scope: 'users:write',
    body: { role: 'staff' },
    invalid: { path: '/users/1', body: { role: 'king' }, field: 'role' },
    notFound: 'user_not_found',
  },

  { method: 'GET', path: '/checks', scope: 'logs:read', invalid: { query: '?licenseId=abc', field: 'licenseId' } },
  { method: 'GET', path: '/audit', scope: 'logs:read', invalid: { query: '?targetType=', field: 'targetType' } },

  { method: 'GET', path: '/webhooks', scope: 'webhooks:read', invalid: { query: '?limit=5000', field: 'limit' } },
  {
    method: 'POST',
    path: '/webhooks',
    scope: 'webhooks:write',
    body: { url: 'http://127.0.0.1:9/hook' },
    invalid: { body: { url: 'http://127.0.0.1:9/hook', events: ['license.exploded'] }, field: 'events[0]' },
  },
  { method: 'GET', path: '/webhooks/{id}', scope: 'webhooks:read', invalid: { path: '/webhooks/abc', field: 'id' }, notFound: 'webhook_not_found' },
  {
    method: 'PATCH',
    path: '/webhooks/{id}',
    scope: 'webhooks:write',
    body: { active: true },
    invalid: { path: '/webhooks/1', body: { events: [] }, field: 'events' },
    notFound: 'webhook_not_found',
  },
  { method: 'DELETE', path: '/webhooks/{id}', scope: 'webhooks:write', invalid: { path: '/webhooks/x', field: 'id' }, notFound: 'webhook_not_found' },
  {
    method: 'POST',
    path: '/webhooks/{id}/rotate-secret',
    scope: 'webhooks:write',
    invalid: { path: '/webhooks/0/rotate-secret', field: 'id' },
    notFound: 'webhook_not_found',
  },
  { method: 'POST', path: '/webhooks/{id}/test', scope: 'webhooks:write', invalid: { path: '/webhooks/x/test', field: 'id' }, notFound: 'webhook_not_found' },
  {
    method: 'GET',
    path: '/webhooks/{id}/deliveries',
    scope: 'webhooks:read',
    invalid: { path: '/webhooks/1/deliveries', query: '?status=lost', field: 'status' },
    notFound: 'webhook_not_found',
  },
  {
    method: 'GET',
    path: '/webhooks/{id}/deliveries/{deliveryId}',
    scope: 'webhooks:read',
    invalid: { path: '/webhooks/1/deliveries/abc', field: 'deliveryId' },
    notFound: 'delivery_not_found',
  },
  {
    method: 'POST',
    path: '/webhooks/{id}/deliveries/{deliveryId}/resend',
    scope: 'webhooks:write',
    invalid: { path: '/webhooks/1/deliveries/0/resend', field: 'deliveryId' },
    notFound: 'delivery_not_found',
  },
];

/** The path with ids filled in. */
export const fill = (path: string, ids: { id: number | string; deliveryId?: number | string; machineId?: number | string }) =>
  path
    .replace('{id}', String(ids.id))
    .replace('{deliveryId}', String(ids.deliveryId ?? 1))
    .replace('{machineId}', String(ids.machineId ?? 1));
