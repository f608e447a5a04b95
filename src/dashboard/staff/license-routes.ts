import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { LicenseJson } from '../../licensing/json.js';
import type { LicenseSearch } from '../../licensing/license-service.js';
import { LICENSE_STATES, licenseState } from '../../licensing/license-state.js';
import { quote } from '../../licensing/values.js';
import type { DashboardContext } from '../context.js';
import { all, checked, formOf, optional, positiveInt, queryOf, text, trimmed, words, type Form, type FormErrors } from '../forms.js';
import { me } from '../guards.js';
import { machinesSection } from '../license-machines.js';
import { productNames, regenerateKey, sendLicensePage } from '../license-page.js';
import { sendLicenseFile } from '../license-file-download.js';
import { loadOr404, type WithId } from '../load-by-id.js';
import { actorOf } from '../request-state.js';
import { licenseErrors, licenseInput, licenseValues, newLicenseValues, readLicenseForm, type LicenseFormValues } from './license-form.js';

/** Audit entries shown on a license's page; the audit log has the rest. */
const HISTORY_ROWS = 10;

/** /staff/licenses: search, create, edit, disable, IP lock, reveal, regenerate, license file, delete, bulk disable. */
export async function staffLicenseRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { licenses, logs, policies, products } = ctx.services;

  const find = loadOr404(pages, 'license', 'license_not_found', (id) => licenses.show(id));
  const fail = (reply: FastifyReply, to: string, err: unknown) => {
    if (err instanceof KeywardError) return ctx.redirect(reply, to, 'error', err.message);
    throw err;
  };

  app.get('/staff/licenses', async (req, reply) => {
    const q = queryOf(req);
    const status = optional(q, 'status');
    const filter: LicenseSearch = {
      owner: optional(q, 'owner'),
      ip: optional(q, 'ip'),
      productId: positiveInt(optional(q, 'product')),
      status: LICENSE_STATES.find((s) => s === status),
      cursor: optional(q, 'cursor'),
      limit: 50,
    };
    let result: { items: LicenseJson[]; nextCursor: string | null } = { items: [], nextCursor: null };
    let error: string | undefined;
    try {
      result = await licenses.search(filter);
    } catch (err) {
      if (!(err instanceof KeywardError)) throw err;
      error = err.message;
    }
    const next = result.nextCursor ? `?${new URLSearchParams({ ...plain(q), cursor: result.nextCursor }).toString()}` : null;
    return pages.send(req, reply, 'staff/licenses', {
      title: 'Licenses',
      licenses: result.items,
      products: await productNames(ctx),
      filter: { owner: filter.owner ?? '', ip: filter.ip ?? '', product: filter.productId ?? '', status: filter.status ?? '' },
      statuses: LICENSE_STATES,
      next,
      error,
      stateOf: licenseState,
    });
  });

  // Keys travel in a POST body, never in a URL (history, proxy logs).
  app.post('/staff/licenses/find', async (req, reply) => {
    const key = trimmed(formOf(req), 'key');
    if (!key) return ctx.redirect(reply, '/staff/licenses', 'error', 'Paste a key to look for.');
    const { items } = await licenses.search({ key, limit: 1 });
    if (!items[0]) return ctx.redirect(reply, '/staff/licenses', 'error', 'No license has this key.');
    return reply.redirect(`/staff/licenses/${items[0].id}`, 303);
  });

  app.post('/staff/licenses/bulk', async (req, reply) => {
    const form = formOf(req);
    const values = all(form, 'ids').flatMap(words);
    if (values.length === 0) return ctx.redirect(reply, '/staff/licenses', 'error', 'Select at least one license.');
    const bad = values.filter((v) => positiveInt(v) === undefined);
    if (bad.length) {
      const named = bad.slice(0, 5).map(quote).join(', ');
      return ctx.redirect(reply, '/staff/licenses', 'error', `${named} ${bad.length === 1 ? 'is not a license id' : 'are not license ids'}; nothing was changed.`);
    }
    const disable = text(form, 'action') !== 'enable';
    try {
      // All or nothing: the service changes every license named, or none (and says which id is unknown).
      const changed = await licenses.setDisabled(values.map((v) => positiveInt(v)!), disable, actorOf(me(req)));
      return ctx.redirect(reply, '/staff/licenses', 'ok', `${changed.length} license(s) ${disable ? 'disabled' : 'enabled'}.`);
    } catch (err) {
      return fail(reply, '/staff/licenses', err);
    }
  });

  /** The new-license form; a refused one comes back with what was typed and the errors (HTTP 400). */
  async function newPage(req: FastifyRequest, reply: FastifyReply, values: LicenseFormValues, errors: FormErrors | null = null) {
    const data = { title: 'New license', allProducts: await products.list(), allPolicies: await policies.list(), values, errors };
    return pages.send(req, reply, 'staff/license-new', data, errors ? 400 : 200);
  }

  /** A license's page; a refused edit comes back with what was typed and the errors (HTTP 400). */
  async function licensePage(req: WithId, reply: FastifyReply, license: LicenseJson, values: LicenseFormValues, errors: FormErrors | null = null) {
    const extra = {
      allProducts: await products.list(),
      allPolicies: await policies.list(),
      values,
      errors,
      machines: await machinesSection(ctx, license.id, { role: 'staff' }),
      history: await logs.audit({ targetType: 'license', targetId: String(license.id), limit: HISTORY_ROWS }),
      historyRows: HISTORY_ROWS,
    };
    return sendLicensePage(ctx, req, reply, 'staff/license', license, extra, errors ? 400 : 200);
  }

  app.get('/staff/licenses/new', async (req, reply) => {
    const q = queryOf(req);
    return newPage(req, reply, newLicenseValues(text(q, 'owner'), positiveInt(optional(q, 'policy')) ?? null));
  });

  app.post('/staff/licenses', async (req, reply) => {
    const values = readLicenseForm(formOf(req), newLicenseValues('', null));
    try {
      const { productIds, ...input } = licenseInput(values);
      const created = await licenses.create(
        {
          ...input,
          // With a policy, no ticked product and no expiry mean the policy's products and duration.
          productIds: input.policyId !== null && productIds.length === 0 ? undefined : productIds,
          expiresAt: values.expiresAt || undefined,
        },
        actorOf(me(req)),
      );
      return pages.send(req, reply, 'key-shown', {
        title: 'License created',
        heading: `License #${created.id} created`,
        key: created.key,
        back: `/staff/licenses/${created.id}`,
      });
    } catch (err) {
      if (err instanceof KeywardError) return newPage(req, reply, values, licenseErrors(err, values));
      throw err;
    }
  });

  app.get('/staff/licenses/:id', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    return licensePage(req, reply, license, licenseValues(license));
  });

  app.post('/staff/licenses/:id', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const values = readLicenseForm(formOf(req), licenseValues(license));
    const expiresAt = values.expiresAt || null;
    try {
      await licenses.update(
        license.id,
        {
          ...licenseInput(values),
          active: values.active,
          // Sent only when changed: setting an expiry ends a first-use clock still waiting (first-use policies).
          ...(expiresAt === license.expiresAt ? {} : { expiresAt }),
        },
        actorOf(me(req)),
      );
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'license_not_found') return pages.notFound(req, reply, 'license');
      if (err instanceof KeywardError) return licensePage(req, reply, license, values, licenseErrors(err, values));
      throw err;
    }
    return ctx.redirect(reply, `/staff/licenses/${license.id}`, 'ok', 'License saved.');
  });

  app.post('/staff/licenses/:id/disable', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const disabled = checked(formOf(req), 'disabled');
    await licenses.setDisabled([license.id], disabled, actorOf(me(req)));
    return ctx.redirect(reply, `/staff/licenses/${license.id}`, 'ok', disabled ? 'License disabled: checks answer KEY DISABLED.' : 'License enabled.');
  });

  app.post('/staff/licenses/:id/lock', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const ipLocked = checked(formOf(req), 'ipLocked');
    await licenses.update(license.id, { ipLocked }, actorOf(me(req)));
    return ctx.redirect(reply, `/staff/licenses/${license.id}`, 'ok', ipLocked ? 'IP lock on.' : 'IP lock off: any IP may use the key.');
  });

  // Seeing someone's key is an explicit action, recorded in the license's history (the service audits it).
  app.post('/staff/licenses/:id/reveal', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const back = `/staff/licenses/${license.id}`;
    const ask = pages.askFirst(req, reply, {
      heading: `Reveal the key of license #${license.id}?`,
      text: 'Seeing the key is recorded in the license’s history, under your name. To give the owner a key nobody else has seen, regenerate it instead.',
      action: `/staff/licenses/${license.id}/reveal`,
      button: 'Reveal key',
      cancel: back,
    });
    if (ask) return ask;
    const user = me(req);
    const key = await licenses.reveal(license.id, { userId: user.id, role: user.role }, actorOf(user));
    return pages.send(req, reply, 'key-shown', {
      title: 'Key',
      heading: `Key of license #${license.id}`,
      note: 'This is the key. Seeing it is recorded in the license’s history.',
      key,
      back,
    });
  });

  app.post('/staff/licenses/:id/regenerate', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const warning = 'The current key stops working at once; the owner must be given the new key (they can also reveal it on their dashboard).';
    return regenerateKey(ctx, req, reply, license, `/staff/licenses/${license.id}`, warning);
  });

  app.post('/staff/licenses/:id/file', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    return sendLicenseFile(ctx, req, reply, license, `/staff/licenses/${license.id}`);
  });

  app.post('/staff/licenses/:id/delete', async (req: WithId, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const ask = pages.askFirst(req, reply, {
      heading: `Delete license #${license.id}?`,
      text: 'Its key stops working at once and the license cannot be restored. Its Previous Auths entries are kept.',
      action: `/staff/licenses/${license.id}/delete`,
      button: 'Delete license',
      cancel: `/staff/licenses/${license.id}`,
    });
    if (ask) return ask;
    await licenses.delete(license.id, actorOf(me(req)));
    return ctx.redirect(reply, '/staff/licenses', 'ok', `License #${license.id} deleted.`);
  });
}

/** The query as plain single strings (for building the next page's link). */
function plain(q: Form): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    const one = Array.isArray(v) ? v[0] : v;
    if (k !== 'cursor' && one) out[k] = one;
  }
  return out;
}
