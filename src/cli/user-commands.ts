import type { Command } from 'commander';
import { ROLES } from '../licensing/user-service.js';
import { cliActor, runCommand, table } from './run.js';

export function userCommands(program: Command): void {
  const user = program.command('user').description('manage user accounts');

  user
    .command('create')
    .description('create a user (a password is generated and shown once if --password is omitted)')
    .requiredOption('--username <name>', 'user name')
    .option('--password <pw>', 'password (at least 8 characters)')
    .option('--email <email>', 'email address')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'customer')
    .option('--json', 'print JSON')
    .action((o: { username: string; password?: string; email?: string; role: string; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.users.create({ username: o.username, password: o.password, email: o.email, role: o.role }, cliActor()),
        (u) =>
          `Created ${u.role} "${u.username}" (id ${u.id}).` +
          (u.password ? `\nGenerated password (shown once): ${u.password}` : '') +
          `\n${table({ email: u.email })}`,
      ),
    );
}
