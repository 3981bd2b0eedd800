import { describe, expect, it } from 'vitest';
import { buildJobSpec, type EnqueueOptions } from '../../../src/distributor/enqueue-options.ts';
import type { NodeSession } from '../../../src/distributor/node-session.ts';
import { TrackState, TrackedJob, type SafeCall } from '../../../src/distributor/tracked-job.ts';
import {
  ErrorCodes,
  IllegalTransitionError,
  JobCancelledError,
  JobFailedError,
} from '../../../src/errors.ts';
import type { Feedback, JobArgs } from '../../../src/model/job.ts';

const NOW = 1_700_000_000_000;

/** The fields TrackedJob reads of its holder. */
function session(name: string, durable = false): NodeSession {
  return { name, durable, unstartedBytes: 0 } as unknown as NodeSession;
}

interface Calls {
  success: JobArgs[];
  error: { args: JobArgs; code: string }[];
}

function tracked(options?: EnqueueOptions, args: JobArgs = { a: 1 }) {
  const { spec, routing } = buildJobSpec({
    name: 'j',
    args,
    options,
    id: 'id-1',
    distributor: 'd',
    now: NOW,
  });
  const calls: Calls = { success: [], error: [] };
  const job = new TrackedJob(
    spec,
    routing,
    (a) => void calls.success.push(a),
    (a, e) => void calls.error.push({ args: a, code: e.code }),
  );
  // Feedback callbacks run at once here (the distributor wraps them to catch throws).
  const call: SafeCall = (_id, fn) => void fn();
  return { job, calls, call };
}

function feedback(over: Partial<Feedback> = {}): Feedback {
  return {
    key: 'id-1',
    jobId: 'id-1',
    distributor: 'd',
    node: 'n1',
    outcome: 'success',
    final: true,
    args: { a: 2 },
    attempt: 1,
    ...over,
  };
}

/** Settles a lazy outcome's promise into a plain value for assertions. */
async function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  return p.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
}

/** Every way of getting a job into each state, for the illegal-transition table. */
function inState(state: TrackState) {
  const t = tracked();
  const s = session('n1');
  if (state === TrackState.Sent || state === TrackState.Accepted) t.job.dispatch(s, true, 10);
  if (state === TrackState.Accepted) t.job.accept(s);
  if (state === TrackState.Done) t.job.cancelWaiting();
  return { ...t, s };
}

describe('TrackedJob - transitions', () => {
  it('waiting → sent → accepted → done by a final success feedback resolves result', async () => {
    const { job, calls, call } = tracked();
    const s = session('n1');
    expect(job.state).toBe(TrackState.Waiting);
    job.dispatch(s, true, 10);
    expect(job.state).toBe(TrackState.Sent);
    expect(job.session).toBe(s);
    // Not running until its node says it started (it may wait there, prefetched).
    expect(job.running).toBe(false);
    job.noteRun(true);
    expect(job.running).toBe(true);
    expect(job.accept(s)).toBe(true);
    expect(job.state).toBe(TrackState.Accepted);
    expect(await job.accepted.promise).toEqual({ node: 'n1' });
    job.deliver(feedback(), call);
    expect(job.state).toBe(TrackState.Done);
    expect(job.session).toBeUndefined();
    expect(calls.success).toEqual([{ a: 2 }]);
    expect(await job.result.promise).toEqual({ a: 2 });
  });

  it('accept is refused (no change) from another node, twice, or before dispatch', () => {
    const { job } = tracked();
    expect(job.accept(session('n1'))).toBe(false);
    const s = session('n1');
    job.dispatch(s, true, 10);
    expect(job.accept(session('n2'))).toBe(false);
    expect(job.state).toBe(TrackState.Sent);
    expect(job.accept(s)).toBe(true);
    expect(job.accept(s)).toBe(false);
    expect(job.state).toBe(TrackState.Accepted);
  });

  it('sent → done by a final feedback whose "accepted" never came: accepted resolves with the node that ran it', async () => {
    const { job, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    job.deliver(feedback({ node: 'n1' }), call);
    expect(job.state).toBe(TrackState.Done);
    expect(await outcome(job.accepted.promise)).toEqual({ ok: { node: 'n1' } });
    expect(await job.result.promise).toEqual({ a: 2 });
  });

  it("waiting (taken back from a cut node) → done by that node's final feedback: accepted resolves too", async () => {
    const { job, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    expect(job.takeBack(3, call)).toBe('requeued');
    job.deliver(feedback({ node: 'n1' }), call);
    expect(job.state).toBe(TrackState.Done);
    expect(await outcome(job.accepted.promise)).toEqual({ ok: { node: 'n1' } });
  });

  it("a feedback leaves an accepted job's `accepted` as it was (the node that stored it)", async () => {
    const { job, call } = tracked({ period: 1 });
    const s = session('n1');
    job.dispatch(s, false, 10);
    job.accept(s);
    job.deliver(feedback({ node: 'n2', final: false, next: NOW + 1000, runs: 1 }), call);
    expect(await job.accepted.promise).toEqual({ node: 'n1' });
  });

  it('sent → waiting when the node refuses it, unchanged (same delivery)', () => {
    const { job } = tracked();
    job.dispatch(session('n1'), true, 10);
    job.refused();
    expect(job.state).toBe(TrackState.Waiting);
    expect(job.session).toBeUndefined();
    expect(job.spec.delivery).toBe(1);
    expect(job.running).toBe(false);
  });

  it('a final error feedback rejects result with JobFailedError and runs onError', async () => {
    const { job, calls, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    const error = { name: 'TypeError', code: 'JR_ERR_JOB_THREW', message: 'boom' };
    job.deliver(feedback({ outcome: 'error', error, args: { a: 1, error } }), call);
    expect(job.state).toBe(TrackState.Done);
    expect(calls.error.map((e) => e.code)).toEqual(['JR_ERR_JOB_THREW']);
    const r = await outcome(job.result.promise);
    expect('err' in r && r.err).toBeInstanceOf(JobFailedError);
  });

  it('a non-final periodic feedback keeps the job and remembers where it stands (memory holder)', () => {
    const { job, calls, call } = tracked({ period: 1 }, { n: 0 });
    job.dispatch(session('n1'), false, 0);
    job.noteRun(true);
    job.deliver(
      feedback({
        final: false,
        key: 'id-1@x',
        args: { n: 1, jobItself: {} },
        next: NOW + 2000,
        runs: 1,
      }),
      call,
    );
    expect(job.state).toBe(TrackState.Sent);
    expect(job.running).toBe(false);
    expect(calls.success).toHaveLength(1);
    // The next node resumes from here: the run's args (without the runner's keys), its slot, its count.
    expect(job.spec.args).toEqual({ n: 1 });
    expect(job.spec.runAt).toBe(NOW + 2000);
    expect(job.spec.runs).toBe(1);
    expect(job.result.settled).toBe(false);
  });

  it('a run reported by a node the job has moved away from is not taken (final ones are)', () => {
    const { job, call } = tracked({ period: 1 }, { n: 0 });
    const old = session('old');
    const now = session('new');
    job.dispatch(old, false, 0);
    job.takeBack(3, call);
    // Waiting to move: the old node's report of a finished run is taken, and resumes from it.
    expect(job.takes(feedback({ final: false }), old)).toBe(true);
    job.dispatch(now, false, 0);
    expect(job.takes(feedback({ final: false }), old)).toBe(false);
    expect(job.takes(feedback({ final: false }), now)).toBe(true);
    expect(job.takes(feedback({ final: true }), old)).toBe(true);
  });

  it('a durable holder keeps a periodic job itself: its spec is not rewritten', () => {
    const { job, call } = tracked({ period: 1 }, { n: 0 });
    const s = session('n1', true);
    job.dispatch(s, false, 0);
    job.accept(s);
    job.deliver(feedback({ final: false, args: { n: 1 }, next: NOW + 2000, runs: 1 }), call);
    expect(job.spec.args).toEqual({ n: 0 });
    expect(job.spec.runs).toBeUndefined();
  });

  it('takeBack of a job that was not running: requeued, delivery + 1, no crash counted', () => {
    const { job, call } = tracked({ after: 60 });
    job.dispatch(session('n1'), false, 0);
    expect(job.takeBack(3, call)).toBe('requeued');
    expect(job.state).toBe(TrackState.Waiting);
    expect(job.spec.delivery).toBe(2);
    expect(job.spec.crashes).toBeUndefined();
    expect(job.item).toBeUndefined();
  });

  it('takeBack of a running job counts a crash of that node; at maxDeliveries it is quarantined', async () => {
    const { job, calls, call } = tracked();
    for (const [i, node] of ['n1', 'n2'].entries()) {
      job.dispatch(session(node), true, 10);
      job.noteRun(true);
      expect(job.takeBack(3, call)).toBe('requeued');
      expect(job.spec.crashes).toBe(i + 1);
    }
    expect(job.spec.crashedOn).toEqual(['n1', 'n2']);
    job.dispatch(session('n3'), true, 10);
    job.noteRun(true);
    expect(job.takeBack(3, call)).toBe('quarantined');
    expect(job.state).toBe(TrackState.Done);
    expect(calls.error.map((e) => e.code)).toEqual([ErrorCodes.PoisonJob]);
    const r = await outcome(job.result.promise);
    expect('err' in r && r.err).toBeInstanceOf(JobFailedError);
    expect('err' in r && (r.err as JobFailedError).error.code).toBe(ErrorCodes.PoisonJob);
    expect('err' in r && (r.err as JobFailedError).error.details).toEqual({
      nodes: ['n1', 'n2', 'n3'],
    });
  });

  it('noteRun: a deferred job counts as running only between started and stopped', () => {
    const { job, call } = tracked({ after: 1 });
    job.dispatch(session('n1'), false, 0);
    expect(job.running).toBe(false);
    job.noteRun(true);
    expect(job.running).toBe(true);
    job.noteRun(false);
    expect(job.takeBack(1, call)).toBe('requeued');
    // Ignored outside sent/accepted: a late note for a job that moved on.
    job.noteRun(true);
    expect(job.running).toBe(false);
  });

  it('a retry waiting on the lost node carries on: its attempts so far travel with it', () => {
    const { job, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    job.noteRun(false, 2); // attempt 2 failed, the third waits for its retry delay
    job.takeBack(3, call);
    expect(job.spec.attempt).toBe(2);
    expect(job.spec.crashes).toBeUndefined();
    // Running at the crash: that attempt counts too (as on a durable node that restarts).
    job.dispatch(session('n2'), true, 10);
    job.noteRun(true);
    job.takeBack(3, call);
    expect(job.spec.attempt).toBe(1);
    expect(job.spec.crashes).toBe(1);
  });

  it('a prefetched instant job taken back before it started: requeued, no crash counted', () => {
    const { job, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    expect(job.takeBack(3, call)).toBe('requeued');
    expect(job.spec.crashes).toBeUndefined();
    expect(job.spec.attempt).toBeUndefined();
  });

  it("an instant job counts its bytes in its session's window from dispatch until it starts or leaves", () => {
    const leaves: [string, (t: ReturnType<typeof tracked>) => void][] = [
      ['start', (t) => t.job.noteRun(true)],
      ['refused', (t) => t.job.refused()],
      ['takeBack', (t) => t.job.takeBack(3, t.call)],
      ['feedback', (t) => t.job.deliver(feedback(), t.call)],
      [
        'failUndelivered',
        (t) => t.job.failUndelivered({ name: 'E', code: 'C', message: '' }, '', t.call),
      ],
      ['shutdown', (t) => t.job.shutdown(new Error('closed'))],
    ];
    for (const [what, leave] of leaves) {
      const t = tracked();
      const s = session('n1');
      t.job.dispatch(s, true, 123);
      expect(s.unstartedBytes, what).toBe(123);
      leave(t);
      expect(s.unstartedBytes, what).toBe(0);
      // Counted once: a second note changes nothing.
      t.job.noteRun(true);
      expect(s.unstartedBytes, what).toBe(0);
    }
    // A deferred job never counts (it takes no credit).
    const d = tracked({ after: 60 });
    const s = session('n1');
    d.job.dispatch(s, false, 0);
    expect(s.unstartedBytes).toBe(0);
  });

  it('takeBack of a job the application asked to cancel ends it cancelled', async () => {
    const { job, call } = tracked();
    job.dispatch(session('n1'), true, 10);
    job.requestCancel();
    expect(job.cancelRequested).toBe(true);
    expect(job.takeBack(3, call)).toBe('cancelled');
    expect(job.state).toBe(TrackState.Done);
    const r = await outcome(job.result.promise);
    expect('err' in r && r.err).toBeInstanceOf(JobCancelledError);
  });

  it('waiting → done by cancelWaiting or failUndelivered; any → done by shutdown', async () => {
    const a = tracked();
    a.job.cancelWaiting();
    expect(a.job.done).toBe(true);
    expect('err' in (await outcome(a.job.accepted.promise))).toBe(true);
    const b = tracked();
    b.job.failUndelivered({ name: 'E', code: 'JR_ERR_UNKNOWN_JOB', message: 'x' }, '', b.call);
    expect(b.job.done).toBe(true);
    expect(b.calls.error.map((e) => e.code)).toEqual(['JR_ERR_UNKNOWN_JOB']);
    const c = tracked();
    c.job.dispatch(session('n1'), true, 10);
    c.job.shutdown(new Error('closed'));
    expect(c.job.done).toBe(true);
    expect(await outcome(c.job.result.promise)).toEqual({ err: new Error('closed') });
  });

  it('illegal transitions throw IllegalTransitionError and change nothing', () => {
    const illegal: [TrackState, (t: ReturnType<typeof inState>) => void][] = [
      [TrackState.Sent, (t) => t.job.dispatch(t.s, true, 10)],
      [TrackState.Accepted, (t) => t.job.dispatch(t.s, true, 10)],
      [TrackState.Done, (t) => t.job.dispatch(t.s, true, 10)],
      [TrackState.Waiting, (t) => t.job.refused()],
      [TrackState.Accepted, (t) => t.job.refused()],
      [TrackState.Done, (t) => t.job.refused()],
      [TrackState.Waiting, (t) => t.job.takeBack(3, t.call)],
      [TrackState.Done, (t) => t.job.takeBack(3, t.call)],
      [TrackState.Done, (t) => t.job.deliver(feedback(), t.call)],
      [TrackState.Waiting, (t) => t.job.requestCancel()],
      [TrackState.Done, (t) => t.job.requestCancel()],
      [TrackState.Sent, (t) => t.job.cancelWaiting()],
      [TrackState.Accepted, (t) => t.job.cancelWaiting()],
      [TrackState.Done, (t) => t.job.cancelWaiting()],
      [
        TrackState.Accepted,
        (t) => t.job.failUndelivered({ name: 'E', code: 'C', message: '' }, '', t.call),
      ],
      [
        TrackState.Done,
        (t) => t.job.failUndelivered({ name: 'E', code: 'C', message: '' }, '', t.call),
      ],
    ];
    for (const [state, act] of illegal) {
      const t = inState(state);
      expect(t.job.state).toBe(state);
      expect(() => act(t)).toThrow(IllegalTransitionError);
      expect(t.job.state).toBe(state);
    }
  });
});
