import { ClosedError, JobReactorError, type ErrorInfo } from '../../errors.ts';
import type { Logger } from '../../model/logger.ts';
import type { Feedback, JobSpec } from '../../model/job.ts';
import { encodeFeedbackItem } from '../../protocol/batch-frames.ts';
import type { HelloMessage, Message, QueryMessage } from '../../protocol/messages.ts';
import { reconnectDelay } from '../../transport/backoff.ts';
import type { Connection } from '../../transport/connection.ts';
import { initiateHandshake } from '../../transport/handshake.ts';
import { connectTcp } from '../../transport/tcp-endpoints.ts';
import type { ClientTls } from '../../transport/tls-options.ts';
import { LinkBatch } from './link-batch.ts';

/**
 * What a link hands to its node: the link's own events, and each kind of message the
 * distributor sends, decoded and checked. Everything else of the conversation (credits,
 * batching, run notes, the message switch itself) the link keeps.
 */
export interface LinkHandlers {
  onReady(link: DistributorLink): void;
  onDown(link: DistributorLink, reason: Error | undefined): void;
  /** Fatal for this link (wrong secret, version): it keeps retrying, slower, and reports it. */
  onRejected(link: DistributorLink, error: ErrorInfo): void;
  /** The link's backlog drained after a burst: what waits for `sendRoom` may go on. */
  onRoom(link: DistributorLink): void;
  /** Jobs for this node, each `distributor` filled in with the link's (it is not on the wire). */
  jobs(link: DistributorLink, specs: readonly JobSpec[]): void;
  /** The distributor has these feedbacks: they may leave the outbox. */
  acked(link: DistributorLink, keys: readonly string[]): void;
  /** The answer to a reconnect's reconcile: which of its jobs this node still holds. */
  owned(link: DistributorLink, ids: readonly string[]): void;
  /** The application cancels job `id`: answer `cancelled` with `req`. */
  cancel(link: DistributorLink, id: string, req: number): void;
  /** The names the distributor limits (a start waits for its permit). */
  limits(link: DistributorLink, names: readonly string[]): void;
  /** Permits: these jobs may start. */
  granted(link: DistributorLink, ids: readonly string[]): void;
  /** A lookup or listing of this node's jobs: answer it. */
  query(link: DistributorLink, query: QueryMessage): void;
}

export interface LinkOptions {
  host: string;
  port: number;
  secret: string | undefined;
  hello: () => Omit<HelloMessage, 't' | 'v' | 'nonce'>;
  connection: { maxFrameSize: number; heartbeatMs: number; tls: ClientTls | undefined };
  handshakeTimeoutMs: number;
  log: Logger;
}

/**
 * The node's side of one distributor, and the one owner of the conversation with it: dials,
 * handshakes, redials with backoff whenever the link drops (until stopped), switches on
 * what the distributor sends (handing each kind to its handler), and batches what the node
 * owes that distributor in each turn (see LinkBatch): accepted ids, credits, run notes and
 * feedbacks, written together right before the connection's write.
 * States: idle → connecting → ready → (backoff → connecting)… ; any → stopped.
 */
export class DistributorLink {
  #state: 'idle' | 'connecting' | 'ready' | 'backoff' | 'stopped' = 'idle';
  #conn: Connection | undefined;
  /** This connection's batch; a new connection starts a new one. */
  #batch: LinkBatch | undefined;
  /** Resolves once the starts noted so far are written to the socket (or the link is down). */
  #startsWritten: Promise<void> | undefined;
  #startsResolve: (() => void) | undefined;
  #attempt = 0;
  /** The last dial was refused (and logged as such): its retry line is not repeated at info. */
  #refusal = false;
  #timer: NodeJS.Timeout | undefined;
  #connections = 0;
  /** The distributor's id, learned in the handshake. */
  distributorId: string | undefined;
  /** Largest frame body sent on this connection: ours, or the distributor's when smaller. */
  #frameLimit: number;

  constructor(
    readonly options: LinkOptions,
    readonly handlers: LinkHandlers,
  ) {
    this.#frameLimit = options.connection.maxFrameSize;
  }

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** Connections that reached `ready` so far: more than 1 means this is a reconnect. */
  get connections(): number {
    return this.#connections;
  }

  /** How long nothing was heard from the distributor, ms (Infinity while not connected). */
  silentFor(): number {
    return this.#state === 'ready' && this.#conn
      ? this.#conn.silentFor()
      : Number.POSITIVE_INFINITY;
  }

  start(): void {
    if (this.#state !== 'idle') return;
    void this.#dial();
  }

  /**
   * Largest frame body this link sends (a list longer than one frame goes in parts): ours,
   * or the distributor's announced limit when that is smaller.
   */
  get maxFrameSize(): number {
    return this.#frameLimit;
  }

  /**
   * Bytes that may still be queued on the link in this turn (see Connection.sendRoom), less
   * the feedbacks batched so far; 0 while not connected. A sender that stops at 0 goes on
   * from `onRoom`.
   */
  sendRoom(): number {
    if (this.#state !== 'ready' || !this.#conn || this.#conn.closed) return 0;
    return this.#conn.sendRoom() - (this.#batch?.bytes ?? 0);
  }

  /** Sends a message after everything batched before it (the distributor sees them in order). */
  send(message: Message): boolean {
    if (this.#state !== 'ready' || !this.#conn || this.#conn.closed) return false;
    this.#batch?.flush(this.#conn);
    this.#conn.send(message);
    return true;
  }

  /** Job `id` is stored here (batched). */
  accepted(id: string): void {
    this.#batch?.accepted(id);
  }

  /** Job `id` is refused for `error` (batched: one message per reason per turn). */
  reject(id: string, error: ErrorInfo): void {
    this.#batch?.rejected(id, error);
  }

  /** `n` more instant jobs may be sent (batched; withheld while held back). */
  giveCredit(n = 1): void {
    this.#batch?.credit(n);
  }

  /** Withholds credits until `releaseCredits` (this connection only). */
  holdCredits(): void {
    this.#batch?.holdCredits();
  }

  releaseCredits(): void {
    this.#batch?.releaseCredits();
  }

  /** An attempt ended without a feedback: a retry waits (batched). */
  stopped(id: string, attempts: number): void {
    this.#batch?.stopped(id, attempts);
  }

  /**
   * An attempt of job `id` is about to start: the distributor counts a crash of this node
   * against a job only while it runs, so the start must be out before the job runs (a
   * poison job may take the process down at once). Starts join the turn's write with
   * everything else owed to this distributor (one write per turn, not one per start); the
   * caller runs the job once the returned promise resolves, right after that write. It
   * also resolves when the link goes down first (the caller then looks again: `ready`).
   */
  noteStart(id: string): Promise<void> {
    const batch = this.#batch;
    if (batch === undefined) return Promise.resolve();
    batch.started(id);
    return (this.#startsWritten ??= new Promise<void>((resolve) => {
      this.#startsResolve = resolve;
    }));
  }

  /** The noted starts are written (the write follows in the same call), or will never be. */
  #releaseStarts(): void {
    const resolve = this.#startsResolve;
    this.#startsWritten = undefined;
    this.#startsResolve = undefined;
    resolve?.();
  }

  /** Asks a start permit for job `id` of limited name `name` (batched). */
  askPermit(id: string, name: string): void {
    this.#batch?.permit(id, name);
  }

  /** The latest progress of running job `id` (coalesced, see LinkBatch.progress). */
  progress(id: string, value: unknown): void {
    this.#batch?.progress(id, value);
  }

  /**
   * Queues a feedback (batched). Throws what encoding throws (a feedback over the frame
   * limit, args that are not plain data): the caller sends something else instead.
   */
  sendFeedback(fb: Feedback): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    batch.feedback(encodeFeedbackItem(fb, this.#frameLimit));
  }

  /** Closes the link for good (a clean close: the distributor sees the node leave). */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    if (this.#timer) clearTimeout(this.#timer);
    this.#conn?.close();
  }

  async #dial(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'connecting';
    const { host, port } = this.options;
    let conn: Connection;
    try {
      conn = await connectTcp(host, port, this.options.connection);
    } catch (err) {
      // A TLS refusal (certificate, TLS on one side only) is a rejection, like a wrong secret.
      if (err instanceof JobReactorError && err.code !== 'JR_ERR_CONNECTION') this.#rejected(err);
      this.#retry(err instanceof Error ? err : undefined);
      return;
    }
    if (this.#isStopped()) return conn.close();
    this.#conn = conn;
    try {
      const challenge = await initiateHandshake(conn, {
        ...(this.options.secret !== undefined ? { secret: this.options.secret } : {}),
        hello: this.options.hello(),
        timeoutMs: this.options.handshakeTimeoutMs,
      });
      this.distributorId = challenge.distributor;
      const own = this.options.connection.maxFrameSize;
      this.#frameLimit = Math.min(own, challenge.maxFrame ?? own);
    } catch (err) {
      if (err instanceof JobReactorError && err.code !== 'JR_ERR_CONNECTION') this.#rejected(err);
      this.#retry(err instanceof Error ? err : undefined);
      return;
    }
    if (this.#isStopped() || conn.closed) {
      if (!this.#isStopped()) this.#retry(new ClosedError('closed during handshake'));
      return;
    }
    this.#state = 'ready';
    this.#attempt = 0;
    this.#connections++;
    const batch = new LinkBatch(this.#frameLimit, () => conn.requestFlush());
    this.#batch = batch;
    conn.setFlushHook(() => {
      batch.flush(conn);
      // Resolved here, run after: the connection writes before its callback returns.
      this.#releaseStarts();
    });
    conn.setDrainHook(() => this.handlers.onRoom(this));
    conn.onMessage((m) => this.#handle(m));
    conn.onClose((reason) => {
      if (this.#conn !== conn) return;
      this.#conn = undefined;
      this.#batch = undefined;
      batch.close();
      this.#releaseStarts();
      const wasReady = this.#state === 'ready';
      if (this.#state !== 'stopped') this.#state = 'backoff';
      if (wasReady) this.handlers.onDown(this, reason);
      this.#retry(reason);
    });
    this.options.log.info(
      { distributor: this.distributorId, address: this.address },
      'connected to distributor',
    );
    this.handlers.onReady(this);
  }

  /** The conversation: every message the distributor sends after the handshake. */
  #handle(m: Message): void {
    const h = this.handlers;
    switch (m.t) {
      case 'jobs': {
        const distributor = this.distributorId ?? '';
        for (const spec of m.jobs) spec.distributor = distributor;
        return h.jobs(this, m.jobs);
      }
      case 'fback':
        return h.acked(this, m.keys);
      case 'owned':
        return h.owned(this, m.ids);
      case 'cancel':
        return h.cancel(this, m.id, m.req);
      case 'limits':
        return h.limits(this, m.names);
      case 'granted':
        return h.granted(this, m.ids);
      case 'query':
        return h.query(this, m);
      default:
        this.options.log.warn(
          { type: m.t, address: this.address },
          'unexpected message from distributor',
        );
    }
  }

  #rejected(err: JobReactorError): void {
    this.handlers.onRejected(this, err.toInfo());
    // Refused (wrong secret, other version, TLS): retrying fast would only flood its log.
    this.#attempt = Math.max(this.#attempt, 6);
    this.#refusal = true;
  }

  // A method, not an inline comparison: the state changes across awaits.
  #isStopped(): boolean {
    return this.#state === 'stopped';
  }

  #retry(reason: Error | undefined): void {
    if (this.#state === 'stopped') return;
    this.#state = 'backoff';
    const delayMs = reconnectDelay(this.#attempt++);
    // Info, with the error: a wrong port or a refused name must show at the default level
    // (repeats of a long outage fold into one line per window: see foldRepeats). A refusal
    // was logged at error already, with its reason: its retry is only a debug line.
    const refused = this.#refusal;
    this.#refusal = false;
    const why = reason?.message ?? `distributor ${this.address} closed the connection`;
    this.options.log[refused ? 'debug' : 'info'](
      { address: this.address, delayMs },
      `${why}; retrying`,
    );
    this.#timer = setTimeout(() => void this.#dial(), delayMs);
  }
}
