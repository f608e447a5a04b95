import type { Command } from 'commander';
import { PAGE_SIZE } from '../licensing/paging.js';
import { int, pageLimit } from './parse.js';
import { runCommand } from './run.js';

export function logCommands(program: Command): void {
  const log = program.command('log').description('read Previous Auths (the check log)');

  log
    .command('list')
    .description('list checks, newest first')
    .option('--license <id>', 'only this license', int)
    .option('--limit <n>', `at most this many (1-${PAGE_SIZE.max})`, pageLimit, 50)
    .option('--json', 'print JSON')
    .action((o: { license?: number; limit: number; json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          const rows = await s.logs.checks({ licenseId: o.license, limit: o.limit });
          // The documented shape; `endpoint` only on rows a client endpoint (validate, activate…) wrote.
          return rows.map(({ id: _id, endpoint, ...row }) => (endpoint === null ? row : { ...row, endpoint }));
        },
        (rows) =>
          rows.length
            ? rows
                .map((r) => `${r.time}  ${r.status.padEnd(14)} license ${r.licenseId ?? '-'}  product ${r.productId ?? '-'}  ${r.ip}  ${'endpoint' in r ? `[${r.endpoint}] ` : ''}${r.info ?? ''}`)
                .join('\n')
            : 'No checks logged yet.',
      ),
    );
}
