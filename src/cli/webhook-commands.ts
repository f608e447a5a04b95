import type { Command } from 'commander';
import { WEBHOOK_EVENTS } from '../webhooks/events.js';
import type { WebhookJson } from '../webhooks/json.js';
import { PAGE_SIZE } from '../licensing/paging.js';
import { LIMITS } from '../licensing/schemas/limits.js';
import { int, list, pageLimit } from './parse.js';
import { cliActor, runCommand, table } from './run.js';

const show = (w: WebhookJson & { secret?: string }): string =>
  table({
    id: w.id,
    url: w.url,
    events: w.events,
    active: w.active,
    description: w.description,
    ...(w.secret ? { secret: `${w.secret}   (shown this once; keep it safe)` } : {}),
  });

export function webhookCommands(program: Command): void {
  const webhook = program.command('webhook').description('manage outgoing webhooks (deliveries are sent by the running server)');

  webhook
    .command('create')
    .description('register a webhook endpoint; prints its signing secret once')
    .requiredOption('--url <url>', 'http:// or https:// URL that receives the events')
    .option('--events <list>', `comma-separated: ${WEBHOOK_EVENTS.join(',')} (default: all but check.failed)`, list)
    .option('--description <text>', `what it is for (at most ${LIMITS.webhook.description} characters)`)
    .option('--secret <secret>', `your own signing secret (${LIMITS.webhook.secret.min}-${LIMITS.webhook.secret.max} characters); generated when omitted`)
    .option('--json', 'print JSON')
    .action((o: { url: string; events?: string[]; description?: string; secret?: string; json?: boolean }) =>
      runCommand(o, (s) => s.webhooks.create({ url: o.url, events: o.events, description: o.description, secret: o.secret }, cliActor()), show),
    );

  webhook
    .command('list')
    .description('list webhook endpoints (never their secrets)')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      runCommand(
        o,
        (s) => s.webhooks.list(),
        (rows) => (rows.length ? rows.map((w) => show(w)).join('\n\n') : 'No webhooks. Register one with: keyward webhook create --url URL'),
      ),
    );

  webhook
    .command('delete <id>')
    .description('delete a webhook endpoint and its delivery log')
    .option('--json', 'print JSON')
    .action((id: string, o: { json?: boolean }) =>
      runCommand(
        o,
        async (s) => {
          await s.webhooks.delete(int(id), cliActor());
          return { ok: true as const };
        },
        () => `Deleted webhook ${id}.`,
      ),
    );

  webhook
    .command('deliveries <id>')
    .description("show a webhook's delivery log, newest first")
    .option('--limit <n>', `at most this many (1-${PAGE_SIZE.max})`, pageLimit, 20)
    .option('--json', 'print JSON')
    .action((id: string, o: { limit: number; json?: boolean }) =>
      runCommand(
        o,
        (s) => s.webhooks.deliveries(int(id), { limit: o.limit }),
        (rows) =>
          rows.length
            ? rows
                .map((d) => `${String(d.id).padStart(6)}  ${d.createdAt}  ${d.event.padEnd(19)} ${d.status.padEnd(9)} attempts ${d.attempts}${d.lastError ? `  last error: ${d.lastError}` : ''}`)
                .join('\n')
            : 'No deliveries yet.',
      ),
    );
}
