import { InvalidArgumentError } from '../errors.ts';
import type { Feedback, JobSpec } from '../model/job.ts';
import { CellCounter, CellHistogram, ReadGauge, register, type CounterCell } from './cells.ts';
import { SECONDS_BUCKETS, type MetricsRegistry } from './registry.ts';

/** What the scrape-time gauges read of their distributor. */
export interface DistributorGaugeSource {
  waiting(): number;
  tracked(): number;
  nodes(): readonly { name: string; credit: number; held: number }[];
}

/**
 * The distributor's Prometheus metrics. Counters and the histogram are plain cells updated
 * where the events happen (see cells.ts); the gauges (waiting queue, tracked jobs, nodes,
 * credit and held jobs per node) are read when scraped. Labels: job name and node only.
 */
export class DistributorMetrics {
  readonly #enqueued: CellCounter;
  readonly #outcomes: Record<Feedback['outcome'], CellCounter>;
  readonly #turnaround: CellHistogram;
  /** The last enqueued name's cell: bursts of one job kind skip the look-up. */
  #lastName = '';
  #lastCell: CounterCell | undefined;

  constructor(registry: MetricsRegistry, source: DistributorGaugeSource) {
    // Its gauges read one distributor: a second one in the same registry would be hidden.
    if (registry.getSingleMetric('jobreactor_jobs_enqueued_total') !== undefined) {
      throw new InvalidArgumentError(
        "this metrics Registry holds another distributor's metrics already: give each distributor a Registry of its own",
      );
    }
    const counter = (name: string, help: string, labels: readonly [string?, string?]) =>
      register(registry, new CellCounter(name, help, labels));
    this.#enqueued = counter('jobreactor_jobs_enqueued_total', 'Jobs enqueued, by job name.', [
      'name',
    ]);
    this.#outcomes = {
      success: counter(
        'jobreactor_jobs_completed_total',
        'Success feedbacks (every run of a periodic job), by job name and node.',
        ['name', 'node'],
      ),
      error: counter(
        'jobreactor_jobs_failed_total',
        'Jobs failed for good, by job name and node.',
        ['name', 'node'],
      ),
      cancelled: counter(
        'jobreactor_jobs_cancelled_total',
        'Jobs cancelled, by job name and node.',
        ['name', 'node'],
      ),
    };
    this.#turnaround = register(
      registry,
      new CellHistogram(
        'jobreactor_job_turnaround_seconds',
        'From when a one-off job was due (enqueued, or its runAt/after) to its final feedback here, retries included.',
        ['name', 'node'],
        SECONDS_BUCKETS,
      ),
    );
    const gauge = (name: string, help: string, read: () => number) =>
      register(registry, new ReadGauge(name, help, () => [{ labels: {}, value: read() }]));
    gauge(
      'jobreactor_distributor_waiting_jobs',
      "Jobs in the distributor's waiting queue (no node has room, or it is paused).",
      () => source.waiting(),
    );
    gauge('jobreactor_distributor_tracked_jobs', 'Jobs enqueued and not finished.', () =>
      source.tracked(),
    );
    gauge('jobreactor_distributor_nodes', 'Nodes connected.', () => source.nodes().length);
    const perNode = (
      name: string,
      help: string,
      read: (n: { credit: number; held: number }) => number,
    ) =>
      register(
        registry,
        new ReadGauge(name, help, () =>
          source.nodes().map((n) => ({ labels: { node: n.name }, value: read(n) })),
        ),
      );
    perNode(
      'jobreactor_node_credit',
      'Instant jobs a node may still be sent now.',
      (n) => n.credit,
    );
    perNode(
      'jobreactor_node_held_jobs',
      'Jobs a node holds that this distributor would re-dispatch if it vanished.',
      (n) => n.held,
    );
  }

  enqueued(name: string): void {
    if (name !== this.#lastName || this.#lastCell === undefined) {
      this.#lastName = name;
      this.#lastCell = this.#enqueued.cell(name);
    }
    this.#lastCell.value++;
  }

  /** A feedback of a tracked job was processed at `now` (epoch ms). */
  feedback(spec: JobSpec, fb: Feedback, now: number): void {
    if (fb.outcome !== 'success' && !fb.final) return;
    this.#outcomes[fb.outcome].cell(spec.name, fb.node).value++;
    if (
      fb.final &&
      fb.outcome !== 'cancelled' &&
      spec.period === undefined &&
      spec.cron === undefined
    ) {
      this.#turnaround.cell(spec.name, fb.node).observe(Math.max(0, now - spec.runAt) / 1000);
    }
  }
}
