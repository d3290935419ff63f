// What an operator's Prometheus scrapes from each API server and worker (docs/operations.md#metrics).
// One registry per process, served only on the metrics listener (listener.ts), never the public
// one. Counters count in this process; Prometheus sums the processes. Labels take values from
// small fixed sets (a route's template, a queue's name, a verdict's code), never from what a
// caller sends, so a scrape stays small however many residents there are.
import type { Knex } from 'knex';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Db } from '../db.ts';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'mykey_' });

export const httpRequests = new Counter({
  name: 'mykey_http_requests_total', help: 'HTTP requests answered, by method, route template and status',
  labelNames: ['method', 'route', 'status'] as const, registers: [registry],
});

export const httpDuration = new Histogram({
  name: 'mykey_http_request_duration_seconds', help: 'Time to answer an HTTP request, by method and route template',
  labelNames: ['method', 'route'] as const, registers: [registry],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

export const certificateChecks = new Counter({
  name: 'mykey_certificate_checks_total', help: 'Card certificates checked, by verdict: accepted, or the refusal\'s code',
  labelNames: ['verdict'] as const, registers: [registry],
});

export const pointsMoved = new Counter({
  name: 'mykey_points_total', help: 'Points moved to or from residents by committed ledger entries, by movement',
  labelNames: ['movement'] as const, registers: [registry],
});

export const jobsFinished = new Counter({
  name: 'mykey_queue_jobs_finished_total', help: 'Queue jobs this worker finished, by queue and outcome',
  labelNames: ['queue', 'outcome'] as const, registers: [registry],
});

export const queueErrors = new Counter({
  name: 'mykey_queue_redis_errors_total', help: 'Errors of a queue\'s Redis connections (refused, reset, no master) in this process, by queue: a Redis lost or failing over',
  labelNames: ['queue'] as const, registers: [registry],
});

/** The pools this process reads its database through (one, but tests run several apps in one process). */
const pools = new Set<Db>();

new Gauge({
  name: 'mykey_db_pool_connections', help: 'Database connections of this process\'s pools: in use, idle, and requests waiting for one',
  labelNames: ['state'] as const, registers: [registry],
  collect() {
    const counts = { used: 0, free: 0, pending: 0 };
    for (const db of pools) {
      // knex's pool (tarn) is not in knex's types; a destroyed pool is gone, and off the scrape.
      const pool = (db.client as { pool?: PoolCounts }).pool;
      if (!pool) {
        pools.delete(db);
        continue;
      }
      counts.used += pool.numUsed();
      counts.free += pool.numFree();
      counts.pending += pool.numPendingAcquires();
    }
    for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
  },
});

interface PoolCounts { numUsed(): number; numFree(): number; numPendingAcquires(): number }

/** The pool's connections are on the scrape from now until it is destroyed. */
export function watchPool(db: Db): void {
  pools.add(db);
}

/** A Bull queue as the metrics need it. */
export interface CountedQueue {
  name: string;
  /** The queue's Redis connections made so far (Bull makes them as it needs them), each with ioredis' status. */
  clients: ReadonlyArray<{ status: string }>;
  getJobCounts(): Promise<object>;
  on(event: 'completed' | 'failed' | 'error', listener: () => void): unknown;
}

const queues = new Set<CountedQueue>();

new Gauge({
  name: 'mykey_queue_jobs', help: 'Jobs in each queue, by state (waiting, active, delayed, failed, completed kept)',
  labelNames: ['queue', 'state'] as const, registers: [registry],
  async collect() {
    this.reset();
    await Promise.all([...queues].map(async (queue) => {
      // A Redis that cannot answer now leaves the queue out of this scrape; the job counters still say what ran.
      const counts = await queue.getJobCounts().catch(() => undefined);
      for (const [state, n] of Object.entries(counts ?? {}) as Array<[string, number]>) this.set({ queue: queue.name, state }, n);
    }));
  },
});

new Gauge({
  name: 'mykey_queue_redis_connections', help: 'The queues\' Redis connections in this process, by queue and ioredis status: ready, on the way back (connecting, reconnecting), or end (given up: only a restart brings it back)',
  labelNames: ['queue', 'status'] as const, registers: [registry],
  collect() {
    this.reset();
    for (const queue of queues) {
      for (const client of queue.clients) this.inc({ queue: queue.name, status: client.status });
    }
  },
});

/**
 * The queue's depth, connections and Redis errors are on the scrape; with `outcomes` (a worker's queues), so
 * is every job it finishes. Bull reports its connections' errors (ioredis reconnects by itself) as
 * the queue's 'error' events.
 */
export function watchQueue(queue: CountedQueue, { outcomes = false } = {}): void {
  queues.add(queue);
  queue.on('error', () => queueErrors.inc({ queue: queue.name }));
  if (!outcomes) return;
  queue.on('completed', () => jobsFinished.inc({ queue: queue.name, outcome: 'completed' }));
  queue.on('failed', () => jobsFinished.inc({ queue: queue.name, outcome: 'failed' }));
}

/** Runs `count` once `trx` has committed; never if it rolls back: what a counter counts happened. */
export function afterCommit(trx: Knex.Transaction, count: () => void): void {
  trx.executionPromise.then(count, () => {});
}
