import type { Command } from 'commander';
import { SCOPES, type TokenJson } from '../licensing/token-service.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { int } from './parse.js';
import { cliActor, runCommand, table } from './run.js';

const show = (t: TokenJson): string =>
  table({
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    prefix: `${t.prefix}…`,
    created: `${t.createdAt} by ${t.createdBy}`,
    'last used': t.lastUsedAt ?? 'never',
    ...(t.revokedAt ? { revoked: t.revokedAt } : {}),
  });

export function tokenCommands(program: Command): void {
  const token = program.command('token').description('manage API tokens for the management API (/api/v1)');

  token
    .command('create')
    .description('create an API token; prints it once')
    .requiredOption('--name <name>', `a name for it, at most ${LIMITS.token.name} characters (the audit log shows its changes as token:<name>)`)
    .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(',')}`)
    .option('--json', 'print JSON: {id, name, scopes, token}')
    .action((o: { name: string; scopes: string; json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          const t = await s.tokens.create({ name: o.name, scopes: o.scopes }, cliActor());
          return o.json ? { id: t.id, name: t.name, scopes: t.scopes, token: t.token } : t;
        },
        (t) =>
          `Created API token ${t.id} "${t.name}".\n` +
          `token:  ${'token' in t ? t.token : ''}   (shown this once; keep it safe)\n` +
          `scopes: ${t.scopes.join(', ')}\n` +
          'Send it as: Authorization: Bearer <token>',
      ),
    );

  token
    .command('list')
    .description('list API tokens (never the tokens themselves)')
    .option('--all', 'include revoked tokens')
    .option('--json', 'print JSON')
    .action((o: { all?: boolean; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.tokens.list({ includeRevoked: o.all }),
        (list) => (list.length ? list.map(show).join('\n\n') : 'No API tokens. Create one with: keyward token create --name NAME --scopes LIST'),
      ),
    );

  token
    .command('revoke <id>')
    .description('revoke an API token; it stops working at once')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      runCommand(o, (s) => s.tokens.revoke(int(id), cliActor()), (t) => `Revoked API token ${t.id} "${t.name}".`),
    );
}
