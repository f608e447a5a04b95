// The load generator: a long-lived child process (pinned to its own core by run.mjs) that runs
// one autocannon job per IPC message and answers with the measured figures.
//
// A job lasts `duration` seconds, then ends gracefully: each connection finishes the request it
// has in flight and sends no more (its `responseMax` is set to what it has sent). autocannon's
// own duration limit would instead drop the sockets with requests in flight, which the server
// may or may not have counted; ending this way leaves nothing in flight, so "requests completed"
// is an exact number the server's counters must match.
//
// Latencies are kept per request (float milliseconds) rather than in autocannon's histogram,
// which only resolves whole milliseconds: too coarse for a server that answers in 1-3 ms.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

if (!process.send) {
  console.error('bench/load.mjs is started by bench/run.mjs (it needs an IPC channel)');
  process.exit(2);
}

const keyFiles = new Map();
function keysFrom(file) {
  let keys = keyFiles.get(file);
  if (!keys) {
    keys = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    if (keys.length === 0) throw new Error(`${file} holds no keys`);
    keyFiles.set(file, keys);
  }
  return keys;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

// autocannon's own request serialiser, so prebuilt requests are byte-for-byte what it would send.
const require = createRequire(import.meta.url);
const requestBuilder = require('autocannon/lib/httpRequestBuilder');

const prebuilt = new Map();
/**
 * For scenarios whose requests vary (many keys, fresh nonces, a path per connection): one list of
 * ready-made requests per connection, each connection with its own slice. They are serialised here, before the run and
 * once per target, because autocannon's per-request rebuilding (setupRequest, idReplacement)
 * costs the load generator more than a bare server spends answering.
 */
function variedRequests(job) {
  const cacheKey = JSON.stringify([job.url, job.path, job.paths, job.headers, job.body, job.keysFile, job.nonces, job.salt, job.connections]);
  let lists = prebuilt.get(cacheKey);
  if (lists) return lists;
  const url = new URL(job.url);
  const build = requestBuilder({ hostname: url.hostname, port: url.port, host: url.host });
  const make = (headers, body, path = job.path) => {
    const req = { method: job.method, path, headers: { ...headers } };
    if (body !== undefined) req.body = body;
    return { ...req, requestBuffer: build({ ...req, headers: { ...headers } }) };
  };
  lists = [];
  for (let i = 0; i < job.connections; i++) {
    const list = [];
    if (job.keysFile) {
      const keys = keysFrom(job.keysFile);
      for (let k = i % keys.length; k < keys.length; k += job.connections) list.push(make({ ...job.headers, authorization: keys[k] }, job.body));
    } else if (job.paths) {
      // One request, always the same: connection i is one client (one machine) checking again and again.
      list.push(make(job.headers, job.body, job.paths[i % job.paths.length]));
    } else {
      for (let k = 0; k < job.nonces; k++) list.push(make(job.headers, job.body.replace('[<id>]', `n${i}-${k}-${job.salt}`)));
    }
    lists.push(list);
  }
  // Kept for the targets of the current scenario (rounds alternate between them).
  if (prebuilt.size >= 3) prebuilt.delete(prebuilt.keys().next().value);
  prebuilt.set(cacheKey, lists);
  return lists;
}

/** Points a connection at its ready-made requests (autocannon then sends them in turn as they are). */
function useRequests(client, list) {
  const it = client.requestIterator;
  it.requests = list;
  it.currentRequestIndex = 0;
  it.currentRequest = list[0];
}

/**
 * job: { url, method, path, paths?, headers, body?, keysFile?, nonces?, salt?, connections, duration,
 *        expectBody?, timeoutSec }
 * paths: connection i sends paths[i % paths.length] instead of path.
 */
function runJob(job) {
  return new Promise((resolve, reject) => {
    const latencies = [];
    const clients = [];
    let firstAt = 0;
    let endAt = 0;
    const expected = job.expectBody;
    const varied = job.keysFile || job.nonces || job.paths ? variedRequests(job) : null;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let ending = false;
    // The graceful end: every connection stops after the request it has in flight.
    const end = setTimeout(() => {
      ending = true;
      for (const client of clients) client.responseMax = Math.max(1, client.reqsMade);
    }, job.duration * 1000);
    const tracker = autocannon(
      {
        url: job.url,
        connections: job.connections,
        // Only a backstop: the timer above ends the job long before this.
        duration: job.duration + 120,
        sampleInt: 100,
        timeout: job.timeoutSec,
        requests: [{ method: job.method, path: job.path, headers: job.headers, body: job.body }],
        setupClient: (client) => {
          if (varied) useRequests(client, varied[clients.length]);
          clients.push(client);
          // A connection is destroyed right after its last answer: the last of these ends the run.
          client.on('done', () => {
            endAt = performance.now();
          });
        },
        // Every answer's bytes are compared with what this scenario must answer.
        verifyBody: expected === undefined ? undefined : (body) => body === expected,
      },
      (err, result) => {
        clearTimeout(end);
        if (err) return reject(err);
        const doneAt = performance.now();
        const cpu = process.cpuUsage(cpu0);
        // The measured window runs from the first answer to the last, so building the requests
        // and opening the connections do not count against the server.
        const elapsedMs = (endAt || doneAt) - (firstAt || t0);
        const sorted = Float64Array.from(latencies).sort();
        let sum = 0;
        for (let i = 0; i < sorted.length; i++) sum += sorted[i];
        const completed = result.requests.total;
        resolve({
          completed,
          responses: latencies.length,
          sent: result.requests.sent,
          endedGracefully: ending,
          elapsedMs,
          rps: (completed / elapsedMs) * 1000,
          latency: {
            mean: sorted.length ? sum / sorted.length : null,
            p50: percentile(sorted, 50),
            p90: percentile(sorted, 90),
            p99: percentile(sorted, 99),
            max: sorted.length ? sorted[sorted.length - 1] : null,
          },
          non2xx: result.non2xx,
          statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
          errors: result.errors,
          timeouts: result.timeouts,
          mismatches: result.mismatches,
          resets: result.resets,
          // Share of one core the load generator used: near 100% means it, not the server, is the limit.
          loaderCpu: (cpu.user + cpu.system) / 1000 / (doneAt - t0),
        });
      },
    );
    tracker.on('response', (_client, _status, _bytes, responseTime) => {
      if (firstAt === 0) firstAt = performance.now();
      latencies.push(responseTime);
    });
  });
}

process.on('message', (msg) => {
  if (msg?.type === 'exit') {
    process.disconnect();
    return;
  }
  if (msg?.type !== 'job') return;
  runJob(msg.job).then(
    (result) => process.send({ type: 'result', id: msg.id, result }),
    (err) => process.send({ type: 'result', id: msg.id, error: String(err?.stack ?? err) }),
  );
});
process.send({ type: 'ready' });
