import { KeywardError } from '../errors.js';
import type { MachineJson } from '../licensing/json.js';
import type { MachineViewer } from '../licensing/machine-service.js';
import type { DashboardContext } from './context.js';
import { positiveInt } from './forms.js';

/** A machine as the section shows it. */
export interface ShownMachine extends MachineJson {
  /** An unexpired license file keeps its slot taken until `fileExpiresAt`, whatever its heartbeat or a free says (docs/license-files.md). */
  fileHolds: boolean;
  /** It takes one of the license's slots: alive, or held by its file. Freeing it uses one of the day's frees. */
  holdsSlot: boolean;
}

function shown(m: MachineJson, now: number): ShownMachine {
  const fileHolds = m.fileExpiresAt !== null && Date.parse(m.fileExpiresAt) > now;
  return { ...m, fileHolds, holdsSlot: m.alive || fileHolds };
}

/** What a license page's Machines section shows. */
export interface MachinesSection {
  machines: ShownMachine[];
  /** The machine limit in force (license's own over its policy's); null: the license tracks no machines. */
  maxMachines: number | null;
  /** Machines holding a slot now: alive ones, and any an unexpired license file holds (dead ones wait for the sweep and hold none). */
  inUse: number;
  /** The machines a license file may be issued for: active ones holding a slot (a freed one gets none). */
  fileMachines: ShownMachine[];
  /** Frees the owner may still make today and their daily number; null when not limited (staff). */
  freesLeft: number | null;
  freesPerDay: number | null;
}

/** A license's machines as `viewer` may see them: staff any license's, a customer only their own's. */
export async function machinesSection(ctx: DashboardContext, licenseId: number, viewer: MachineViewer, now = Date.now()): Promise<MachinesSection> {
  const { machines: list, rules, deactivationsLeft } = await ctx.services.machines.list(licenseId, viewer);
  const machines = list.map((m) => shown(m, now));
  const holding = machines.filter((m) => m.holdsSlot);
  return {
    machines,
    maxMachines: rules?.maxMachines ?? null,
    inUse: holding.length,
    fileMachines: rules ? holding.filter((m) => m.deactivatedAt === null) : [],
    freesLeft: deactivationsLeft ?? null,
    freesPerDay: deactivationsLeft === undefined ? null : (rules?.deactivationsPerDay ?? null),
  };
}

/**
 * The machine `idText` names, when it is on license `licenseId`; null for anything else (no id,
 * no such machine, another license's machine), which the routes answer alike with 404.
 */
export async function machineOn(ctx: DashboardContext, licenseId: number, idText: string): Promise<ShownMachine | null> {
  const id = positiveInt(idText);
  if (id === undefined) return null;
  try {
    const machine = await ctx.services.machines.get(id);
    return machine.licenseId === licenseId ? shown(machine, Date.now()) : null;
  } catch (err) {
    if (err instanceof KeywardError && err.code === 'machine_not_found') return null;
    throw err;
  }
}
