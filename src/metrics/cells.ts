import type { MetricsRegistry } from './registry.ts';

/**
 * Metrics that count in plain numbers and are formatted only when scraped. prom-client's
 * own Counter and Histogram hash their label values on every `inc`/`observe` (their
 * `labels()` children included); at 100k jobs/s that hashing alone cost the bench's
 * throughput row more than 10 %. These keep one cell per label combination (found through
 * two or three map look-ups) and implement prom-client's metric contract (`name`, `help`,
 * `type`, `get()`), so the application's Registry serves them like its own.
 */
interface Sample {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

abstract class OwnMetric {
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  protected abstract samples(): Sample[];

  /** prom-client's metric contract: what `registry.metrics()` formats. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: Sample[];
    aggregator: string;
  }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.samples(),
      aggregator: this.aggregator,
    };
  }
}

/** Cells by label values, created on first use. */
class Cells<C> {
  readonly #byKey = new Map<string, Map<string, C>>();
  readonly all: C[] = [];

  constructor(readonly make: (a: string, b: string) => C) {}

  get(a: string, b: string): C {
    let inner = this.#byKey.get(a);
    if (inner === undefined) this.#byKey.set(a, (inner = new Map()));
    let cell = inner.get(b);
    if (cell === undefined) {
      inner.set(b, (cell = this.make(a, b)));
      this.all.push(cell);
    }
    return cell;
  }
}

/** A counter cell: `cell.value++` is the whole cost of an increment. */
export interface CounterCell {
  readonly labels: Record<string, string>;
  value: number;
}

/** A counter with up to two labels (job name and node). */
export class CellCounter extends OwnMetric {
  readonly type = 'counter';
  readonly #cells: Cells<CounterCell>;

  constructor(name: string, help: string, labelNames: readonly [string?, string?]) {
    super(name, help);
    this.#cells = new Cells((a, b) => ({ labels: labelsOf(labelNames, a, b), value: 0 }));
  }

  cell(a = '', b = ''): CounterCell {
    return this.#cells.get(a, b);
  }

  protected samples(): Sample[] {
    return this.#cells.all.map((c) => ({ labels: c.labels, value: c.value }));
  }
}

/** A histogram cell: per-bucket counts, sum and count. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** A histogram with two labels (job name and node). */
export class CellHistogram extends OwnMetric {
  readonly type = 'histogram';
  readonly #cells: Cells<HistogramCell>;
  readonly #bounds: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly [string, string],
    bounds: readonly number[],
  ) {
    super(name, help);
    this.#bounds = bounds;
    this.#cells = new Cells((a, b) => new HistogramCell(labelsOf(labelNames, a, b), bounds));
  }

  cell(a: string, b: string): HistogramCell {
    return this.#cells.get(a, b);
  }

  protected samples(): Sample[] {
    const out: Sample[] = [];
    for (const c of this.#cells.all) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += c.counts[i]!;
        out.push({
          labels: { ...c.labels, le: String(this.#bounds[i]) },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      out.push({
        labels: { ...c.labels, le: '+Inf' },
        value: c.count,
        metricName: `${this.name}_bucket`,
      });
      out.push({ labels: c.labels, value: c.sum, metricName: `${this.name}_sum` });
      out.push({ labels: c.labels, value: c.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}

/** A gauge read when scraped (nothing between scrapes). */
export class ReadGauge extends OwnMetric {
  readonly type = 'gauge';
  /** One reader per source (several nodes of one process may share a registry). */
  readonly #readers = new Set<() => Sample[]>();

  constructor(name: string, help: string, read?: () => Sample[]) {
    super(name, help);
    if (read !== undefined) this.#readers.add(read);
  }

  /** Adds a source's reader; the returned function takes it out again (a stopped node). */
  add(read: () => Sample[]): () => void {
    this.#readers.add(read);
    return () => void this.#readers.delete(read);
  }

  protected samples(): Sample[] {
    const samples: Sample[] = [];
    for (const read of this.#readers) samples.push(...read());
    return samples;
  }
}

function labelsOf(
  names: readonly (string | undefined)[],
  a: string,
  b: string,
): Record<string, string> {
  const labels: Record<string, string> = {};
  if (names[0] !== undefined) labels[names[0]] = a;
  if (names[1] !== undefined) labels[names[1]] = b;
  return labels;
}

/**
 * Metric `metric.name` from `registry` when there already (several nodes of one process
 * sharing a registry: their series differ by the node label), else `metric`, registered.
 */
export function register<M extends OwnMetric>(registry: MetricsRegistry, metric: M): M {
  const existing = registry.getSingleMetric(metric.name);
  if (existing instanceof (metric.constructor as new (...a: never[]) => M)) return existing;
  registry.registerMetric(metric as never);
  return metric;
}
