import type { Command } from 'commander';
import { cliActor, runCommand, table } from './run.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { dbId } from './parse.js';

export function productCommands(program: Command): void {
  const product = program.command('product').description('manage products (the ids your software checks)');

  product
    .command('create')
    .description('create a product')
    .requiredOption('--name <name>', `product name (at most ${LIMITS.product.name} characters)`)
    .option('--id <n>', 'product id (e.g. your FaxStore item id); next free id if omitted', dbId)
    .option('--description <text>', `description (at most ${LIMITS.product.description} characters)`)
    .option('--json', 'print JSON')
    .action((o: { name: string; id?: number; description?: string; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.products.create({ id: o.id, name: o.name, description: o.description }, cliActor()),
        (p) => `Created product ${p.id} "${p.name}".`,
      ),
    );

  product
    .command('list')
    .description('list products')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      runCommand(
        o,
        (s) => s.products.list(),
        (list) => (list.length ? list.map((p) => table({ id: p.id, name: p.name, description: p.description })).join('\n\n') : 'No products yet.'),
      ),
    );
}
