import { InvalidArgumentError } from '../errors.ts';
import type { DistributorTracing } from './distributor-tracing.ts';
import type { NodeTracing } from './node-tracing.ts';
import type { ResolvedTracing } from './tracing-options.ts';

/**
 * The lazy half of tracing: `@opentelemetry/api` (an optional peer dependency) and the
 * modules that use it are loaded here, at start, and only with the `tracing` option on.
 * Nothing the library loads by default imports them, so it runs without the package.
 */

/** Throws InvalidArgumentError naming `npm install @opentelemetry/api` when it is missing. */
async function requireOtelApi(): Promise<void> {
  try {
    await import('@opentelemetry/api');
  } catch (err) {
    throw new InvalidArgumentError(
      'tracing needs the package @opentelemetry/api, which is not installed: run `npm install @opentelemetry/api` (an optional peer dependency of job-reactor)',
      { cause: err },
    );
  }
}

/** A distributor's tracing (see DistributorTracing), for `listen()`. */
export async function loadDistributorTracing(
  resolved: ResolvedTracing,
  distributorId: string,
): Promise<DistributorTracing> {
  await requireOtelApi();
  const { DistributorTracing } = await import('./distributor-tracing.ts');
  return new DistributorTracing(resolved, distributorId);
}

/** A node's tracing (see NodeTracing), for `start()`. */
export async function loadNodeTracing(
  resolved: ResolvedTracing,
  node: string,
): Promise<NodeTracing> {
  await requireOtelApi();
  const { NodeTracing } = await import('./node-tracing.ts');
  return new NodeTracing(resolved, node);
}
