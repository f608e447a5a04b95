import type { Command } from 'commander';
import type { MachineJson } from '../licensing/json.js';
import { dbId, int } from './parse.js';
import { cliActor, runCommand } from './run.js';

const line = (m: MachineJson): string =>
  [
    String(m.id).padStart(6),
    m.alive ? 'alive' : 'dead ',
    `fingerprint ${m.fingerprint}`,
    `name ${m.name ?? '-'}`,
    `ip ${m.ip ?? '-'}`,
    `last seen ${m.lastSeenAt}`,
    ...(m.deadAt && m.alive ? [`dies ${m.deadAt}`] : []),
  ].join('  ');

export function machineCommands(program: Command): void {
  const machine = program.command('machine').description('see and free the machines (devices, servers) licenses run on');

  machine
    .command('list')
    .description("list a license's machines, oldest first (dead ones too, until they are swept)")
    .requiredOption('--license <id>', 'license id', dbId)
    .option('--json', 'print JSON')
    .action((o: { license: number; json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          const { machines, rules } = await s.machines.list(o.license);
          // JSON is the list, like every other list command; people also see the limit.
          return o.json ? machines : { machines, limit: rules?.maxMachines ?? null };
        },
        (r) => {
          if (Array.isArray(r)) return r.map(line).join('\n');
          const head = `License ${o.license}: ${r.machines.length} machine(s)${r.limit === null ? '; it tracks no machines' : `, at most ${r.limit} at once`}.`;
          return r.machines.length ? `${head}\n${r.machines.map(line).join('\n')}` : head;
        },
      ),
    );

  machine
    .command('deactivate <id>')
    .description('free a machine by its id (as staff: no daily allowance applies or is spent)')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          await s.machines.deactivateById(int(id), cliActor());
          return { ok: true as const };
        },
        () => `Deactivated machine ${id}; its slot is free.`,
      ),
    );
}
