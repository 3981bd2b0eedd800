import { ProtocolError } from '../errors.ts';
import type { Feedback } from '../model/job.ts';
import { ItemBatch, idParts } from '../protocol/batch-frames.ts';
import { encodeOwnFrame } from '../protocol/codec.ts';
import type { AnswerMessage, HelloMessage, Message } from '../protocol/messages.ts';
import type { Connection } from '../transport/connection.ts';
import { JobIndex } from './job-index.ts';

/** What `distributor.nodes()` reports about a connected node. */
export interface NodeInfo {
  name: string;
  instance: string;
  remote: string;
  /** Jobs it runs at once (its concurrency). */
  capacity: number;
  /** Instant jobs it takes at once, running and prefetched (capacity + prefetch). */
  window: number;
  /** Instant jobs it may still be sent now. */
  credit: number;
  durable: boolean;
  draining: boolean;
  paused: boolean;
  /** Jobs it holds that this distributor would re-dispatch if it vanished. */
  held: number;
  jobs: readonly string[];
  connectedAt: Date;
}

/** What a session hands to its distributor; everything else of the conversation it keeps. */
export interface SessionHost {
  /** The node stored these jobs. */
  accepted(session: NodeSession, ids: readonly string[]): void;
  /** The node refused these jobs (stopping, storage down, held back): route them elsewhere. */
  rejected(session: NodeSession, ids: readonly string[]): void;
  /** Feedbacks, `node` and `distributor` filled in; each one is acknowledged by the session. */
  feedback(session: NodeSession, fb: Feedback): void;
  /** The answer to cancel request `req`. */
  cancelled(req: number, ok: boolean): void;
  /** A measured ping came back. */
  pong(session: NodeSession, id: number | undefined): void;
  /** Credit came back or the node changed: waiting jobs may go now (`nodesChanged`: routing too). */
  room(nodesChanged: boolean): void;
  /** The node's status changed (paused, job names). */
  status(session: NodeSession): void;
  /** Running jobs reported progress: `values[i]` is job `ids[i]`'s latest. */
  progress(session: NodeSession, ids: readonly string[], values: readonly unknown[]): void;
  /** The node asks to start jobs of limited names (see StartPermits). */
  permits(session: NodeSession, ids: readonly string[], names: readonly string[]): void;
  /** The answer to a query (see NodeQueries). */
  answered(session: NodeSession, answer: AnswerMessage): void;
  /** The node sent what a node never sends: the link is closed with `error`. */
  protocolError(session: NodeSession, error: ProtocolError): void;
}

/**
 * One authenticated node connection, as the distributor sees it, and the one owner of the
 * conversation with it: the message switch, credit and the prefetch window, the batching
 * of jobs and acknowledgements, and the jobs the node holds.
 *
 * Jobs and acknowledgements of one event-loop turn leave in one frame each, assembled right
 * before the connection's write (its flush hook); any other message first flushes the
 * jobs queued before it, so the node sees everything in the order it was sent.
 *
 * Credit: the node grants `window` instant jobs (its run slots plus prefetch) and gives one
 * back when a job's first attempt ends. It also bounds the bytes of instant jobs sent and
 * not yet started (`windowBytes`): a session over it takes no instant job until starts
 * come in, except when nothing is outstanding (a job larger than the window still goes).
 *
 * States: ready → draining (the node said it is stopping) → closed.
 */
export class NodeSession {
  readonly name: string;
  readonly instance: string;
  readonly capacity: number;
  readonly window: number;
  readonly windowBytes: number;
  readonly durable: boolean;
  jobNames: ReadonlySet<string>;
  readonly connectedAt: number;
  credit: number;
  /** Bytes of instant jobs sent here and not yet started (kept by TrackedJob's transitions). */
  unstartedBytes = 0;
  draining = false;
  /** The node said it cannot store jobs for now (its storage is down). */
  paused = false;
  closed = false;
  /** Jobs sent to this node and not yet final (for durable nodes: only until accepted). */
  readonly held = new JobIndex();
  /** Deferred (non-instant) jobs held: the spread metric for them. */
  deferredHeld = 0;
  readonly #jobs: ItemBatch;
  #acks: string[] = [];
  readonly #host: SessionHost;
  readonly #distributorId: string;
  /** Largest frame body sent to this node: ours, or the node's own limit when smaller. */
  readonly maxFrameSize: number;
  /** Largest job item (as encoded) a `jobs` frame to this node holds. */
  readonly maxJobBytes: number;

  constructor(
    readonly connection: Connection,
    hello: HelloMessage,
    now: number,
    opts: { host: SessionHost; distributorId: string; maxFrameSize: number },
  ) {
    this.name = hello.node;
    this.instance = hello.instance;
    this.capacity = hello.capacity;
    this.window = Math.max(hello.window, hello.capacity, 1);
    this.windowBytes = hello.windowBytes;
    this.credit = this.window;
    this.durable = hello.durable;
    this.jobNames = new Set(hello.jobs);
    this.connectedAt = now;
    this.#host = opts.host;
    this.#distributorId = opts.distributorId;
    this.maxFrameSize = Math.min(opts.maxFrameSize, hello.maxFrame ?? opts.maxFrameSize);
    this.#jobs = new ItemBatch('jobs', this.maxFrameSize);
    this.maxJobBytes = this.#jobs.maxItemBytes;
    connection.setFlushHook(this.#flushBatches);
    // The socket took a burst that had filled the link: what waits for room may go now.
    connection.setDrainHook(() => this.#host.room(false));
  }

  get usable(): boolean {
    return !this.closed && !this.draining && !this.paused;
  }

  /**
   * Whether another job may be queued on the link in this turn: this turn's jobs and what
   * is still unwritten stay under the connection's high-water mark (a burst of 300k delayed
   * jobs, ~18 MB, used to get the node cut as a slow consumer, again on every reconnect;
   * a burst of millions would pass any cap). A link with room takes a first job of the
   * turn however large it is. The rest wait in the distributor's queue until the socket
   * drains.
   */
  get hasSendRoom(): boolean {
    const room = this.connection.sendRoom();
    const queued = this.#jobs.bytes;
    return room > queued || (queued === 0 && room > 0);
  }

  /** Whether an instant job may be sent now: credit left, and the byte window not full. */
  get takesInstant(): boolean {
    return this.credit > 0 && (this.unstartedBytes < this.windowBytes || this.unstartedBytes === 0);
  }

  /** Queues a job (its item encoded at enqueue) for this turn's `jobs` frame. */
  sendJob(item: Buffer): void {
    if (this.#jobs.size === 0 && this.#acks.length === 0) this.connection.requestFlush();
    this.#jobs.add(item);
  }

  /** Sends a message after the jobs queued before it. */
  send(message: Message): void {
    this.#jobs.flush(this.#sendFrame);
    this.connection.send(message);
  }

  /** The conversation: every message the node sends after the handshake. */
  handle(m: Message): void {
    switch (m.t) {
      case 'feedbacks':
        for (const fb of m.fbs) {
          fb.node = this.name;
          fb.distributor = this.#distributorId;
          this.#ack(fb.key);
          this.#host.feedback(this, fb);
        }
        return;
      case 'accepted':
        this.#host.accepted(this, m.ids);
        return;
      case 'credit':
        this.credit += m.n;
        this.#host.room(false);
        return;
      case 'runs':
        for (const id of m.started) this.held.get(id)?.noteRun(true);
        for (let i = 0; i < m.stopped.length; i++) {
          this.held.get(m.stopped[i]!)?.noteRun(false, m.attempts?.[i]);
        }
        // Starts free room in the byte window.
        if (m.started.length > 0 && this.credit > 0) this.#host.room(false);
        return;
      case 'rejected':
        this.#host.rejected(this, m.ids);
        return;
      case 'cancelled':
        this.#host.cancelled(m.req, m.ok);
        return;
      case 'reconcile':
        // Which of these does this node still hold? The others were taken back (and sent
        // elsewhere) while its link was silent: it must drop them without running them.
        this.send({ t: 'owned', ids: m.ids.filter((id) => this.held.get(id) !== undefined) });
        return;
      case 'drain':
        this.draining = true;
        return;
      case 'pong':
        this.#host.pong(this, m.id);
        return;
      case 'progress':
        this.#host.progress(this, m.ids, m.values);
        return;
      case 'answer':
        this.#host.answered(this, m);
        return;
      case 'permits':
        this.#host.permits(this, m.ids, m.names);
        return;
      case 'status':
        this.paused = !m.accepting;
        this.jobNames = new Set(m.jobs);
        this.#host.status(this);
        this.#host.room(true);
        return;
      default: {
        const err = new ProtocolError(`unexpected message '${m.t}' from a node`);
        this.#host.protocolError(this, err);
        this.connection.close(err);
      }
    }
  }

  /** The link ended: what is queued for it is dropped (the jobs it held are taken back). */
  close(): void {
    this.closed = true;
    this.#acks = [];
    this.#jobs.flush(() => {});
  }

  info(): NodeInfo {
    return {
      name: this.name,
      instance: this.instance,
      remote: this.connection.remote,
      capacity: this.capacity,
      window: this.window,
      credit: this.credit,
      durable: this.durable,
      draining: this.draining,
      paused: this.paused,
      held: this.held.size,
      jobs: [...this.jobNames],
      connectedAt: new Date(this.connectedAt),
    };
  }

  #ack(key: string): void {
    if (this.#acks.length === 0 && this.#jobs.size === 0) this.connection.requestFlush();
    this.#acks.push(key);
  }

  readonly #sendFrame = (frame: Buffer): void => this.connection.sendFrame(frame);

  /** Right before the connection writes: this turn's jobs and acknowledgements join the write. */
  readonly #flushBatches = (): void => {
    this.#jobs.flush(this.#sendFrame);
    if (this.#acks.length > 0) {
      const keys = this.#acks;
      this.#acks = [];
      // Keys of feedbacks that passed validation on the way in: framed without a second pass.
      const max = this.maxFrameSize;
      for (const part of idParts(keys, max)) {
        this.connection.sendFrame(encodeOwnFrame({ t: 'fback', keys: part }, max));
      }
    }
  };
}
