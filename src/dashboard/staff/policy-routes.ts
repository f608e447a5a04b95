import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { PolicyJson } from '../../licensing/json.js';
import { EXPIRY_BASES, MACHINE_IDENTITIES } from '../../licensing/schemas/policy.js';
import type { DashboardContext } from '../context.js';
import { formOf, type FormErrors } from '../forms.js';
import { me } from '../guards.js';
import { productNames } from '../license-page.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';
import { NEW_POLICY, policyErrors, policyInput, policyValues, readPolicyForm, type PolicyFormValues } from './policy-form.js';

/** /staff/policies: list, create, edit, delete (the service refuses while licenses name the policy). */
export async function policyRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { policies, products } = ctx.services;

  const find = loadOr404(pages, 'policy', 'policy_not_found', (id) => policies.get(id));

  /** The new or edit page; a refused form comes back with what was typed and the errors (HTTP 400). */
  async function formPage(req: FastifyRequest, reply: FastifyReply, values: PolicyFormValues, policy: PolicyJson | null, errors: FormErrors | null = null) {
    return pages.send(
      req,
      reply,
      policy ? 'staff/policy' : 'staff/policy-new',
      {
        title: policy ? `Policy ${policy.name}` : 'New policy',
        policy,
        values,
        errors,
        allProducts: await products.list(),
        licenseCount: policy ? await policies.licenseCount(policy.id) : 0,
        expiryBases: EXPIRY_BASES,
        identities: MACHINE_IDENTITIES,
      },
      errors ? 400 : 200,
    );
  }

  app.get('/staff/policies', async (req, reply) => {
    const list = await policies.list();
    const using = new Map(await Promise.all(list.map(async (p) => [p.id, await policies.licenseCount(p.id)] as const)));
    return pages.send(req, reply, 'staff/policies', { title: 'Policies', policies: list, using, products: await productNames(ctx) });
  });

  app.get('/staff/policies/new', async (req, reply) => formPage(req, reply, NEW_POLICY, null));

  app.post('/staff/policies', async (req, reply) => {
    const values = readPolicyForm(formOf(req));
    try {
      const created = await policies.create(policyInput(values), actorOf(me(req)));
      return ctx.redirect(reply, `/staff/policies/${created.id}`, 'ok', `Policy "${created.name}" created.`);
    } catch (err) {
      if (err instanceof KeywardError) return formPage(req, reply, values, null, policyErrors(err, values));
      throw err;
    }
  });

  app.get('/staff/policies/:id', async (req: WithId, reply) => {
    const policy = await find(req, reply);
    if (!policy) return reply;
    return formPage(req, reply, policyValues(policy), policy);
  });

  app.post('/staff/policies/:id', async (req: WithId, reply) => {
    const policy = await find(req, reply);
    if (!policy) return reply;
    const values = readPolicyForm(formOf(req));
    try {
      await policies.update(policy.id, policyInput(values), actorOf(me(req)));
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'policy_not_found') return pages.notFound(req, reply, 'policy');
      if (err instanceof KeywardError) return formPage(req, reply, values, policy, policyErrors(err, values));
      throw err;
    }
    return ctx.redirect(reply, `/staff/policies/${policy.id}`, 'ok', 'Policy saved. Its licenses follow it within a second.');
  });

  app.post('/staff/policies/:id/delete', async (req: WithId, reply) => {
    const policy = await find(req, reply);
    if (!policy) return reply;
    const ask = pages.askFirst(req, reply, {
      heading: `Delete policy "${policy.name}"?`,
      text: 'No new license can be issued from it afterwards. A policy that licenses still name cannot be deleted: move them to another policy first.',
      action: `/staff/policies/${policy.id}/delete`,
      button: 'Delete policy',
      cancel: `/staff/policies/${policy.id}`,
    });
    if (ask) return ask;
    try {
      await policies.delete(policy.id, actorOf(me(req)));
    } catch (err) {
      if (err instanceof KeywardError) return ctx.redirect(reply, `/staff/policies/${policy.id}`, 'error', err.message);
      throw err;
    }
    return ctx.redirect(reply, '/staff/policies', 'ok', `Policy "${policy.name}" deleted.`);
  });
}
