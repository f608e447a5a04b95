import type { FastifyInstance } from 'fastify';
import { KeywardError } from '../../errors.js';
import { parseIsoTime } from '../../licensing/values.js';
import { checksPage, resultFilter, withBefore } from '../checks-query.js';
import type { DashboardContext } from '../context.js';
import { CHECK_STATUSES } from '../format.js';
import { checked, optional, positiveInt, queryOf } from '../forms.js';

/** /staff/checks (every Previous Auths entry, unknown keys included) and /staff/audit. */
export async function logRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { logs } = ctx.services;

  app.get('/staff/checks', async (req, reply) => {
    const q = queryOf(req);
    const result = resultFilter(q);
    const filter = {
      licenseId: positiveInt(optional(q, 'license')),
      productId: positiveInt(optional(q, 'product')),
      ip: optional(q, 'ip'),
      unknownKey: checked(q, 'unknown') || undefined,
      ...result.filter,
    };
    const page = await checksPage((f) => logs.checks({ ...filter, ...f }), q);
    return ctx.pages.send(req, reply, 'staff/checks', {
      title: 'Previous Auths',
      checks: page.rows,
      filter: { license: optional(q, 'license') ?? '', product: optional(q, 'product') ?? '', ip: filter.ip ?? '', unknown: filter.unknownKey === true },
      result: result.value,
      statuses: CHECK_STATUSES,
      older: page.nextBefore === null ? null : withBefore(q, page.nextBefore),
    });
  });

  app.get('/staff/audit', async (req, reply) => {
    const q = queryOf(req);
    let error: string | undefined;
    const time = (name: string) => {
      const v = optional(q, name);
      if (v === undefined) return undefined;
      try {
        return parseIsoTime(v);
      } catch (err) {
        if (!(err instanceof KeywardError)) throw err;
        error = err.message;
        return undefined;
      }
    };
    const filter = {
      actor: optional(q, 'actor'),
      action: optional(q, 'action'),
      targetType: optional(q, 'targetType'),
      targetId: optional(q, 'targetId'),
      from: time('from'),
      // "to" is a day the reader includes: up to the end of it.
      to: ((t) => (t === undefined ? undefined : /^\d{4}-\d{2}-\d{2}$/.test(optional(q, 'to')!) ? t + 86_400_000 : t))(time('to')),
    };
    const page = await checksPage((f) => logs.audit({ ...filter, ...f }), q);
    return ctx.pages.send(req, reply, 'staff/audit', {
      title: 'Audit log',
      entries: page.rows,
      filter: Object.fromEntries(['actor', 'action', 'targetType', 'targetId', 'from', 'to'].map((k) => [k, optional(q, k) ?? ''])),
      older: page.nextBefore === null ? null : withBefore(q, page.nextBefore),
      error,
    });
  });
}
