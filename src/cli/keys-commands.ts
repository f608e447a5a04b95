import type { Command } from 'commander';
import type { PublicKeysJson } from '../licensing/signing-keys.js';
import { cliActor, runCommand } from './run.js';

const show = (k: PublicKeysJson): string =>
  [
    `Current signing key: ${k.keyId}`,
    `Public key (raw, base64): ${k.raw}`,
    k.pem.trim(),
    ...(k.keys.length > 1 ? ['', 'Older keys, still valid for answers they signed:', ...k.keys.slice(1).map((o) => `  ${o.id}  ${o.raw}`)] : []),
  ].join('\n');

export function keysCommands(program: Command): void {
  const keys = program.command('keys').description('the Ed25519 keys that sign check answers');

  keys
    .command('show')
    .description('print the public keys clients verify answers with')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => runCommand(o, (s) => s.signingKeys.publicKeys(), show));

  keys
    .command('rotate')
    .description('make a new signing key; older keys stay listed (running servers switch within 1 s)')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => runCommand(o, (s) => s.signingKeys.rotate(cliActor()), show));
}
