import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import type { LicenseJson } from '../licensing/json.js';
import { licenseState } from '../licensing/license-state.js';
import { PAGE_SIZE } from '../licensing/paging.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { MaxMachines, MaxUses } from '../licensing/schemas/policy.js';
import { licenseFileCommand } from './license-file-commands.js';
import { usageCommand } from './usage-commands.js';
import { bool, collectIds, count, countOr, dbId, idOr, int, list, orNull, pageLimit, type Unsettable } from './parse.js';
import { cliActor, runCommand, table } from './run.js';

const MM = LIMITS.policy.maxMachines;
const MU = LIMITS.policy.maxUses;
const CODES = `comma-separated, at most ${LIMITS.policy.entitlements.max}; "" for none`;

const show = (l: LicenseJson & { key?: string }): string =>
  table({
    id: l.id,
    ...(l.key ? { key: `${l.key}   (shown this once; keep it safe)` } : {}),
    products: l.productIds,
    owner: l.owner,
    active: l.active,
    disabled: l.disabled,
    'ip lock': l.ipLocked,
    ips: l.ips,
    expires: l.expiresAt ?? (l.firstUseDays === null ? 'never' : `${l.firstUseDays} days after its first use`),
    policy: l.policyId,
    'max machines': l.maxMachines ?? (l.policyId === null ? null : "the policy's"),
    entitlements: l.policyId === null ? l.entitlements : `${l.entitlements.join(', ') || '-'} (plus the policy's)`,
    uses: l.uses,
    'max uses': l.maxUses ?? (l.policyId === null ? 'not metered' : "the policy's"),
    note: l.note,
    'total checks': l.totalChecks,
    'last check': l.lastCheckAt,
    'last ip': l.lastIp,
    created: l.createdAt,
  });

export function licenseCommands(program: Command): void {
  const license = program.command('license').description('issue and manage license keys');

  license
    .command('create')
    .description('issue a license; prints its key once')
    .option('--product <id>', "product id it grants (repeat or comma-separate for a bundle); the policy's when --policy is given", collectIds)
    .option('--policy <id>', 'policy to issue it from: its products and duration unless given (--product, --expires)', dbId)
    .option('--max-machines <n>', `its own machine limit over the policy's (${MM.min}-${MM.max})`, count(MaxMachines, MM))
    .option('--entitlements <list>', `feature codes of its own, besides its policy's (${CODES})`, list)
    .option('--max-uses <n>', `its own usage limit over the policy's (${MU.min}-${MU.max}), or none (the policy's; not metered without one)`, countOr('none', MaxUses, MU))
    .option('--owner <username>', 'owning user')
    .option('--ip-lock [bool]', 'lock to --ips (or to the first caller IP when --ips is empty)', bool)
    .option('--ips <list>', 'comma-separated IPs/CIDRs allowed', list)
    .option('--expires <iso>', 'expiry time (ISO 8601, UTC)')
    .option('--note <text>', `staff note (at most ${LIMITS.license.note} characters)`)
    .option('--json', 'print JSON')
    .action(
      (o: {
        product?: number[];
        policy?: number;
        maxMachines?: number;
        entitlements?: string[];
        maxUses?: Unsettable;
        owner?: string;
        ipLock?: boolean | true;
        ips?: string[];
        expires?: string;
        note?: string;
        json?: boolean;
      }) =>
        runCommand(
          o,
          (s) => {
            if (!o.product && o.policy === undefined) throw new KeywardError('invalid_input', 'give the products it grants (--product ID) or a policy (--policy ID)');
            return s.licenses.create(
              {
                productIds: o.product,
                policyId: o.policy,
                maxMachines: o.maxMachines,
                entitlements: o.entitlements,
                maxUses: o.maxUses === undefined ? undefined : orNull(o.maxUses),
                owner: o.owner,
                ipLocked: o.ipLock,
                ips: o.ips,
                expiresAt: o.expires,
                note: o.note,
              },
              cliActor(),
            );
          },
          show,
        ),
    );

  license
    .command('list')
    .description('list licenses (never their keys)')
    .option('--product <id>', 'only licenses granting this product', dbId)
    .option('--owner <username>', 'only licenses of this user')
    .option('--limit <n>', `at most this many (1-${PAGE_SIZE.max})`, pageLimit, PAGE_SIZE.default)
    .option('--json', 'print JSON')
    .action((o: { product?: number; owner?: string; limit: number; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.licenses.list({ productId: o.product, owner: o.owner, limit: o.limit }),
        (list) =>
          list.length
            ? list
                .map((l) => `${String(l.id).padStart(6)}  products ${l.productIds.join(',')}  owner ${l.owner ?? '-'}  ${licenseState(l)}  checks ${l.totalChecks}`)
                .join('\n')
            : 'No licenses found.',
      ),
    );

  license
    .command('show <id>')
    .description('show a license (never its key)')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) => runCommand(o, (s) => s.licenses.show(int(id)), show));

  license
    .command('update <id>')
    .description('change a license')
    .option('--active <bool>', "owner's on/off switch", bool)
    .option('--disabled <bool>', "staff's disable switch", bool)
    .option('--ip-lock [bool]', 'IP lock on/off (alone: on)', bool)
    .option('--ips <list>', 'comma-separated IPs/CIDRs allowed (empty to clear)', list)
    .option('--expires <iso>', 'expiry time (ISO 8601, UTC) or "never"')
    .option('--note <text>', `staff note (at most ${LIMITS.license.note} characters; empty to clear)`)
    .option('--product <id>', 'replace the products it grants (repeatable)', collectIds)
    .option('--owner <username>', 'new owner ("" to clear)')
    .option('--policy <id>', 'follow this policy (its products and duration are not applied), or none', idOr('none'))
    .option('--max-machines <n>', `its own machine limit (${MM.min}-${MM.max}), or inherit (the policy's)`, countOr('inherit', MaxMachines, MM))
    .option('--entitlements <list>', `replace its own feature codes (${CODES})`, list)
    .option('--max-uses <n>', `its own usage limit (${MU.min}-${MU.max}), or none (the policy's; not metered without one)`, countOr('none', MaxUses, MU))
    .option('--json', 'print JSON')
    .action(
      (
        id: string,
        o: {
          active?: boolean;
          disabled?: boolean;
          ipLock?: boolean;
          ips?: string[];
          expires?: string;
          note?: string;
          product?: number[];
          owner?: string;
          policy?: Unsettable;
          maxMachines?: Unsettable;
          entitlements?: string[];
          maxUses?: Unsettable;
          json?: boolean;
        },
      ) =>
        runCommand(
          o,
          (s) =>
            s.licenses.update(
              int(id),
              {
                active: o.active,
                disabled: o.disabled,
                ipLocked: o.ipLock,
                ips: o.ips,
                expiresAt: o.expires,
                note: o.note,
                productIds: o.product,
                owner: o.owner,
                policyId: o.policy === undefined ? undefined : orNull(o.policy),
                maxMachines: o.maxMachines === undefined ? undefined : orNull(o.maxMachines),
                entitlements: o.entitlements,
                maxUses: o.maxUses === undefined ? undefined : orNull(o.maxUses),
              },
              cliActor(),
            ),
          show,
        ),
    );

  license
    .command('regenerate <id>')
    .description('replace the key (the old one stops working at once); prints the new key once')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) => runCommand(o, (s) => s.licenses.regenerate(int(id), cliActor()), show));

  usageCommand(license);
  licenseFileCommand(license);

  license
    .command('delete <id>')
    .description('delete a license')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          await s.licenses.delete(int(id), cliActor());
          return { ok: true as const };
        },
        () => `Deleted license ${id}.`,
      ),
    );
}
