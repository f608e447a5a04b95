import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DashboardContext } from '../context.js';
import { machineName, when } from '../format.js';
import { me, signedIn } from '../guards.js';
import { machineOn } from '../license-machines.js';
import { actorOf } from '../request-state.js';
import { ownLicense } from './license-routes.js';

type WithMachine = FastifyRequest<{ Params: { id: string; machineId: string } }>;

/**
 * "Free this machine" on the owner's license page: the owner frees a slot (a server replaced, a PC
 * reinstalled) within the policy's daily allowance, so one key cannot be passed round by freeing
 * and re-activating. Another customer's license or machine answers like a missing one (404).
 */
export async function customerMachineRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { machines } = ctx.services;
  app.addHook('preHandler', signedIn(ctx));
  const own = ownLicense(ctx);

  app.post('/licenses/:id/machines/:machineId/free', async (req: WithMachine, reply) => {
    const license = await own(req, reply);
    if (!license) return reply;
    const machine = await machineOn(ctx, license.id, req.params.machineId);
    if (!machine) return pages.notFound(req, reply, 'machine');
    const user = me(req);
    const back = `/licenses/${license.id}`;
    const name = machineName(machine);
    // Staff and admins are not held to the owners' allowance on their own licenses (as with IP changes);
    // a dead machine holds no slot (unless its license file does), so freeing it uses no allowance.
    const limited = user.role === 'customer';
    if (limited && machine.holdsSlot && (await machines.deactivationsLeft(license.id, 'owner')) === 0) return ctx.redirect(reply, back, 'error', LIMIT_REACHED);
    // A machine's license file keeps its slot taken until it ends (docs/license-files.md): freeing it then frees no slot yet.
    const slot = machine.fileHolds
      ? `Its license file keeps its slot taken until ${when(machine.fileExpiresAt)}: no other machine can use the slot before then.`
      : 'It loses its slot at once.';
    const ask = pages.askFirst(req, reply, {
      heading: `Free "${name}"?`,
      text: `${slot}${limited && machine.holdsSlot ? ' This uses one of today’s frees.' : ''} The machine can take a free slot again later.`,
      action: `${back}/machines/${machine.id}/free`,
      button: 'Free this machine',
      cancel: back,
    });
    if (ask) return ask;
    const actor = actorOf(user);
    const result = await machines.deactivate(license.id, { id: machine.id }, limited ? { by: 'owner', actor, userId: user.id } : { by: 'staff', actor });
    if (!result) return ctx.redirect(reply, back, 'error', 'This license does not track machines.');
    if (result.status === 'DEACTIVATION LIMIT') return ctx.redirect(reply, back, 'error', LIMIT_REACHED);
    if (!result.machine) return ctx.redirect(reply, back, 'ok', `"${name}" was already freed.`);
    if (result.status === 'NOT ACTIVATED') return ctx.redirect(reply, back, 'ok', `"${name}" had stopped checking in and held no slot; it is removed (no free used).`);
    if (machine.fileHolds) return ctx.redirect(reply, back, 'ok', `"${name}" is freed; its license file keeps its slot until ${when(machine.fileExpiresAt)}.`);
    return ctx.redirect(reply, back, 'ok', `"${name}" is freed: its slot is available.`);
  });
}

/** The refusal once the day's frees are used; the status word is the one the client API answers. */
const LIMIT_REACHED =
  'DEACTIVATION LIMIT: you have freed as many machines as this license allows in 24 hours. Nothing was changed; try again once a day has passed since the earliest one, or ask the seller.';
