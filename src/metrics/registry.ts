import { InvalidArgumentError } from '../errors.ts';

/**
 * What job-reactor needs of a prom-client `Registry` (the application's): it registers its
 * metrics there, and the admin API's `/metrics` reads them. Structural, so neither the
 * public types nor the library load prom-client: the application that passes a Registry
 * has it installed.
 */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Checks that `value` looks like a prom-client Registry (at construction, before any metric). */
export function assertRegistry(value: unknown, where: string): asserts value is MetricsRegistry {
  const r = value as Partial<MetricsRegistry> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.registerMetric !== 'function' ||
    typeof r.getSingleMetric !== 'function' ||
    typeof r.metrics !== 'function'
  ) {
    throw new InvalidArgumentError(
      `${where} must be a prom-client Registry (new Registry() from prom-client, or its default register)`,
    );
  }
}

/** Seconds; from 1 ms to 5 min, for job run times, lateness and turnaround. */
export const SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];
