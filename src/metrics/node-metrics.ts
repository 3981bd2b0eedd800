import type { JobRecord } from '../model/job.ts';
import type { NodeEvents } from '../node/node-events.ts';
import { CellCounter, CellHistogram, register } from './cells.ts';
import { SECONDS_BUCKETS, type MetricsRegistry } from './registry.ts';

/** What node metrics listen to: a WorkerNode's events. */
export interface NodeEventSource {
  readonly name: string;
  on<K extends keyof NodeEvents>(event: K, listener: (...args: NodeEvents[K]) => void): unknown;
}

/**
 * A node's Prometheus metrics, fed by its events (nothing on the node's own code paths):
 * attempts started, succeeded, retried, failed, cancelled, by job name and node; run time
 * and start lateness (start − due: a delayed job that starts late, or a backlog)
 * histograms; storage errors. Nodes of one process may share a registry.
 */
export function attachNodeMetrics(
  registry: MetricsRegistry,
  node: NodeEventSource,
  now: () => number,
): void {
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
  const storageErrors = register(
    registry,
    new CellCounter('jobreactor_node_storage_errors_total', 'Storage operations that failed.', [
      'node',
    ]),
  );

  const ran = (r: JobRecord) => {
    if (r.startedAt !== undefined)
      runTime.cell(r.name, r.node).observe(Math.max(0, now() - r.startedAt) / 1000);
  };
  node.on('job:start', (r) => {
    started.cell(r.name, r.node).value++;
    if (r.startedAt !== undefined)
      lateness.cell(r.name, r.node).observe(Math.max(0, r.startedAt - r.dueAt) / 1000);
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
}
