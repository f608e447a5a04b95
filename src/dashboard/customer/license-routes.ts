import type { FastifyInstance, FastifyReply } from 'fastify';
import { KeywardError } from '../../errors.js';
import { CUSTOMER_ALLOW_LIST } from '../../licensing/ip-allow-list.js';
import type { LicenseJson } from '../../licensing/json.js';
import type { DashboardContext } from '../context.js';
import { licenseState } from '../../licensing/license-state.js';
import { checked, formOf, text, words } from '../forms.js';
import { me, signedIn } from '../guards.js';
import { machinesSection } from '../license-machines.js';
import { productNames, regenerateKey, sendLicensePage } from '../license-page.js';
import { sendLicenseFile } from '../license-file-download.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';

/** The viewer's own license `:id` names, or the 404 page: not theirs and missing look alike. */
export const ownLicense = (ctx: DashboardContext) =>
  loadOr404(ctx.pages, 'license', 'license_not_found', async (id, req) =>
    (await ctx.services.licenses.ownerOf(id)) === me(req).id ? ctx.services.licenses.show(id) : null,
  );

/**
 * "My licenses": every signed-in user's own licenses (staff and admins included). A license that
 * is not the viewer's answers exactly like one that does not exist.
 */
export async function customerLicenseRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { licenses } = ctx.services;
  app.addHook('preHandler', signedIn(ctx));

  const own = ownLicense(ctx);

  async function detail(req: WithId, reply: FastifyReply, license: LicenseJson, extra: Record<string, unknown> = {}) {
    const user = me(req);
    // Staff and admins are not held to the customers' allowance on their own licenses.
    const allowance = user.role === 'customer' ? await licenses.ipChangesLeft(license.id, actorOf(user)) : null;
    return sendLicensePage(ctx, req, reply, 'license', license, {
      ipChangesLeft: allowance?.left ?? null,
      ipChangesPerDay: allowance?.perDay ?? null,
      customerRules: user.role === 'customer' ? CUSTOMER_ALLOW_LIST : null,
      machines: await machinesSection(ctx, license.id, { role: user.role, userId: user.id }),
      ...extra,
    });
  }

  app.get('/licenses', async (req, reply) => {
    const user = me(req);
    const { items } = await licenses.search({ ownerId: user.id, limit: 1000 });
    return pages.send(req, reply, 'licenses', { title: 'My licenses', licenses: items, products: await productNames(ctx), stateOf: licenseState });
  });

  app.get('/licenses/:id', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    return detail(req, reply, license);
  });

  app.post('/licenses/:id/reveal', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    const user = me(req);
    const key = await licenses.reveal(license.id, { userId: user.id, role: user.role }, actorOf(user));
    if ((req.headers.accept ?? '').includes('application/json')) {
      return reply.header('cache-control', 'no-store').send({ key });
    }
    return detail(req, reply, license, { revealedKey: key });
  });

  app.post('/licenses/:id/ips', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    const user = me(req);
    const back = `/licenses/${license.id}`;
    const ips = words(text(formOf(req), 'ips'));
    try {
      const updated = await licenses.update(license.id, { ips }, actorOf(user), { role: user.role, userId: user.id });
      if (JSON.stringify(updated.ips) === JSON.stringify(license.ips)) return ctx.redirect(reply, back, 'ok', 'The allowed IPs are unchanged.');
    } catch (err) {
      // Bad or too wide entries, too many, or the day's allowance spent: the service's message says which.
      if (err instanceof KeywardError && err.code !== 'license_not_found') return ctx.redirect(reply, back, 'error', err.message);
      throw err;
    }
    return ctx.redirect(reply, back, 'ok', 'Allowed IPs saved. Checks use them within a second.');
  });

  app.post('/licenses/:id/active', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    const active = checked(formOf(req), 'active');
    const user = me(req);
    await licenses.update(license.id, { active }, actorOf(user), { role: user.role, userId: user.id });
    return ctx.redirect(reply, `/licenses/${license.id}`, 'ok', active ? 'The license is active again.' : 'The license is switched off: checks answer NOT ACTIVE until you switch it on.');
  });

  // Ownership first (another customer's license is not found); the file is for one of this license's own machines.
  app.post('/licenses/:id/file', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    return sendLicenseFile(ctx, req, reply, license, `/licenses/${license.id}`);
  });

  app.post('/licenses/:id/regenerate', async (req: WithId, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    const warning = 'The current key stops working at once. Every copy of your product that uses it must be given the new key.';
    return regenerateKey(ctx, req, reply, license, `/licenses/${license.id}`, warning);
  });
}
