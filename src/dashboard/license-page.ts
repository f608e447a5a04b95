import type { FastifyReply } from 'fastify';
import { KeywardError } from '../errors.js';
import type { LicenseJson, PolicyJson } from '../licensing/json.js';
import { checksPage, resultFilter, withBefore } from './checks-query.js';
import type { DashboardContext } from './context.js';
import { licenseState } from '../licensing/license-state.js';
import { queryOf } from './forms.js';
import { FILE_DAYS } from './license-file-download.js';
import { me } from './guards.js';
import type { WithId } from './load-by-id.js';
import { actorOf } from './request-state.js';

/** Product names by id, for the license lists and pages. */
export async function productNames(ctx: DashboardContext): Promise<Map<number, string>> {
  return new Map((await ctx.services.products.list()).map((p) => [p.id, p.name]));
}

/** One feature code a license grants, and whether its policy grants it (else the license itself). */
export interface GrantedCode {
  code: string;
  fromPolicy: boolean;
}

/** The codes checks accept for the license, as LicenseFileService and validate read them: its policy's, then its own. */
export function grantedCodes(license: LicenseJson, policy: PolicyJson | null): GrantedCode[] {
  const fromPolicy = policy?.entitlements ?? [];
  const own = license.entitlements.filter((c) => !fromPolicy.includes(c));
  return [...fromPolicy.map((code) => ({ code, fromPolicy: true })), ...own.map((code) => ({ code, fromPolicy: false }))];
}

/**
 * A license's page, the staff's (`staff/license`) and its owner's (`license`): the license, its
 * state, its policy, what it unlocks (feature codes, usage and its limit in force), a page of its
 * Previous Auths with the result filter, and its checks-per-day chart. `extra` is what only that page shows (the staff's history and pickers, the owner's IP rules);
 * both pass their Machines section.
 */
export async function sendLicensePage(
  ctx: DashboardContext,
  req: WithId,
  reply: FastifyReply,
  view: 'license' | 'staff/license',
  license: LicenseJson,
  extra: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const q = queryOf(req);
  const result = resultFilter(q);
  const policy = license.policyId === null ? null : await ctx.services.policies.get(license.policyId).catch(gone);
  const page = await checksPage((f) => ctx.services.logs.checks({ licenseId: license.id, ...result.filter, ...f }), q);
  return ctx.pages.send(req, reply, view, {
    title: `License #${license.id}`,
    license,
    state: licenseState(license),
    policy,
    granted: grantedCodes(license, policy),
    usage: await ctx.services.usage.get(license.id),
    fileDays: FILE_DAYS,
    products: await productNames(ctx),
    checks: page.rows,
    result: result.value,
    older: page.nextBefore === null ? null : withBefore(q, page.nextBefore),
    newest: page.first ? null : `?${new URLSearchParams(result.value ? { result: result.value } : {}).toString()}`,
    days: await ctx.services.checkStats.checksPerDay({ licenseId: license.id }),
    ...extra,
  }, status);
}

/** A policy deleted between reading the license and reading the policy: the page shows none. */
function gone(err: unknown): null {
  if (err instanceof KeywardError && err.code === 'policy_not_found') return null;
  throw err;
}

/**
 * A new key for the license, from its page at `page` (the staff's or the owner's): asks first,
 * saying `warning`, then shows the new key once.
 */
export async function regenerateKey(
  ctx: DashboardContext,
  req: WithId,
  reply: FastifyReply,
  license: LicenseJson,
  page: string,
  warning: string,
): Promise<FastifyReply> {
  const ask = ctx.pages.askFirst(req, reply, {
    heading: `Regenerate the key of license #${license.id}?`,
    text: warning,
    action: `${page}/regenerate`,
    button: 'Regenerate key',
    cancel: page,
  });
  if (ask) return ask;
  const regenerated = await ctx.services.licenses.regenerate(license.id, actorOf(me(req)));
  return ctx.pages.send(req, reply, 'key-shown', { title: 'New key', heading: `New key for license #${license.id}`, key: regenerated.key, back: page });
}
