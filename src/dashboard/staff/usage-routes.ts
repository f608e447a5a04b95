import type { FastifyInstance, FastifyReply } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { LicenseJson } from '../../licensing/json.js';
import type { UsageChange } from '../../licensing/usage-service.js';
import type { DashboardContext } from '../context.js';
import { number } from '../format.js';
import { formOf, integer, text } from '../forms.js';
import { me } from '../guards.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';

/**
 * /staff/licenses/:id/usage: staff add to, take from and reset a license's usage counter
 * (docs/dashboard.md, "Entitlements and usage"); UsageService checks the amount and the limit and
 * audits the change.
 */
export async function staffUsageRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { licenses, usage } = ctx.services;

  const find = loadOr404(pages, 'license', 'license_not_found', (id) => licenses.show(id));

  /** A staff change of the usage counter (audited by UsageService); a refusal (over the limit, below 0, a bad amount) is the message. */
  async function changeUsage(req: WithId, reply: FastifyReply, license: LicenseJson, change: UsageChange) {
    const back = `/staff/licenses/${license.id}`;
    try {
      const after = await usage.change(license.id, change, actorOf(me(req)));
      return ctx.redirect(reply, back, 'ok', `Usage is now ${number(after.uses)}${after.maxUses === null ? '' : ` of ${number(after.maxUses)}`}.`);
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'license_not_found') return pages.notFound(req, reply, 'license');
      if (err instanceof KeywardError) return ctx.redirect(reply, back, 'error', `Usage not changed: ${err.message}.`);
      throw err;
    }
  }

  app.post('/staff/licenses/:id/usage', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const form = formOf(req);
    const amount = integer(text(form, 'amount'));
    const change = text(form, 'change');
    if (change !== 'add' && change !== 'remove') return ctx.redirect(reply, `/staff/licenses/${license.id}`, 'error', 'Usage not changed: choose Add or Remove.');
    return changeUsage(req, reply, license, change === 'add' ? { increment: amount } : { decrement: amount });
  });

  app.post('/staff/licenses/:id/usage/reset', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const ask = pages.askFirst(req, reply, {
      heading: `Reset the usage of license #${license.id}?`,
      text: 'Its counter goes back to 0, so its product may use it up to the limit again. The change is recorded in the license’s history.',
      action: `/staff/licenses/${license.id}/usage/reset`,
      button: 'Reset usage',
      cancel: `/staff/licenses/${license.id}`,
    });
    if (ask) return ask;
    return changeUsage(req, reply, license, { reset: true });
  });

}
