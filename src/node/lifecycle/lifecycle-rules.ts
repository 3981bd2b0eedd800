import { validateMaxAttempt, validateRetryMultiplier } from '../../scheduling/retry.ts';
import type { ResolvedJobOptions } from '../definitions/job-registry.ts';
import type { LifecycleRules } from './job-lifecycle.ts';
import { NODE_DEFAULTS, type NodeOptions } from '../node-options.ts';

/** The node options that set its default lifecycle rules. */
export type RuleNodeOptions = Pick<
  NodeOptions,
  'maxAttempt' | 'retryMultiplier' | 'removeDoneJobs' | 'removeCancelledJobs' | 'removeFailedJobs'
>;

/**
 * The lifecycle rules an attempt settles under. Per-job enqueue options win over the job
 * definition's defaults, which win over the node's. The rules of a definition are made
 * once and cached (weakly, by its resolved options), not made per attempt.
 */
export class LifecycleRulesCache {
  /** The node's own rules, from its options and NODE_DEFAULTS. */
  readonly node: LifecycleRules;
  readonly #byDefinition = new WeakMap<ResolvedJobOptions, LifecycleRules>();

  /** @throws InvalidArgumentError for a maxAttempt or retryMultiplier out of range. */
  constructor(options: RuleNodeOptions) {
    this.node = {
      maxAttempt: validateMaxAttempt(options.maxAttempt ?? NODE_DEFAULTS.maxAttempt),
      retryMultiplier: validateRetryMultiplier(
        options.retryMultiplier ?? NODE_DEFAULTS.retryMultiplier,
      ),
      removeDoneJobs: options.removeDoneJobs ?? NODE_DEFAULTS.removeDoneJobs,
      removeCancelledJobs: options.removeCancelledJobs ?? NODE_DEFAULTS.removeCancelledJobs,
      removeFailedJobs: options.removeFailedJobs ?? NODE_DEFAULTS.removeFailedJobs,
    };
  }

  /** The rules for a job definition's defaults; the node's own when there are none. */
  for(defaults: ResolvedJobOptions | undefined): LifecycleRules {
    if (defaults === undefined) return this.node;
    let rules = this.#byDefinition.get(defaults);
    if (rules === undefined) {
      rules = {
        ...this.node,
        ...(defaults.maxAttempt !== undefined ? { maxAttempt: defaults.maxAttempt } : {}),
        backoff: defaults.backoff,
      };
      this.#byDefinition.set(defaults, rules);
    }
    return rules;
  }
}
