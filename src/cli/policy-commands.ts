import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import type { PolicyJson } from '../licensing/json.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import {
  DeactivationsPerDay,
  DurationDays,
  EXPIRY_BASES,
  HeartbeatSeconds,
  MACHINE_IDENTITIES,
  MaxMachines,
  MaxUses,
  type PolicyUpdate,
} from '../licensing/schemas/policy.js';
import { bool, collectIds, count, countOr, int, list, oneOf, orNull, type Unsettable } from './parse.js';
import { cliActor, runCommand, table } from './run.js';

const P = LIMITS.policy;

const show = (p: PolicyJson): string =>
  table({
    id: p.id,
    name: p.name,
    products: p.productIds,
    duration: p.durationDays === null ? 'perpetual' : `${p.durationDays} days from ${p.expiryBasis === 'first-use' ? 'the first use' : 'issue'}`,
    machines:
      p.maxMachines === null
        ? 'not tracked'
        : `at most ${p.maxMachines}, identified by ${p.machineIdentity}, ${p.autoActivate ? 'activated by their first check' : 'activated explicitly'}`,
    heartbeat: p.heartbeatSeconds === null ? 'none (machines live until freed)' : `${p.heartbeatSeconds} s`,
    'deactivations/day': p.deactivationsPerDay,
    entitlements: p.entitlements,
    'max uses': p.maxUses ?? 'not metered',
    created: p.createdAt,
    updated: p.updatedAt,
  });

/** The options `policy create` and `policy update` share, as commander hands them over. */
interface SettingOptions {
  product?: number[];
  durationDays?: Unsettable;
  expiryBasis?: PolicyJson['expiryBasis'];
  maxMachines?: Unsettable;
  machineIdentity?: PolicyJson['machineIdentity'];
  autoActivate?: boolean;
  heartbeatSeconds?: Unsettable;
  deactivationsPerDay?: number;
  entitlements?: string[];
  maxUses?: Unsettable;
  json?: boolean;
}

/** Adds the policy's settings as options; the limits are the API's (schemas/policy.ts). */
function settingOptions(cmd: Command, productHelp: string): Command {
  return cmd
    .option('--product <id>', productHelp, collectIds)
    .option('--duration-days <n>', `days a license issued from it lasts (${P.durationDays.min}-${P.durationDays.max}), or never`, countOr('never', DurationDays, P.durationDays))
    .option('--expiry-basis <basis>', `when the duration starts: ${EXPIRY_BASES.join(' or ')} (default issued)`, oneOf(EXPIRY_BASES))
    .option('--max-machines <n>', `machines a license may hold at once (${P.maxMachines.min}-${P.maxMachines.max}), or none (not tracked)`, countOr('none', MaxMachines, P.maxMachines))
    .option('--machine-identity <kind>', `what a machine is: ${MACHINE_IDENTITIES.join(' or ')} (default fingerprint)`, oneOf(MACHINE_IDENTITIES))
    .option('--auto-activate <bool>', 'a check from an unknown machine takes a free slot itself (default true)', bool)
    .option('--heartbeat-seconds <n>', `a machine not seen for this long is dead (${P.heartbeatSeconds.min}-${P.heartbeatSeconds.max}), or none`, countOr('none', HeartbeatSeconds, P.heartbeatSeconds))
    .option(
      '--deactivations-per-day <n>',
      `machines a key holder, and an owner, may free per 24 h (${P.deactivationsPerDay.min}-${P.deactivationsPerDay.max}; default 3)`,
      count(DeactivationsPerDay, P.deactivationsPerDay),
    )
    .option('--entitlements <list>', `comma-separated feature codes (at most ${P.entitlements.max}; "" for none)`, list)
    .option('--max-uses <n>', `usage limit (${P.maxUses.min}-${P.maxUses.max}), or none`, countOr('none', MaxUses, P.maxUses))
    .option('--json', 'print JSON');
}

/** The settings given, in the service's terms; options not given stay out. */
function settingsOf(o: SettingOptions): Omit<PolicyUpdate, 'name'> {
  const out: Omit<PolicyUpdate, 'name'> = {};
  if (o.product !== undefined) out.productIds = o.product;
  if (o.durationDays !== undefined) out.durationDays = orNull(o.durationDays);
  if (o.expiryBasis !== undefined) out.expiryBasis = o.expiryBasis;
  if (o.maxMachines !== undefined) out.maxMachines = orNull(o.maxMachines);
  if (o.machineIdentity !== undefined) out.machineIdentity = o.machineIdentity;
  if (o.autoActivate !== undefined) out.autoActivate = o.autoActivate;
  if (o.heartbeatSeconds !== undefined) out.heartbeatSeconds = orNull(o.heartbeatSeconds);
  if (o.deactivationsPerDay !== undefined) out.deactivationsPerDay = o.deactivationsPerDay;
  if (o.entitlements !== undefined) out.entitlements = o.entitlements;
  if (o.maxUses !== undefined) out.maxUses = orNull(o.maxUses);
  return out;
}

export function policyCommands(program: Command): void {
  const policy = program.command('policy').description('manage policies: templates licenses are issued from (products, duration, machine limits)');

  settingOptions(
    policy
      .command('create')
      .description('create a policy')
      .requiredOption('--name <name>', `policy name (at most ${P.name} characters)`),
    'product id a license issued from it grants (required; repeat or comma-separate for a bundle)',
  ).action((o: SettingOptions & { name: string }) =>
    runCommand(
      o,
      (s) => {
        if (!o.product) throw new KeywardError('invalid_input', 'give the products it issues: --product ID (repeatable)');
        return s.policies.create({ name: o.name, productIds: o.product, ...settingsOf(o) }, cliActor());
      },
      (p) => `Created policy ${p.id}.\n${show(p)}`,
    ),
  );

  policy
    .command('list')
    .description('list policies')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      runCommand(
        o,
        (s) => s.policies.list(),
        (rows) => (rows.length ? rows.map(show).join('\n\n') : 'No policies yet. Create one with: keyward policy create --name NAME --product ID'),
      ),
    );

  policy
    .command('show <id>')
    .description('show a policy')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) => runCommand(o, (s) => s.policies.get(int(id)), show));

  settingOptions(
    policy
      .command('update <id>')
      .description('change a policy; only the options given change (its licenses keep their products and expiry; every other setting applies to them at once)')
      .option('--name <name>', `new name (at most ${P.name} characters)`),
    'replace the products licenses issued from it get (repeatable)',
  ).action((id: string, o: SettingOptions & { name?: string }) =>
    runCommand(
      o,
      (s) => {
        const change = { ...(o.name !== undefined ? { name: o.name } : {}), ...settingsOf(o) };
        if (Object.keys(change).length === 0) throw new KeywardError('invalid_input', 'nothing to change: give at least one option (see keyward policy update --help)');
        return s.policies.update(int(id), change, cliActor());
      },
      (p) => `Updated policy ${p.id}.\n${show(p)}`,
    ),
  );

  policy
    .command('delete <id>')
    .description('delete a policy (refused while a license follows it)')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          await s.policies.delete(int(id), cliActor());
          return { ok: true as const };
        },
        () => `Deleted policy ${id}.`,
      ),
    );
}
