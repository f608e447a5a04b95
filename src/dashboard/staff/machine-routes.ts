import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KeywardError } from '../../errors.js';
import type { DashboardContext } from '../context.js';
import { machineName, when } from '../format.js';
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
      text:
        'It loses its slot at once; its next check or activation needs a free slot again. Staff deactivations use none of the key holder’s or the owner’s daily allowance.' +
        (machine.fileHolds ? ` Its license file still works offline until ${when(machine.fileExpiresAt)}: a file cannot be revoked.` : ''),
      action: `${back}/machines/${machine.id}/deactivate`,
      button: 'Deactivate machine',
      cancel: back,
    });
    if (ask) return ask;
    // By id, as the API and the CLI free it: also a machine its license no longer tracks, or one freed earlier that its file still held.
    try {
      await machines.deactivateById(machine.id, actorOf(me(req)), license.id);
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'machine_not_found') return ctx.redirect(reply, back, 'ok', `"${name}" was already freed.`);
      throw err;
    }
    if (machine.deactivatedAt) return ctx.redirect(reply, back, 'ok', `"${name}" was freed earlier; the slot its license file held is free now.`);
    return ctx.redirect(reply, back, 'ok', machine.holdsSlot ? `"${name}" deactivated: its slot is free.` : `"${name}" had stopped sending heartbeats; it is freed.`);
  });
}
