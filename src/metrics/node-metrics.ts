import type { JobRecord } from '../model/job.ts';
import type { NodeEvents } from '../node/node-events.ts';
import { CellCounter, CellHistogram, ReadGauge, register } from './cells.ts';
import { SECONDS_BUCKETS, type MetricsRegistry } from './registry.ts';

/** What node metrics listen to: a WorkerNode's events. */
export interface NodeEventSource {
  readonly name: string;
  on<K extends keyof NodeEvents>(event: K, listener: (...args: NodeEvents[K]) => void): unknown;
}

/** What a node's gauges read when scraped. */
export interface NodeGaugeReading {
  running: number;
  /** Due, waiting for a run slot (or a start permit, a rate limit). */
  ready: number;
  /** On a timer: delayed, retrying, between periodic runs. */
  scheduled: number;
  /** Feedbacks sent or to send, not yet acknowledged by their distributor. */
  outbox: number;
  /** Distributors connected now. */
  connections: number;
  paused: boolean;
}

/**
 * A node's Prometheus metrics, fed by its events (nothing on the node's own code paths):
 * attempts started, succeeded, retried, failed, cancelled, by job name and node; run time
 * and start lateness (start − due: a delayed job that starts late, or a backlog)
 * histograms, and the enqueue-to-start latency of instant jobs; storage errors; feedbacks
 * dropped for a distributor that stayed away; and gauges read
 * when scraped (running, ready, scheduled, feedback outbox, connections, paused). Nodes of
 * one process may share a registry. Returns what takes this node's gauges out (at stop).
 */
export function attachNodeMetrics(
  registry: MetricsRegistry,
  node: NodeEventSource,
  now: () => number,
  read: () => NodeGaugeReading,
): () => void {
  const counter = (event: string, help: string) =>
    register(
      registry,
      new CellCounter(`jobreactor_node_jobs_${event}_total`, help, ['name', 'node']),
    );
  const histogram = (name: string, help: string) =>
    register(registry, new CellHistogram(name, help, ['name', 'node'], SECONDS_BUCKETS));
  const started = counter('started', 'Attempts started, by job name and node.');
  const succeeded = counter('succeeded', 'Attempts (periodic runs included) that succeeded.');
  const retried = counter('retried', 'Attempts that failed with another one scheduled.');
  const failed = counter('failed', 'Jobs whose last attempt failed.');
  const cancelled = counter('cancelled', 'Jobs cancelled (by the application or themselves).');
  const runTime = histogram(
    'jobreactor_node_job_run_seconds',
    'Run time of an attempt, start to its outcome.',
  );
  const lateness = histogram(
    'jobreactor_node_job_lateness_seconds',
    'How long after its due time an attempt started (timer lateness, waiting for a slot).',
  );
  const startLatency = histogram(
    'jobreactor_node_job_start_latency_seconds',
    "From enqueue to the first attempt's start, for instant jobs (the distributor's clock to the node's).",
  );
  const storageErrors = register(
    registry,
    new CellCounter('jobreactor_node_storage_errors_total', 'Storage operations that failed.', [
      'node',
    ]),
  );

  const expiredFeedbacks = register(
    registry,
    new CellCounter(
      'jobreactor_node_feedbacks_expired_total',
      'Feedbacks dropped because their distributor stayed away longer than feedbackMaxAge.',
      ['node'],
    ),
  );

  const ran = (r: JobRecord) => {
    if (r.startedAt !== undefined)
      runTime.cell(r.name, r.node).observe(Math.max(0, now() - r.startedAt) / 1000);
  };
  node.on('job:start', (r) => {
    started.cell(r.name, r.node).value++;
    if (r.startedAt === undefined) return;
    lateness.cell(r.name, r.node).observe(Math.max(0, r.startedAt - r.dueAt) / 1000);
    if (r.attempt === 1 && r.runs === 0 && r.runAt <= r.enqueuedAt) {
      startLatency.cell(r.name, r.node).observe(Math.max(0, r.startedAt - r.enqueuedAt) / 1000);
    }
  });
  node.on('job:success', (r) => {
    succeeded.cell(r.name, r.node).value++;
    ran(r);
  });
  node.on('job:retry', (r) => {
    retried.cell(r.name, r.node).value++;
    ran(r);
  });
  node.on('job:failed', (r) => {
    failed.cell(r.name, r.node).value++;
    ran(r);
  });
  node.on('job:cancelled', (r) => void cancelled.cell(r.name, r.node).value++);
  node.on('storage:error', () => void storageErrors.cell(node.name).value++);
  node.on('feedbacks:expired', (_id, n) => void (expiredFeedbacks.cell(node.name).value += n));

  const labels = { node: node.name };
  const gauge = (name: string, help: string, value: (g: NodeGaugeReading) => number) =>
    register(registry, new ReadGauge(name, help)).add(() => [{ labels, value: value(read()) }]);
  const detach = [
    gauge('jobreactor_node_running_jobs', 'Attempts running now.', (g) => g.running),
    gauge(
      'jobreactor_node_ready_jobs',
      'Jobs due and waiting for a run slot (or a start permit).',
      (g) => g.ready,
    ),
    gauge(
      'jobreactor_node_scheduled_jobs',
      'Jobs on a timer: delayed, retrying, or between periodic runs.',
      (g) => g.scheduled,
    ),
    gauge(
      'jobreactor_node_feedback_outbox',
      'Feedbacks not yet acknowledged by their distributor.',
      (g) => g.outbox,
    ),
    gauge('jobreactor_node_connections', 'Distributors connected.', (g) => g.connections),
    gauge('jobreactor_node_paused', '1 while the node is paused.', (g) => (g.paused ? 1 : 0)),
  ];
  return () => {
    for (const d of detach) d();
  };
}
