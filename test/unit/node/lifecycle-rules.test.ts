import { describe, expect, it } from 'vitest';
import type { ResolvedJobOptions } from '../../../src/node/definitions/job-registry.ts';
import { LifecycleRulesCache } from '../../../src/node/lifecycle/lifecycle-rules.ts';
import {
  NODE_DEFAULTS,
  resolveNodeOptions,
  type NodeOptions,
} from '../../../src/node/node-options.ts';

/** A node's rules as its options resolve them. */
const rulesOf = (o: Partial<NodeOptions> = {}) =>
  resolveNodeOptions({ name: 'n1', distributors: [], ...o }).rules;

describe('lifecycle rules cache', () => {
  it('lifecycle rules - the node rules come from NODE_DEFAULTS when options are absent', () => {
    const cache = new LifecycleRulesCache(rulesOf({}));
    expect(cache.node).toEqual({
      maxAttempt: NODE_DEFAULTS.maxAttempt,
      retryMultiplier: NODE_DEFAULTS.retryMultiplier,
      removeDoneJobs: NODE_DEFAULTS.removeDoneJobs,
      removeCancelledJobs: NODE_DEFAULTS.removeCancelledJobs,
      removeFailedJobs: NODE_DEFAULTS.removeFailedJobs,
    });
  });

  it('lifecycle rules - node options win over the defaults', () => {
    const cache = new LifecycleRulesCache(
      rulesOf({
        maxAttempt: 3,
        retryMultiplier: 1,
        removeDoneJobs: false,
        removeCancelledJobs: false,
        removeFailedJobs: true,
      }),
    );
    expect(cache.node).toEqual({
      maxAttempt: 3,
      retryMultiplier: 1,
      removeDoneJobs: false,
      removeCancelledJobs: false,
      removeFailedJobs: true,
    });
  });

  it('lifecycle rules - no definition defaults: the node rules themselves', () => {
    const cache = new LifecycleRulesCache(rulesOf({ maxAttempt: 4 }));
    expect(cache.for(undefined)).toBe(cache.node);
  });

  it('lifecycle rules - a definition maxAttempt and backoff win over the node', () => {
    const cache = new LifecycleRulesCache(rulesOf({ maxAttempt: 4, retryMultiplier: 2 }));
    const backoff = (attempt: number): number => attempt * 100;
    const rules = cache.for({ maxAttempt: 7, backoff });
    expect(rules).toMatchObject({ maxAttempt: 7, retryMultiplier: 2, backoff });
    expect(cache.node.maxAttempt).toBe(4);
    expect(cache.node.backoff).toBeUndefined();
  });

  it('lifecycle rules - a definition without maxAttempt keeps the node one', () => {
    const cache = new LifecycleRulesCache(rulesOf({ maxAttempt: 4 }));
    const rules = cache.for({ timeoutMs: 1000 });
    expect(rules.maxAttempt).toBe(4);
    expect(rules).not.toBe(cache.node);
    expect(rules.backoff).toBeUndefined();
  });

  it('lifecycle rules - made once per definition, not per attempt', () => {
    const cache = new LifecycleRulesCache(rulesOf({}));
    const a: ResolvedJobOptions = { maxAttempt: 2 };
    const b: ResolvedJobOptions = { maxAttempt: 2 };
    const first = cache.for(a);
    expect(cache.for(a)).toBe(first);
    expect(cache.for(b)).not.toBe(first);
    expect(cache.for(b)).toEqual(first);
  });
});
