import cluster from 'node:cluster';
import type { Command } from 'commander';
import { workerCount } from '../cluster.js';
import { loadConfig } from '../config.js';
import { fail, runCommand } from './run.js';

export function serveCommands(program: Command): void {
  program
    .command('serve')
    .description('run the license server (what `npm start` runs)')
    .option('--workers <n>', 'worker processes sharing the port: a number, or "auto" for one per core', '1')
    .action(async (o: { workers: string }) => {
      try {
        const workers = workerCount(o.workers);
        if (workers > 1 && cluster.isPrimary) {
          const config = loadConfig();
          const [{ createLogger }, { openServices }, { runPrimary }] = await Promise.all([
            import('../server.js'),
            import('../services.js'),
            import('../cluster.js'),
          ]);
          // Migrate once here, so the workers never race each other over the schema.
          await (await openServices(config)).close();
          runPrimary(workers, createLogger(config));
          return;
        }
        // Loaded here so that the other commands do not pay for the HTTP stack at start-up.
        const [{ createLogger, startServer }, { default: closeWithGrace }] = await Promise.all([
          import('../server.js'),
          import('close-with-grace'),
        ]);
        const config = loadConfig();
        const logger = createLogger(config);
        // A signal during start-up is held until the server is up, then handled like any other.
        let early: NodeJS.Signals | null = null;
        const hold = (signal: NodeJS.Signals) => (early = signal);
        process.on('SIGTERM', hold).on('SIGINT', hold);
        const server = await startServer(config, logger).finally(() => process.off('SIGTERM', hold).off('SIGINT', hold));
        // SIGTERM/SIGINT: stop accepting, drain requests, flush queued Previous Auths, then exit.
        closeWithGrace({ delay: 20_000 }, async ({ signal, err }) => {
          if (err) logger.error({ err }, 'fatal error, shutting down');
          else logger.info({ signal }, 'shutting down gracefully');
          await server.close();
          logger.info('stopped; every queued write is in the database');
        });
        if (early) process.kill(process.pid, early);
      } catch (err) {
        fail(err);
      }
    });

  program
    .command('migrate')
    .description('create or update the database schema')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      runCommand(o, async () => ({ ok: true as const }), () => 'The database schema is up to date.'),
    );
}
