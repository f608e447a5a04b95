import cluster from 'node:cluster';
import type { Command } from 'commander';
import { workerCount } from '../cluster.js';
import { loadConfig } from '../config.js';
import type { RunningServer } from '../server.js';
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
          await (await openServices(config)).services.close();
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
        // SIGTERM/SIGINT: stop accepting, drain requests, flush queued Previous Auths, then exit.
        // Installed before start-up and never swapped: the port answers before start-up ends (the
        // first-run notice reads the database), and a signal that reached a handler being removed
        // was lost, leaving the server running (seen under load). One arriving during start-up
        // waits for the server to be up, then stops it like any other.
        let starting: Promise<RunningServer> | undefined;
        const grace = closeWithGrace({ delay: 20_000 }, async ({ signal, err }) => {
          if (err) logger.error({ err }, 'fatal error, shutting down');
          else logger.info({ signal }, 'shutting down gracefully');
          // A start-up that fails meanwhile fails this too, so the exit status says so.
          const server = await starting!;
          await server.close();
          logger.info('stopped; every queued write is in the database');
        });
        starting = startServer(config, logger);
        // A failed start-up exits with its error (below), not through the graceful stop.
        await starting.catch((err: unknown) => {
          grace.uninstall();
          throw err;
        });
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
