import { ClosedError, JobReactorError, QueueFullError, UnknownJobError } from '../errors.ts';
import { encodeJobItem } from '../protocol/batch-frames.ts';
import type { ErrorInfo } from '../errors.ts';
import type { Clock } from '../model/clock.ts';
import { isInstant } from './enqueue-options.ts';
import { NodeSelector } from './node-selector.ts';
import type { NodeSession } from './node-session.ts';
import type { Feedback } from '../model/job.ts';
import type { SafeCall, TrackedJob } from './tracked-job.ts';
import { WaitingQueue } from './waiting-queue.ts';

/** What the dispatcher tells its distributor. */
export interface DispatchHooks {
  clock: Clock;
  /** Largest frame body (a job re-encoded to move must still fit). */
  maxFrameSize: number;
  /** What to do with a job no connected node can run. */
  unknownJobs: 'fail' | 'wait';
  /** False once the distributor is closing: queued jobs stay where they are. */
  isOpen(): boolean;
  /** The job cannot be run (unknown name, encoding failed): end it with this error. */
  fail(job: TrackedJob, error: ErrorInfo, node: string): void;
  /** The job went to `node`. */
  dispatched(job: TrackedJob, node: string): void;
  /**
   * The job waits because it is `bytes` encoded and every node that could run it takes
   * smaller frames (the largest takes `largest`): said once per job.
   */
  tooLarge(job: TrackedJob, bytes: number, largest: number): void;
}

/**
 * Where jobs go: the connected nodes, the queue of jobs waiting for room on one, and the
 * jobs no connected node may run at all. Sends a job when a node with credit (instant
 * jobs) or room (deferred ones) can take it, and drains the queue when credit comes back
 * or the nodes change: event-driven, no timers.
 */
export class Dispatcher {
  /** Connected nodes, in connection order (the selector breaks ties round-robin). */
  readonly sessions: NodeSession[] = [];
  readonly #waiting: WaitingQueue;
  /**
   * Jobs no connected node may run at all (strict node absent, every node excluded):
   * looked at again only when a node connects or changes, never on credit.
   */
  readonly #stranded = new WaitingQueue(Number.POSITIVE_INFINITY);
  readonly #selector = new NodeSelector();
  /** Jobs already reported as too large for every node (see DispatchHooks.tooLarge). */
  readonly #reportedTooLarge = new WeakSet<TrackedJob>();
  readonly #hooks: DispatchHooks;
  #drainScheduled = false;
  /** Paused (`distributor.pause()`): every job waits in the queue; nothing is sent. */
  #paused = false;

  constructor(maxWaiting: number, hooks: DispatchHooks) {
    this.#waiting = new WaitingQueue(maxWaiting);
    this.#hooks = hooks;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** sending → paused: from now on every job waits here. False when paused already. */
  pause(): boolean {
    if (this.#paused) return false;
    this.#paused = true;
    return true;
  }

  /** paused → sending: the waiting jobs go out (priority order). False when not paused. */
  resume(): boolean {
    if (!this.#paused) return false;
    this.#paused = false;
    this.scheduleDrain(true);
    return true;
  }

  /** Jobs waiting for a node (queued and stranded). */
  get waiting(): number {
    return this.#waiting.size + this.#stranded.size;
  }

  /** @throws QueueFullError unless `n` more jobs fit in the waiting queue. */
  assertRoom(n: number): void {
    if (this.waiting + n > this.#waiting.limit) {
      throw new QueueFullError(`waiting queue is full (${this.#waiting.limit} jobs)`);
    }
  }

  /**
   * Sends a new job, or queues it. Returns false when it was queued.
   * @throws QueueFullError when it would have to wait and the queue is full.
   */
  admit(job: TrackedJob): boolean {
    const placed = this.#place(job, this.#hooks.clock.now());
    if (placed !== 'kept' && placed !== 'stranded') return true;
    this.assertRoom(1);
    (placed === 'kept' ? this.#waiting : this.#stranded).push(job);
    return false;
  }

  /** Jobs back from a node that left or refused them: first in line again. */
  requeue(jobs: TrackedJob[]): void {
    this.#waiting.unshiftAll(jobs);
  }

  /** A waiting job by id (a scan of the queues: for lookups). */
  findWaiting(id: string): TrackedJob | undefined {
    return this.#waiting.find(id) ?? this.#stranded.find(id);
  }

  /** Takes a waiting job out of the queues; false when it was not waiting. */
  remove(job: TrackedJob): boolean {
    return this.#waiting.remove(job) || this.#stranded.remove(job);
  }

  /** Takes every waiting job out (the distributor is closing) and returns them. */
  clear(): TrackedJob[] {
    return [...this.#waiting.takeAll(), ...this.#stranded.takeAll()];
  }

  /** Every job a connected node holds. */
  *held(): IterableIterator<TrackedJob> {
    for (const s of this.sessions) yield* s.held.values();
  }

  /**
   * `session` stored job `id`: a durable node owns it from now on (its storage survives a
   * crash). Returns the job when this was news (not a late or foreign answer).
   */
  accepted(session: NodeSession, job: TrackedJob | undefined): boolean {
    if (!job || !job.accept(session)) return false;
    if (session.durable) this.#release(session, job);
    return true;
  }

  /**
   * `session` refused these jobs (stopping, storage down, held back): they wait, first in
   * line, in the order given (one requeue for the whole message). Returns those it held.
   */
  rejected(session: NodeSession, ids: readonly string[]): TrackedJob[] {
    const back: TrackedJob[] = [];
    for (const id of ids) {
      const job = session.held.get(id);
      if (!job) continue;
      this.#release(session, job);
      if (job.instant) session.credit++;
      job.refused();
      back.push(job);
    }
    if (back.length > 0) this.requeue(back);
    return back;
  }

  /**
   * A feedback for `job` came from `from`. A final one ends it, and its holder lets it go:
   * a re-dispatched copy still held elsewhere is stopped, its work is done. (If the job was
   * also waiting to move, the next drain drops it: a queue scan per feedback would cost
   * O(waiting).)
   */
  feedback(job: TrackedJob, fb: Feedback, from: NodeSession, call: SafeCall): void {
    const holder = job.session;
    if (fb.final && holder !== undefined && holder.held.get(job.spec.id) === job) {
      this.#release(holder, job);
      if (holder !== from && !holder.closed) holder.send({ t: 'cancel', id: job.spec.id, req: 0 });
    }
    job.deliver(fb, call);
  }

  /** `session` forgets `job` (it owns it durably, gave it back, or finished it). */
  #release(session: NodeSession, job: TrackedJob): void {
    if (!session.held.delete(job.spec.id)) return;
    if (!job.instant) session.deferredHeld--;
  }

  /**
   * `session`'s connection ended: it leaves, and everything it held and did not own
   * durably is taken back (TrackedJob.takeBack): sent again to another node
   * (`back`, delivery + 1), ended because the application asked to cancel it
   * (`cancelled`), or quarantined after too many crashes while running (`quarantined`).
   */
  nodeLeft(
    session: NodeSession,
    maxDeliveries: number,
    call: SafeCall,
  ): { back: TrackedJob[]; cancelled: TrackedJob[]; quarantined: TrackedJob[] } {
    session.close();
    const i = this.sessions.indexOf(session);
    if (i >= 0) this.sessions.splice(i, 1);
    const out = {
      back: [] as TrackedJob[],
      cancelled: [] as TrackedJob[],
      quarantined: [] as TrackedJob[],
    };
    for (const job of session.held.values()) {
      if (job.done) continue;
      const r = job.takeBack(maxDeliveries, call);
      if (r === 'requeued') out.back.push(job);
      else if (r === 'cancelled') out.cancelled.push(job);
      else out.quarantined.push(job);
    }
    session.held.clear();
    session.deferredHeld = 0;
    this.requeue(out.back);
    return out;
  }

  /** `nodesChanged`: a node came, went or changed, so stranded jobs may have a node now. */
  scheduleDrain(nodesChanged = false): void {
    if (nodesChanged && this.#stranded.size > 0) this.#waiting.unshiftAll(this.#stranded.takeAll());
    if (this.#drainScheduled || this.#waiting.size === 0) return;
    this.#drainScheduled = true;
    // Coalesce: many credits arriving in one read cost one pass over the queue.
    queueMicrotask(() => {
      this.#drainScheduled = false;
      if (!this.#hooks.isOpen() || this.#paused) return;
      const stranded: TrackedJob[] = [];
      const now = this.#hooks.clock.now();
      this.#waiting.drain((job) => {
        if (job.done) return 'placed';
        // Nothing can take an instant job (or a delayed one now due): stop here instead of
        // walking the whole queue (100k waiting jobs and a credit at a time would make
        // dispatch quadratic).
        if ((job.instant || isInstant(job.spec, now)) && !this.#anyCredit()) return 'stop';
        const r = this.#place(job, now);
        // Every link is full for this turn: the same, until a socket drains.
        if (r === 'kept' && !this.#anySendRoom()) return 'stop';
        if (r === 'failed') return 'placed';
        if (r === 'stranded') {
          stranded.push(job);
          return 'placed';
        }
        return r;
      });
      for (const job of stranded) this.#stranded.push(job);
    });
  }

  /** Sends the job to a node if one can take it now. */
  #place(job: TrackedJob, now: number): 'placed' | 'kept' | 'stranded' | 'failed' {
    if (this.#paused) return 'kept';
    const instant = isInstant(job.spec, now);
    let item: Buffer;
    try {
      // Encoded before the pick: a node whose frame limit is smaller cannot take it.
      item = job.item ??= encodeJobItem(job.spec, this.#hooks.maxFrameSize);
    } catch (err) {
      // Encoding failed (e.g. the job is larger than the frame limit): fail this job only.
      const info =
        err instanceof JobReactorError ? err.toInfo() : new ClosedError(String(err)).toInfo();
      queueMicrotask(() => this.#hooks.fail(job, info, ''));
      return 'failed';
    }
    const picked = this.#selector.pick(
      this.sessions,
      job.spec.name,
      job.routing,
      instant,
      item.length,
    );
    if (picked === 'unknown-job' && this.#hooks.unknownJobs === 'fail') {
      const err = new UnknownJobError(`no connected node can run job '${job.spec.name}'`);
      // After the caller has its handle: feedbacks never run inside enqueue().
      queueMicrotask(() => this.#hooks.fail(job, err.toInfo(), ''));
      return 'failed';
    }
    if (picked === 'no-credit') return 'kept';
    if (picked === 'too-large' && !this.#reportedTooLarge.has(job)) {
      this.#reportedTooLarge.add(job);
      this.#hooks.tooLarge(job, item.length, this.#selector.largestRefusedFrame);
    }
    if (typeof picked === 'string') return 'stranded';
    picked.sendJob(item);
    if (instant) picked.credit--;
    else picked.deferredHeld++;
    job.dispatch(picked, instant, item.length);
    picked.held.set(job);
    this.#hooks.dispatched(job, picked.name);
    return 'placed';
  }

  #anyCredit(): boolean {
    for (const s of this.sessions) if (s.usable && s.takesInstant && s.hasSendRoom) return true;
    return false;
  }

  #anySendRoom(): boolean {
    for (const s of this.sessions) if (s.usable && s.hasSendRoom) return true;
    return false;
  }
}
