import type { Routing } from './enqueue-options.ts';
import type { NodeSession } from './node-session.ts';

/** Why no node was picked; decides where a job waits. */
export type NoPick = 'no-credit' | 'no-node' | 'too-large' | 'unknown-job';

/** Scores at or above this: a node with an idle run slot (see `pick`). */
const IDLE_SLOT = 1e9;

/**
 * Picks the node for a job. Eligible: usable, not in `notNode`, knows the job name, and
 * (for strict jobs) in `node`. For an instant job, a node with an idle run slot beats one
 * that could only prefetch it (a job queued behind others on a busy node while another
 * idles would wait for nothing); then the one with the most room (idle slots, else credit).
 * Preferred nodes win when one has an idle slot, or when no node has one; deferred jobs go
 * to the node holding the fewest. Ties are broken round-robin so equal nodes share the load.
 * A node whose link is full for this turn (`hasSendRoom`) takes nothing: 'no-credit'. A
 * node with a smaller frame limit than the job's encoded size (`jobBytes`) is not
 * eligible: such a job waits for a node that can take it ('too-large' when a node would
 * have taken it but for that limit, else 'no-node').
 */
export class NodeSelector {
  #turn = 0;
  /**
   * After a pick that answered 'too-large': the largest job any node it turned down for size
   * takes (for the operator's log line).
   */
  largestRefusedFrame = 0;

  pick(
    sessions: readonly NodeSession[],
    name: string,
    routing: Routing,
    instant: boolean,
    jobBytes = 0,
  ): NodeSession | NoPick {
    let best: NodeSession | undefined;
    let bestScore = -Infinity;
    let bestPreferred: NodeSession | undefined;
    let bestPreferredScore = -Infinity;
    let eligibleSeen = false;
    let knownSeen = false;
    let anyUsable = false;
    let largestRefused = 0;
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
      if (jobBytes > s.maxJobBytes) {
        largestRefused = Math.max(largestRefused, s.maxJobBytes);
        continue;
      }
      eligibleSeen = true;
      if (!s.hasSendRoom || (instant && !s.takesInstant)) continue;
      const score = instant ? instantScore(s) : -s.deferredHeld;
      if (preferred && score > bestPreferredScore) {
        bestPreferred = s;
        bestPreferredScore = score;
      }
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    const picked =
      bestPreferred !== undefined && (bestPreferredScore >= IDLE_SLOT || bestScore < IDLE_SLOT)
        ? bestPreferred
        : best;
    if (picked) return picked;
    if (eligibleSeen) return 'no-credit';
    // Nodes are connected and none of them can run this job: a typo or a missing job file.
    if (!knownSeen && anyUsable) return 'unknown-job';
    if (largestRefused === 0) return 'no-node';
    this.largestRefusedFrame = largestRefused;
    return 'too-large';
  }
}

/** Idle run slots (the node's outstanding instant jobs below its capacity), else its credit. */
function instantScore(s: NodeSession): number {
  const idle = s.capacity - (s.window - s.credit);
  return idle > 0 ? IDLE_SLOT + idle : s.credit;
}
