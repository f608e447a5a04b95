import type { Command } from 'commander';
import { KeywardError } from '../errors.js';
import { quote } from '../licensing/values.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { ROLES, type Role, type UserService } from '../licensing/user-service.js';
import { bool, role } from './parse.js';
import { cliActor, runCommand, table } from './run.js';

/** A user by id (digits) or username. */
async function userId(users: UserService, ref: string): Promise<number> {
  if (/^\d{1,10}$/.test(ref)) return Number(ref);
  const user = await users.findByUsername(ref);
  if (!user) throw new KeywardError('user_not_found', `user ${quote(ref)} does not exist`);
  return user.id;
}

export function userCommands(program: Command): void {
  const user = program.command('user').description('manage user accounts');

  user
    .command('create')
    .description('create a user (a password is generated and shown once if --password is omitted)')
    .requiredOption('--username <name>', 'user name')
    .option('--password <pw>', `password (${LIMITS.user.password.min}-${LIMITS.user.password.max} characters)`)
    .option('--email <email>', 'email address')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, role, 'customer' as Role)
    .option('--json', 'print JSON')
    .action((o: { username: string; password?: string; email?: string; role: Role; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.users.create({ username: o.username, password: o.password, email: o.email, role: o.role }, cliActor(), { admin: true }),
        (u) =>
          `Created ${u.role} "${u.username}" (id ${u.id}).` +
          (u.password ? `\nGenerated password (shown once): ${u.password}` : '') +
          `\n${table({ email: u.email })}`,
      ),
    );

  user
    .command('update <user>')
    .description('change a user (by id or username): role, email, sign-in on/off; disabling ends their dashboard sessions')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, role)
    .option('--email <email>', 'email address ("" to clear)')
    .option('--disabled <bool>', 'true stops the user signing in', bool)
    .option('--json', 'print JSON')
    .action((ref: string, o: { role?: Role; email?: string; disabled?: boolean; json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          if (o.role === undefined && o.email === undefined && o.disabled === undefined) {
            throw new KeywardError('invalid_input', 'nothing to change: give --role, --email or --disabled');
          }
          // The CLI has full rights, but UserService still keeps the last enabled admin.
          return s.users.update(await userId(s.users, ref), { role: o.role, email: o.email, disabled: o.disabled }, cliActor(), { admin: true });
        },
        (u) => `Updated ${u.role} "${u.username}" (id ${u.id}).\n${table({ email: u.email, 'sign-in': u.disabled ? 'disabled' : 'enabled' })}`,
      ),
    );
}
