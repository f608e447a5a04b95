import type { FastifyInstance } from 'fastify';

/**
 * Runs `job` once the app is ready and every `everyMs` after, while the app is open. Closing the
 * app stops the timer and waits for a run in progress, so none runs against a closed database.
 */
export function runWhileOpen(app: FastifyInstance, everyMs: number, job: () => Promise<unknown>, onError: (err: unknown) => void): void {
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  const run = () => {
    running = Promise.resolve().then(job).then(() => {}, onError);
  };
  app.addHook('onReady', async () => {
    run();
    timer = setInterval(run, everyMs).unref();
  });
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    await running;
  });
}
