import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import type { ImportProblem, ImportSummary } from '../import/faxstore-import.js';
import { dbId } from './parse.js';
import { createProgress } from './progress.js';
import { cliActor, runCommand, table } from './run.js';

/** Lines of each problem list printed for people; `--json` has them all. */
const SHOW_PROBLEMS = 50;

interface FaxStoreOptions {
  from?: string;
  fromCsv?: string;
  defaultProduct?: number;
  dryRun?: boolean;
  quiet?: boolean;
  json?: boolean;
}

export function importCommands(program: Command): void {
  const group = program.command('import').description('move licenses in from another license system');

  group
    .command('faxstore')
    .description('import a FaxStore License System: every key keeps working (see docs/import.md)')
    .option('--from <url>', 'the FaxStore MySQL/MariaDB database, e.g. mysql://user:password@host:3306/faxstore')
    .option('--from-csv <file>', 'a CSV export of the licensesystem table (header: id,userId,productName,productId,…)')
    .option('--default-product <id>', 'the product that licenses with productId 0 grant (otherwise they are skipped)', dbId)
    .option('--dry-run', 'check and report everything, write nothing')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the summary as JSON')
    .action((o: FaxStoreOptions) =>
      runCommand(
        o,
        async (services) => {
          if (!o.from === !o.fromCsv) throw new KeywardError('invalid_input', 'give exactly one of --from mysql://… or --from-csv FILE');
          const [{ openMysqlSource }, { openCsvSource }] = await Promise.all([import('../import/mysql-source.js'), import('../import/csv-source.js')]);
          const source = o.from ? await openMysqlSource(o.from) : await openCsvSource(o.fromCsv!);
          const progress = await createProgress('rows', { quiet: o.quiet });
          try {
            return await services.faxstoreImport.run(source, {
              dryRun: o.dryRun,
              defaultProduct: o.defaultProduct,
              actor: cliActor(),
              onProgress: (phase, done, total) => progress.update(phase === 'read' ? 'reading' : 'importing', done, total),
            });
          } finally {
            progress.stop();
            await source.close().catch(() => {});
          }
        },
        humanSummary,
      ),
    );
}


function humanSummary(s: ImportSummary): string {
  const would = s.dryRun ? ' (would be)' : '';
  const lines = [
    `FaxStore import from ${s.source}${s.dryRun ? ' — dry run: nothing was written' : ''}`,
    '',
    table({
      'rows read': s.rows,
      [`licenses imported${would}`]: s.licenses.imported,
      'already in Keyward': s.licenses.alreadyPresent,
      'rows skipped': s.licenses.skipped,
      [`products created${would}`]: s.products.created.length ? s.products.created.join(', ') : 'none',
      'products already there': s.products.existing.length ? s.products.existing.join(', ') : 'none',
      [`users created${would}`]: s.users.created,
      'users linked': s.users.linked,
      warnings: s.warnings.length,
      time: `${(s.durationMs / 1000).toFixed(1)} s`,
    }),
  ];
  const list = (title: string, problems: ImportProblem[]) => {
    if (!problems.length) return;
    lines.push('', `${title}:`);
    for (const p of problems.slice(0, SHOW_PROBLEMS)) lines.push(`  ${ref(p).padEnd(12)} ${p.reason}`);
    if (problems.length > SHOW_PROBLEMS) lines.push(`  … and ${problems.length - SHOW_PROBLEMS} more (--json lists them all)`);
  };
  list('Skipped rows', s.skipped);
  list('Warnings', s.warnings);
  if (!s.dryRun && s.licenses.imported > 0) lines.push('', 'The imported keys work now, also on a running server.');
  return lines.join('\n');
}

const ref = (p: ImportProblem): string => (p.id !== null ? `#${p.id}` : p.line !== undefined ? `line ${p.line}` : '-');
