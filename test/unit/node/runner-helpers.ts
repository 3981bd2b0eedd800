import type { JobArgs, JobRecord } from '../../../src/model/job.ts';
import type {
  ChainStep,
  JobDefinition,
  JobDefinitionOptions,
  JobHandler,
} from '../../../src/node/definitions/job-registry.ts';
import { JobRegistry } from '../../../src/node/definitions/job-registry.ts';

export const T0 = Date.UTC(2026, 0, 1);

/** A record as the node saves it at the start of an attempt. */
export function makeRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: 'job-1',
    name: 'test_job',
    args: { n: 1, nested: { list: [1, 2] } },
    distributor: 'dist-1',
    enqueuedAt: T0 - 5_000,
    runAt: T0 - 1_000,
    delivery: 1,
    node: 'node-1',
    status: 'in progress',
    attempt: 1,
    dueAt: T0,
    runs: 0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A definition built through a private registry, as a node would get it. */
export function makeDef(
  handler: JobHandler,
  steps: { callbacks?: ChainStep[]; errbacks?: ChainStep[]; options?: JobDefinitionOptions } = {},
): JobDefinition {
  const registry = new JobRegistry();
  registry.define('test_job', handler, steps.options);
  for (const fn of steps.callbacks ?? []) registry.callback('test_job', fn);
  for (const fn of steps.errbacks ?? []) registry.errback('test_job', fn as ChainStep<JobArgs>);
  return registry.get('test_job')!;
}

/** Lets every pending promise reaction run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
