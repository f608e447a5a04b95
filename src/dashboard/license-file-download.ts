import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LicenseJson } from '../licensing/json.js';
import { licenseState } from '../licensing/license-state.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import type { DashboardContext } from './context.js';
import { machineName, STATE_LABELS } from './format.js';
import { formOf, integer, text, trimmed } from './forms.js';
import { me } from './guards.js';
import { machineOn } from './license-machines.js';
import { actorOf, isStaff } from './request-state.js';

const DAY_SECONDS = 86_400;
const TTL = LIMITS.licenseFile.ttlSeconds;

/** How long a file from the dashboard lasts, in whole days within the file limits (docs/license-files.md). */
export const FILE_DAYS = { min: Math.ceil(TTL.min / DAY_SECONDS), max: Math.floor(TTL.max / DAY_SECONDS), default: TTL.default / DAY_SECONDS } as const;

const NOT_ALLOWED =
  'This license gets no license files: its machines are identified by IP address, or its key is shorter than 20 characters. Nothing was issued.';

/**
 * Downloads `license-ID.lic` from a license's page, the staff's or its owner's (the caller has
 * checked who may see the license): bound to the machine `machineId` names when the license counts
 * machines (one holding a slot: it then keeps that slot until the file ends), unbound otherwise.
 * LicenseFileService signs it and audits the issue under the viewer's name. An owner gets a file
 * only while the license is active, as a key holder must pass the check for one; staff any time.
 */
export async function sendLicenseFile(ctx: DashboardContext, req: FastifyRequest, reply: FastifyReply, license: LicenseJson, back: string): Promise<FastifyReply> {
  const form = formOf(req);
  const user = me(req);
  const state = licenseState(license);
  if (!isStaff(user) && state !== 'active') {
    return ctx.redirect(reply, back, 'error', `This license is ${STATE_LABELS[state].toLowerCase()}: it gets no license file until it is active again.`);
  }
  const days = integer(text(form, 'days') || String(FILE_DAYS.default));
  if (!(days >= FILE_DAYS.min && days <= FILE_DAYS.max)) {
    return ctx.redirect(reply, back, 'error', `A license file lasts ${FILE_DAYS.min} to ${FILE_DAYS.max} days. Nothing was issued.`);
  }
  const machineId = trimmed(form, 'machineId');
  const machine = machineId === '' ? null : await machineOn(ctx, license.id, machineId);
  if (machineId !== '' && !machine) return ctx.pages.notFound(req, reply, 'machine');
  const outcome = await ctx.services.licenseFiles.issue(license.id, { machineId: machine?.id ?? null, ttlSeconds: days * DAY_SECONDS }, actorOf(user));
  if (!outcome) return ctx.pages.notFound(req, reply, 'license');
  if (outcome.status !== 'ISSUED') {
    if (outcome.status === 'FILE NOT ALLOWED') return ctx.redirect(reply, back, 'error', NOT_ALLOWED);
    const which = machine
      ? `"${machineName(machine)}" is not active on this license now (freed, or it stopped checking in)`
      : 'This license counts machines: choose the machine the file is for';
    return ctx.redirect(reply, back, 'error', `${which}. A file is for one of its active machines. Nothing was issued.`);
  }
  // The file is a credential: a download, kept by no cache.
  return reply
    .code(200)
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', `attachment; filename="license-${license.id}.lic"`)
    .header('cache-control', 'no-store')
    .send(outcome.file);
}
