import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { UsageAmount } from '../licensing/schemas/usage.js';
import type { UsageChange, UsageJson } from '../licensing/usage-service.js';
import { count, int } from './parse.js';
import { cliActor, runCommand } from './run.js';

const U = LIMITS.usage.increment;

const said = (u: UsageJson): string => `License ${u.licenseId}: ${u.uses} ${u.maxUses === null ? 'uses (not metered)' : `of ${u.maxUses} uses`}.`;

/** `license usage ID`: a metered license's counter (docs/license-files.md), shown, or changed by one audited action. */
export function usageCommand(license: Command): void {
  license
    .command('usage <id>')
    .description("show a license's usage counter and the limit in force; or change it with one of --increment, --decrement, --reset (audited)")
    .option('--increment <n>', `add n uses (${U.min}-${U.max}); refused if that passes the limit`, count(UsageAmount, U))
    .option('--decrement <n>', `take n uses off (${U.min}-${U.max}); refused if that goes below 0`, count(UsageAmount, U))
    .option('--reset', 'set the counter to 0')
    .option('--json', 'print JSON')
    .action((id: string, o: { increment?: number; decrement?: number; reset?: boolean; json?: boolean }) =>
      runCommand(
        o,
        (s) => {
          const changes: UsageChange[] = [];
          if (o.increment !== undefined) changes.push({ increment: o.increment });
          if (o.decrement !== undefined) changes.push({ decrement: o.decrement });
          if (o.reset) changes.push({ reset: true });
          if (changes.length > 1) throw new KeywardError('invalid_input', 'give one of --increment N, --decrement N or --reset, not several');
          return changes[0] ? s.usage.change(int(id), changes[0], cliActor()) : s.usage.get(int(id));
        },
        said,
      ),
    );
}
