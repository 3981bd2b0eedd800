import { describe, expect, it } from 'vitest';
import {
  ANY_NODE,
  buildJobSpec,
  type EnqueueOptions,
} from '../../../src/distributor/enqueue-options.ts';
import { NodeSelector } from '../../../src/distributor/node-selector.ts';
import type { NodeSession } from '../../../src/distributor/node-session.ts';
import { TrackedJob } from '../../../src/distributor/tracked-job.ts';

const NOW = 1_700_000_000_000;
const build = (options?: EnqueueOptions) =>
  buildJobSpec({ name: 'j', args: {}, options, id: 'id-1', distributor: 'd', now: NOW });

/** The fields NodeSelector reads. */
function session(name: string, credit = 1, capacity = credit, window = credit): NodeSession {
  return {
    name,
    usable: true,
    jobNames: new Set(['j']),
    credit,
    capacity,
    window,
    deferredHeld: 0,
    hasSendRoom: true,
    maxJobBytes: 8 * 1024 * 1024,
    get takesInstant() {
      return (this as unknown as NodeSession).credit > 0;
    },
  } as unknown as NodeSession;
}

describe('routing', () => {
  it('an instant job goes to a node with an idle slot before one that could only prefetch it', () => {
    const selector = new NodeSelector();
    // busy: 2 slots, window 100, 2 outstanding (no idle slot, 98 credit). idle: 2 slots free.
    const busy = session('busy', 98, 2, 100);
    const idle = session('idle', 4, 2, 4);
    expect(selector.pick([busy, idle], 'j', ANY_NODE, true)).toBe(idle);
    // Soft preference: the preferred node while it has an idle slot, else an idle other…
    const prefer = (name: string) =>
      buildJobSpec({
        name: 'j',
        args: {},
        options: { node: name },
        id: 'x',
        distributor: 'd',
        now: 1,
      }).routing;
    expect(selector.pick([busy, idle], 'j', prefer('busy'), true)).toBe(idle);
    expect(selector.pick([busy, idle], 'j', prefer('idle'), true)).toBe(idle);
    // …and the preferred one again when no node has an idle slot (it prefetches it).
    const busy2 = session('busy2', 200, 2, 202);
    expect(selector.pick([busy, busy2], 'j', prefer('busy'), true)).toBe(busy);
    expect(selector.pick([busy, busy2], 'j', ANY_NODE, true)).toBe(busy2);
  });

  it('a job larger than a node takes in a frame goes to one that can, or waits for one (too-large)', () => {
    const selector = new NodeSelector();
    const small = Object.assign(session('small', 10), { maxJobBytes: 64 * 1024 });
    const big = session('big', 1);
    // The small node has more room, and takes every job that fits it…
    expect(selector.pick([small, big], 'j', ANY_NODE, true, 1000)).toBe(small);
    expect(selector.pick([small, big], 'j', ANY_NODE, true, 64 * 1024)).toBe(small);
    // …but never one over its limit.
    expect(selector.pick([small, big], 'j', ANY_NODE, true, 64 * 1024 + 1)).toBe(big);
    expect(selector.pick([small], 'j', ANY_NODE, true, 100_000)).toBe('too-large');
    // Excluded anyway: the size is not why it waits.
    const notSmall = { preferred: undefined, excluded: new Set(['small']), strict: false };
    expect(selector.pick([small], 'j', notSmall, true, 100_000)).toBe('no-node');
  });

  it('a job without node / notNode / strictNode shares one frozen routing object', () => {
    const a = build().routing;
    const b = build({ after: 5, strictNode: false }).routing;
    expect(a).toBe(ANY_NODE);
    expect(b).toBe(ANY_NODE);
    expect(Object.isFrozen(ANY_NODE)).toBe(true);
    expect(ANY_NODE).toEqual({ preferred: undefined, excluded: undefined, strict: false });
  });

  it('a job with node or notNode gets its own routing', () => {
    expect(build({ node: 'n1' }).routing).toEqual({
      preferred: new Set(['n1']),
      excluded: undefined,
      strict: false,
    });
    expect(build({ node: ['n1'], strictNode: true }).routing.strict).toBe(true);
    expect(build({ notNode: 'n2' }).routing).toEqual({
      preferred: undefined,
      excluded: new Set(['n2']),
      strict: false,
    });
    // An empty list is no constraint.
    expect(build({ node: [], notNode: [] }).routing).toBe(ANY_NODE);
  });

  it('NodeSelector picks any eligible node for ANY_NODE', () => {
    const selector = new NodeSelector();
    const s1 = session('n1', 1);
    const s2 = session('n2', 3);
    expect(selector.pick([s1, s2], 'j', ANY_NODE, true)).toBe(s2);
    expect(selector.pick([], 'j', ANY_NODE, true)).toBe('no-node');
    expect(selector.pick([session('n1', 0)], 'j', ANY_NODE, true)).toBe('no-credit');
    expect(selector.pick([s1], 'other', ANY_NODE, true)).toBe('unknown-job');
  });

  it('NodeSelector: a node whose link is full this turn takes no job, instant or delayed', () => {
    const selector = new NodeSelector();
    const full = { ...session('full', 5), hasSendRoom: false } as NodeSession;
    const other = session('other', 1);
    for (const instant of [true, false]) {
      expect(selector.pick([full], 'j', ANY_NODE, instant)).toBe('no-credit'); // waits, not stranded
      expect(selector.pick([full, other], 'j', ANY_NODE, instant)).toBe(other);
    }
  });
});

describe('TrackedJob', () => {
  it('instant: due at enqueue and not recurring, as isInstant said at enqueue', () => {
    const track = (options?: EnqueueOptions) =>
      new TrackedJob(build(options).spec, ANY_NODE, undefined, undefined);
    expect(track().instant).toBe(true);
    expect(track({ runAt: NOW - 1000 }).instant).toBe(true);
    expect(track({ after: 1 }).instant).toBe(false);
    expect(track({ period: 60 }).instant).toBe(false);
    expect(track({ cron: '* * * * *' }).instant).toBe(false);
  });
});
