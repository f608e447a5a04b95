import cluster from 'node:cluster';
import client from 'prom-client';

/** What the hot path and the write-behind report; a no-op when metrics are off. */
export interface CheckMetrics {
  check(endpoint: string, status: string, seconds: number): void;
  flush(seconds: number, rows: number): void;
  /** A machine activated on a license granting `productId`. */
  machineActivated(productId: number | null): void;
  /** A machine refused (`TOO MANY MACHINES`, `NOT ACTIVATED`, `FINGERPRINT REQUIRED`) for `productId`. */
  machineRefused(productId: number | null, status: string): void;
}

export const noMetrics: CheckMetrics = { check: () => {}, flush: () => {}, machineActivated: () => {}, machineRefused: () => {} };

export interface MetricsSources {
  queueDepth: () => number;
  /** PostgreSQL's pool (Storage.pgPool); absent for SQLite's single connection. */
  pool?: { totalCount: number; idleCount: number; waitingCount: number };
  /** The check path's license cache: plain counts it keeps, read only when scraped. */
  licenseCache?: { readonly hits: number; readonly misses: number };
}

/** Prometheus metrics of one process (prom-client): checks, latency, write queue, pool, process. */
export class Metrics implements CheckMetrics {
  readonly registry = new client.Registry();
  private readonly checks: client.Counter<'endpoint' | 'status'>;
  private readonly latency: client.Histogram<'endpoint'>;
  private readonly flushes: client.Histogram;
  private readonly flushedRows: client.Counter;
  private readonly activations: client.Counter<'product'>;
  private readonly refusals: client.Counter<'product' | 'status'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
    // In a `--workers` cluster the primary collects this registry from every worker.
    // (Constructing an AggregatorRegistry is what makes prom-client answer the primary's requests.)
    if (cluster.isWorker) {
      new client.AggregatorRegistry();
      client.AggregatorRegistry.setRegistries([this.registry]);
    }
    this.checks = new client.Counter({
      name: 'keyward_checks_total',
      help: 'License checks answered, by endpoint and status.',
      labelNames: ['endpoint', 'status'],
      registers,
    });
    this.latency = new client.Histogram({
      name: 'keyward_check_duration_seconds',
      help: 'Time from a check request to its answer.',
      labelNames: ['endpoint'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.flushes = new client.Histogram({
      name: 'keyward_write_flush_seconds',
      help: 'Time to write one batch of Previous Auths rows and counters.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.flushedRows = new client.Counter({
      name: 'keyward_write_rows_total',
      help: 'Previous Auths rows written.',
      registers,
    });
    this.activations = new client.Counter({
      name: 'keyward_machine_activations_total',
      help: 'Machines activated (by a check or the activate endpoint), by product.',
      labelNames: ['product'],
      registers,
    });
    this.refusals = new client.Counter({
      name: 'keyward_machine_refusals_total',
      help: 'Checks and client calls refused at the machine steps, by product and status.',
      labelNames: ['product', 'status'],
      registers,
    });
    new client.Gauge({
      name: 'keyward_write_queue_depth',
      help: 'Previous Auths rows and license counters waiting to be written.',
      registers,
      collect() {
        this.set(sources.queueDepth());
      },
    });
    const cache = sources.licenseCache;
    if (cache) {
      countFrom('keyward_license_cache_hits_total', 'License lookups by checks answered from memory.', () => cache.hits, registers);
      countFrom('keyward_license_cache_misses_total', 'License lookups by checks that read the database.', () => cache.misses, registers);
    }
    const pool = sources.pool;
    if (pool) {
      new client.Gauge({
        name: 'keyward_db_pool_connections',
        help: 'PostgreSQL pool connections by state.',
        labelNames: ['state'],
        registers,
        collect() {
          this.set({ state: 'total' }, pool.totalCount);
          this.set({ state: 'idle' }, pool.idleCount);
          this.set({ state: 'waiting' }, pool.waitingCount);
        },
      });
    }
  }

  check(endpoint: string, status: string, seconds: number): void {
    this.checks.inc({ endpoint, status });
    this.latency.observe({ endpoint }, seconds);
  }

  flush(seconds: number, rows: number): void {
    this.flushes.observe(seconds);
    this.flushedRows.inc(rows);
  }

  machineActivated(productId: number | null): void {
    this.activations.inc({ product: String(productId ?? '') });
  }

  machineRefused(productId: number | null, status: string): void {
    this.refusals.inc({ product: String(productId ?? ''), status });
  }

  /** This process's metrics, or, in a `--workers` cluster, every worker's summed by the primary. */
  async text(): Promise<{ body: string; contentType: string }> {
    if (cluster.isWorker && process.send) return { body: await askPrimary(), contentType: this.registry.contentType };
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/** A counter that follows a count kept elsewhere, catching up on each scrape. */
function countFrom(name: string, help: string, read: () => number, registers: client.Registry[]): void {
  let counted = 0;
  new client.Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      this.inc(now - counted);
      counted = now;
    },
  });
}

const ASK = 'keyward:metrics';
const ANSWER = 'keyward:metrics-answer';
let asked = 0;

function askPrimary(): Promise<string> {
  const id = ++asked;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off('message', onMessage);
      reject(new Error('the cluster primary did not answer for metrics'));
    }, 5000);
    const onMessage = (msg: { type?: string; id?: number; body?: string }) => {
      if (msg?.type !== ANSWER || msg.id !== id) return;
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(msg.body ?? '');
    };
    process.on('message', onMessage);
    process.send!({ type: ASK, id });
  });
}

/** In the cluster primary: answers workers' metrics requests with every worker's metrics summed. */
export function serveClusterMetrics(): void {
  const aggregator = new client.AggregatorRegistry();
  cluster.on('message', (worker, msg: { type?: string; id?: number }) => {
    if (msg?.type !== ASK) return;
    aggregator.clusterMetrics().then(
      (body) => worker.send({ type: ANSWER, id: msg.id, body }),
      (err: Error) => worker.send({ type: ANSWER, id: msg.id, body: `# error: ${err.message}\n` }),
    );
  });
}
