import type { Routing } from './enqueue-options.ts';
import type { NodeSession } from './node-session.ts';

/** Why no node was picked; decides where a job waits. */
export type NoPick = 'no-credit' | 'no-node' | 'unknown-job';

/**
 * Picks the node for a job. Eligible: usable, not in `notNode`, knows the job name, and
 * (for strict jobs) in `node`. Preferred nodes win when one has room; otherwise the
 * eligible node with the most room (instant jobs: credit; deferred: fewest held), ties
 * broken round-robin so equal nodes share the load.
 */
export class NodeSelector {
  #turn = 0;

  pick(
    sessions: readonly NodeSession[],
    name: string,
    routing: Routing,
    instant: boolean,
  ): NodeSession | NoPick {
    let best: NodeSession | undefined;
    let bestScore = -Infinity;
    let bestPreferred: NodeSession | undefined;
    let bestPreferredScore = -Infinity;
    let eligibleSeen = false;
    let knownSeen = false;
    let anyUsable = false;
    const n = sessions.length;
    const start = n === 0 ? 0 : this.#turn++ % n;
    for (let i = 0; i < n; i++) {
      const s = sessions[(start + i) % n]!;
      if (!s.usable) continue;
      anyUsable = true;
      if (!s.jobNames.has(name)) continue;
      knownSeen = true;
      if (routing.excluded?.has(s.name)) continue;
      const preferred = routing.preferred?.has(s.name) ?? false;
      if (routing.strict && !preferred) continue;
      eligibleSeen = true;
      if (instant && !s.takesInstant) continue;
      const score = instant ? s.credit : -s.deferredHeld;
      if (preferred && score > bestPreferredScore) {
        bestPreferred = s;
        bestPreferredScore = score;
      }
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    const picked = bestPreferred ?? best;
    if (picked) return picked;
    if (eligibleSeen) return 'no-credit';
    // Nodes are connected and none of them can run this job: a typo or a missing job file.
    if (!knownSeen && anyUsable) return 'unknown-job';
    return 'no-node';
  }
}
