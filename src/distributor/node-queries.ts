import { ConnectionError, TimeoutError } from '../errors.ts';
import type { Clock, TimerHandle } from '../model/clock.ts';
import type { AnswerMessage, QueryMessage } from '../protocol/messages.ts';

/** A query without its envelope: `{}` asks for counts. */
export type QueryBody = Omit<QueryMessage, 't' | 'req'>;
import type { NodeSession } from './node-session.ts';

interface Waiting {
  session: NodeSession;
  resolve(answer: AnswerMessage): void;
  reject(err: Error): void;
  timer: TimerHandle;
  unwatch(): void;
}

/**
 * Questions to nodes (`getJob`, `counts`, `listJobs`, `retryJob`): a `query` with a request number, answered by
 * the node with an `answer` carrying the same number. Each settles once: with the answer,
 * TimeoutError after `timeoutMs`, or ConnectionError when the node leaves first.
 */
export class NodeQueries {
  readonly #clock: Clock;
  readonly #waiting = new Map<number, Waiting>();
  #nextReq = 1;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Asks `session` the question in `body`. */
  ask(session: NodeSession, body: QueryBody, timeoutMs: number): Promise<AnswerMessage> {
    return new Promise<AnswerMessage>((resolve, reject) => {
      const req = this.#nextReq++;
      const timer = this.#clock.setTimer(() => {
        this.#take(req)?.reject(
          new TimeoutError(`node ${session.name} did not answer a query in ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const unwatch = session.connection.onClose(() => {
        this.#take(req)?.reject(
          new ConnectionError(`node ${session.name} left before answering a query`),
        );
      });
      this.#waiting.set(req, { session, resolve, reject, timer, unwatch });
      session.send({ t: 'query', req, ...body });
    });
  }

  /** An answer came from `session` (numbers it was not asked under are ignored). */
  answered(session: NodeSession, answer: AnswerMessage): void {
    if (this.#waiting.get(answer.req)?.session !== session) return;
    this.#take(answer.req)!.resolve(answer);
  }

  #take(req: number): Waiting | undefined {
    const w = this.#waiting.get(req);
    if (!w) return undefined;
    this.#waiting.delete(req);
    this.#clock.clearTimer(w.timer);
    w.unwatch();
    return w;
  }
}
