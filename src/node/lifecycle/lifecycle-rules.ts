import type { ResolvedJobOptions } from '../definitions/job-registry.ts';
import type { LifecycleRules } from './job-lifecycle.ts';
import type { NodeRules } from '../node-options.ts';

/**
 * The lifecycle rules an attempt settles under. Per-job enqueue options win over the job
 * definition's defaults, which win over the node's. The rules of a definition are made
 * once and cached (weakly, by its resolved options), not made per attempt.
 */
export class LifecycleRulesCache {
  /** The node's own rules (resolved from its options: see resolveNodeOptions). */
  readonly node: LifecycleRules;
  readonly #byDefinition = new WeakMap<ResolvedJobOptions, LifecycleRules>();

  constructor(rules: NodeRules) {
    this.node = { ...rules };
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
