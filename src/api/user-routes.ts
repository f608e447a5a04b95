import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { KeywardError } from '../errors.js';
import type { UserCaller } from '../licensing/user-service.js';
import type { Services } from '../services.js';
import { actorOf } from './auth.js';
import { answerOnce } from './idempotency.js';
import { decodeCursor, PAGE_SIZE, pageOf } from '../licensing/paging.js';
import { RoleSchema, UserCreateInput, UserSearch, UserUpdateInput } from '../licensing/schemas/user.js';
import { body, describe, errorResponses, IdempotencyHeaders, IdParams, one, page, Pagination } from './schemas.js';

/** The API changes role, email and disabled; the Discord link is the dashboard's. */
const UpdateBody = body(Type.Omit(UserUpdateInput, ['discordId']), { atLeastOne: true });

/** A token's rights over users: staff and admin accounts and roles need `users:admin` besides `users:write`. */
const callerOf = (req: FastifyRequest): UserCaller => ({ admin: req.apiToken?.scopes.has('users:admin') ?? false });

/** The service refuses admin-only changes; say which scope would allow them, as for a route's own scope. */
async function withAdminScope<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof KeywardError && err.code === 'forbidden') {
      throw new KeywardError('forbidden', `${err.message}: this token lacks the scope users:admin`, { requiredScope: 'users:admin' });
    }
    throw err;
  }
}

export function userRoutes(scope: FastifyInstance, services: Services): void {
  const api = scope.withTypeProvider<TypeBoxTypeProvider>();
  const { users, idempotency } = services;

  api.get(
    '/users',
    {
      config: { scope: 'users:read' },
      schema: {
        ...describe('users', 'listUsers', 'List users by id', 'users:read'),
        querystring: Type.Object(
          { q: Type.Optional(UserSearch), role: Type.Optional(RoleSchema), ...Pagination },
          { additionalProperties: false },
        ),
        response: { 200: page('User', 'A page of users'), ...errorResponses() },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? PAGE_SIZE.default;
      const rows = await users.list({ q: req.query.q, role: req.query.role, afterId: decodeCursor('users', req.query.cursor), limit: limit + 1 });
      return pageOf(rows, limit, 'users');
    },
  );

  api.post(
    '/users',
    {
      config: { scope: 'users:write' },
      schema: {
        ...describe(
          'users',
          'createUser',
          'Create a user; without `password` one is generated and shown this once. A `staff` or `admin` role also needs the `users:admin` scope',
          'users:write',
        ),
        headers: IdempotencyHeaders,
        body: body(UserCreateInput),
        response: { 201: one('CreatedUser'), ...errorResponses(409, 422) },
      },
    },
    async (req, reply) => answerOnce(req, reply, idempotency, 201, () => withAdminScope(() => users.create(req.body, actorOf(req), callerOf(req)))),
  );

  api.get(
    '/users/:id',
    {
      config: { scope: 'users:read' },
      schema: {
        ...describe('users', 'getUser', 'Show a user', 'users:read'),
        params: IdParams,
        response: { 200: one('User'), ...errorResponses(404) },
      },
    },
    async (req) => users.get(req.params.id),
  );

  api.patch(
    '/users/:id',
    {
      config: { scope: 'users:write' },
      schema: {
        ...describe(
          'users',
          'updateUser',
          "Change a user's role, email or disabled flag. Staff and admin accounts, and the `staff` and `admin` roles, also need the `users:admin` scope; the last enabled admin is never demoted or disabled (409)",
          'users:write',
        ),
        params: IdParams,
        body: UpdateBody,
        response: { 200: one('User'), ...errorResponses(404, 409) },
      },
    },
    async (req) => withAdminScope(() => users.update(req.params.id, req.body, actorOf(req), callerOf(req))),
  );
}
