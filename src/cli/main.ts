import { Command, CommanderError } from 'commander';
import { backupCommands } from './backup-commands.js';
import { importCommands } from './import-commands.js';
import { keysCommands } from './keys-commands.js';
import { licenseCommands } from './license-commands.js';
import { logCommands } from './log-commands.js';
import { machineCommands } from './machine-commands.js';
import { policyCommands } from './policy-commands.js';
import { productCommands } from './product-commands.js';
import { serveCommands } from './serve-commands.js';
import { tokenCommands } from './token-commands.js';
import { userCommands } from './user-commands.js';
import { webhookCommands } from './webhook-commands.js';

/** The `keyward` command: every group registers its own subcommands. */
export function buildProgram(): Command {
  const program = new Command('keyward')
    .description('Keyward: a self-hosted license-key server (FaxStore License System compatible)')
    .configureOutput({
      // Usage errors are one line on stderr, like every other error.
      outputError: (text, write) =>
        // Commander quotes a rejected argument; it may be a key pasted in the wrong place.
        write(`keyward: ${text.replace(/^error: /, '').replace(/ argument '[^']*' is invalid/, ' has an invalid value').trim()}\n`),
    })
    .exitOverride();
  serveCommands(program);
  productCommands(program);
  userCommands(program);
  policyCommands(program);
  licenseCommands(program);
  machineCommands(program);
  logCommands(program);
  keysCommands(program);
  tokenCommands(program);
  webhookCommands(program);
  importCommands(program);
  backupCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else throw err;
}
