import { KeywardError } from '../errors.js';
import type { MachineJson } from '../licensing/json.js';
import type { MachineViewer } from '../licensing/machine-service.js';
import type { DashboardContext } from './context.js';
import { positiveInt } from './forms.js';

/** What a license page's Machines section shows. */
export interface MachinesSection {
  machines: MachineJson[];
  /** The machine limit in force (license's own over its policy's); null: the license tracks no machines. */
  maxMachines: number | null;
  /** Machines holding a slot now (dead ones wait for the sweep and hold none). */
  alive: number;
  /** Frees the owner may still make today and their daily number; null when not limited (staff). */
  freesLeft: number | null;
  freesPerDay: number | null;
}

/** A license's machines as `viewer` may see them: staff any license's, a customer only their own's. */
export async function machinesSection(ctx: DashboardContext, licenseId: number, viewer: MachineViewer): Promise<MachinesSection> {
  const { machines, rules, deactivationsLeft } = await ctx.services.machines.list(licenseId, viewer);
  return {
    machines,
    maxMachines: rules?.maxMachines ?? null,
    alive: machines.filter((m) => m.alive).length,
    freesLeft: deactivationsLeft ?? null,
    freesPerDay: deactivationsLeft === undefined ? null : (rules?.deactivationsPerDay ?? null),
  };
}

/**
 * The machine `idText` names, when it is on license `licenseId`; null for anything else (no id,
 * no such machine, another license's machine), which the routes answer alike with 404.
 */
export async function machineOn(ctx: DashboardContext, licenseId: number, idText: string): Promise<MachineJson | null> {
  const id = positiveInt(idText);
  if (id === undefined) return null;
  try {
    const machine = await ctx.services.machines.get(id);
    return machine.licenseId === licenseId ? machine : null;
  } catch (err) {
    if (err instanceof KeywardError && err.code === 'machine_not_found') return null;
    throw err;
  }
}
