import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DashboardContext } from '../context.js';
import { machineName } from '../format.js';
import { me } from '../guards.js';
import { machineOn } from '../license-machines.js';
import { loadOr404 } from '../load-by-id.js';
import { actorOf } from '../request-state.js';

type WithMachine = FastifyRequest<{ Params: { id: string; machineId: string } }>;

/** /staff/licenses/:id/machines: staff free any machine of any license, with no daily limit. */
export async function staffMachineRoutes(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { pages } = ctx;
  const { licenses, machines } = ctx.services;

  const find = loadOr404(pages, 'license', 'license_not_found', (id) => licenses.show(id));

  app.post('/staff/licenses/:id/machines/:machineId/deactivate', async (req: WithMachine, reply) => {
    const license = await find(req, reply);
    if (!license) return reply;
    const machine = await machineOn(ctx, license.id, req.params.machineId);
    if (!machine) return pages.notFound(req, reply, 'machine');
    const back = `/staff/licenses/${license.id}`;
    const name = machineName(machine);
    const ask = pages.askFirst(req, reply, {
      heading: `Deactivate "${name}" on license #${license.id}?`,
      text: 'It loses its slot at once; its next check or activation needs a free slot again. Staff deactivations use none of the key holder’s or the owner’s daily allowance.',
      action: `${back}/machines/${machine.id}/deactivate`,
      button: 'Deactivate machine',
      cancel: back,
    });
    if (ask) return ask;
    const result = await machines.deactivate(license.id, { id: machine.id }, { by: 'staff', actor: actorOf(me(req)) });
    // Null: the license no longer has a machine limit (no policy limit, no own one).
    if (!result) return ctx.redirect(reply, back, 'error', `License #${license.id} tracks no machines now; give it a machine limit to manage its machines.`);
    if (!result.machine) return ctx.redirect(reply, back, 'ok', `"${name}" was already freed.`);
    return ctx.redirect(reply, back, 'ok', result.status === 'DEACTIVATED' ? `"${name}" deactivated: its slot is free.` : `"${name}" had stopped sending heartbeats; it is freed.`);
  });
}
